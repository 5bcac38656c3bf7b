"""Project naming rules, in one place for the template's hooks, the checker and the JSON Schema.

Standard library only, and no imports from this package: cookiecutter loads this file by path
(local_extensions.py), before packflow-export is installed anywhere. Each `*_problem()` returns why a value
is unusable, in words that name the fix, or None when it is fine.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any, Optional

# The JSON Schema (packflow.schema.json) carries these same patterns; tests/test_naming.py compares them.
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
MAX_NAME_LENGTH = 100  # `.{name}-{version}.zip.sha256.<random>.partial` must fit a 255-byte file name
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
BACKEND_PATTERN = re.compile(rf"{IDENTIFIER}(?:\.{IDENTIFIER})*:{IDENTIFIER}")
PYTHON_VERSION_PATTERN = re.compile(r"[0-9]+\.[0-9]+(?:\.[0-9]+)?")
EMAIL_PATTERN = re.compile(r"[^@\s,<>\"]+@[^@\s,<>\"]+\.[^@\s,<>\".]+")
LOADERS = ("local", "module")
MAX_VERSION_LENGTH = 64

# PEP 440, Appendix B: what a version may look like before normalisation.
_PEP440 = re.compile(r"""
    v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
""", re.VERBOSE | re.IGNORECASE)
# A version already in PEP 440 normal form (what packaging's str(Version(v)) gives back unchanged).
_N = r"(?:0|[1-9][0-9]*)"
VERSION_NORMAL_PATTERN = re.compile(
    rf"(?:[1-9][0-9]*!)?{_N}(?:\.{_N})*(?:(?:a|b|rc){_N})?(?:\.post{_N})?(?:\.dev{_N})?(?:\+[a-z0-9]+(?:\.[a-z0-9]+)*)?")
_PRE_LABELS = {"a": "a", "alpha": "a", "b": "b", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc", "rc": "rc"}
_PRE_ORDER = {"a": 0, "b": 1, "rc": 2}

# Modules a backend must not be named after: Python would import the backend instead of them, or them instead.
SHADOWED_MODULES = frozenset({"packflow", "numpy", "pydantic", "yaml", "pytest"})
PROJECT_MODULES = frozenset({"validate", "test_inference", "conftest", "setup"})

COMPATIBILITY_FILE = Path(__file__).with_name("compatibility.json")


def text_problem(value: str) -> Optional[str]:
    """Why a one-line answer is unusable (empty, several lines, control characters, undecodable bytes), or None."""
    if not value.strip():
        return "must not be empty"
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            return "holds bytes that are not valid text in this terminal's encoding; type it again as UTF-8 text"
        if (category == "Cc" and char != "\t") or char in "\u2028\u2029":
            return f"contains the control character {char!r}; use a single line of printable text"
    return None


def name_problem(name: str) -> Optional[str]:
    if not NAME_PATTERN.fullmatch(name):
        return f"{name!r} must start with a letter and hold only letters, digits, '-' and '_', e.g. 'my-analytic'"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long; at most {MAX_NAME_LENGTH} fit in the archive's file name"
    return None


def normalize_version(text: str) -> Optional[str]:
    """The PEP 440 normal form of a version (as packaging's str(Version(text))), or None if it is not PEP 440."""
    match = _PEP440.fullmatch(text.strip())
    if not match:
        return None
    parts = []
    if match["epoch"] and int(match["epoch"]):
        parts.append(f"{int(match['epoch'])}!")
    parts.append(".".join(str(int(piece)) for piece in match["release"].split(".")))
    if match["pre"]:
        parts.append(f"{_PRE_LABELS[match['pre_l'].lower()]}{int(match['pre_n'] or 0)}")
    if match["post"]:
        parts.append(f".post{int(match['post_n1'] or match['post_n2'] or 0)}")
    if match["dev"]:
        parts.append(f".dev{int(match['dev_n'] or 0)}")
    if match["local"]:
        pieces = re.split(r"[-_.]", match["local"])
        parts.append("+" + ".".join(str(int(p)) if p.isdigit() else p.lower() for p in pieces))
    return "".join(parts)


VersionKey = tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def version_key(text: str) -> VersionKey:
    """A sort key with PEP 440 ordering (local versions ignored); ValueError when the text is not PEP 440."""
    match = _PEP440.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a PEP 440 version")
    release = [int(piece) for piece in match["release"].split(".")]
    while release and release[-1] == 0:
        release.pop()
    post = (1, int(match["post_n1"] or match["post_n2"] or 0)) if match["post"] else (0,)
    dev = (0, int(match["dev_n"] or 0)) if match["dev"] else (1,)
    pre: tuple[int, ...]
    if match["pre"]:
        pre = (1, _PRE_ORDER[_PRE_LABELS[match["pre_l"].lower()]], int(match["pre_n"] or 0))
    elif not match["post"] and match["dev"]:
        pre = (0,)  # 1.0.dev0 sorts before 1.0a0
    else:
        pre = (2,)
    return int(match["epoch"] or 0), tuple(release), pre, post, dev


def version_problem(version: str) -> Optional[str]:
    """Why a version cannot name a release: not PEP 440, not in normal form, or too long for a file name."""
    normal = normalize_version(version)
    if normal is None:
        return f"{version!r} is not a PEP 440 version; use e.g. '0.1.0' or '1.0.0rc1'"
    if normal != version:
        return f"{version!r} is not in PEP 440 normal form; write it as {normal!r}"
    if len(version) > MAX_VERSION_LENGTH:
        return f"{version!r} is longer than {MAX_VERSION_LENGTH} characters"
    return None


def python_version_problem(value: str) -> Optional[str]:
    if not PYTHON_VERSION_PATTERN.fullmatch(value):
        return f"{value!r} must be X.Y or X.Y.Z, e.g. '3.11' or '3.11.7'"
    return None


def split_maintainers(text: str) -> list[str]:
    """The comma-separated maintainers answer as a list of addresses."""
    return [part.strip() for part in str(text).split(",") if part.strip()]


def email_problem(address: str) -> Optional[str]:
    if not EMAIL_PATTERN.fullmatch(address.strip()):
        return f"{address!r} does not look like an email address, e.g. 'maintainer@example.org'"
    return None


def backend_problem(value: str) -> Optional[str]:
    """Why an inference_backend value is not `dotted.module:Class` naming importable identifiers."""
    module, separator, cls = value.partition(":")
    if not separator or ":" in cls:
        return f"{value!r} must be 'module:Class' with exactly one ':', e.g. 'inference:Backend'"
    for name in module.split(".") + [cls]:
        if not re.fullmatch(IDENTIFIER, name) or keyword.iskeyword(name):
            return (f"{name!r} in {value!r} is not a Python identifier; use letters, digits and '_', "
                    f"e.g. 'models.text:Scorer'")
    return None


def backend_shadow_problem(module: str) -> Optional[str]:
    """Why a backend module name would collide with an installed module or a file the template writes."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in SHADOWED_MODULES:
        return f"module {top!r} would shadow an installed module; choose another name, e.g. 'inference'"
    if module in PROJECT_MODULES:
        return f"module {module!r} collides with a file the project already has; choose another name, e.g. 'inference'"
    return None


def loader_problem(loader: str) -> Optional[str]:
    if loader not in LOADERS:
        return f"{loader!r} must be one of: {', '.join(LOADERS)}"
    return None


def backend_paths(module: str, loader: str) -> list[str]:
    """Where a loader finds the module, as POSIX paths in the project: local reads a/b.py; module a/b/__init__.py
    too."""
    as_file = PurePosixPath(*module.split(".")).with_suffix(".py").as_posix()
    if loader == "local":
        return [as_file]
    return [as_file, PurePosixPath(*module.split("."), "__init__.py").as_posix()]


def archive_stem(name: str) -> str:
    """The project name as archives spell it (PEP 625): '-' becomes '_', so the last '-' separates the version."""
    return name.replace("-", "_")


def archive_name(name: str, version: str) -> str:
    return f"{archive_stem(name)}-{version}.zip"


def supported_packflow() -> dict[str, Any]:
    """The Packflow versions this release is tested with: {"minimum": ..., "below": ..., "tested": [...]}."""
    return json.loads(COMPATIBILITY_FILE.read_text(encoding="utf-8"))["packflow"]


def packflow_version_problem(version: str) -> Optional[str]:
    """Why a Packflow version is outside the range this template and checker are tested with."""
    try:
        key = version_key(version)
    except ValueError:
        return f"{version!r} is not a version; use e.g. '0.4.1'"
    supported = supported_packflow()
    if not version_key(supported["minimum"]) <= key < version_key(supported["below"]):
        return (f"{version} is outside the Packflow versions this template is tested with "
                f"(>={supported['minimum']}, <{supported['below']}); its scaffold and loaders differ. "
                f"Use e.g. {supported['tested'][-1]}")
    return None


_ESCAPES = {"\0": "\\0", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r",
            "\x1b": "\\e", "\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P", '"': '\\"', "\\": "\\\\"}


def yaml_quote(value: str) -> str:
    """A YAML double-quoted scalar that reads back exactly and keeps printable text (emoji included) readable."""
    out = ['"']
    for char in str(value):
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code <= 0xDFFF or code in (0xFEFF, 0xFFFE, 0xFFFF):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


# File names in an archive: what another system would show falsely or fold into one ----------------------------

INVISIBLE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")  # controls, format (bidi, zero-width), line/paragraph separators


def invisible_character(name: str) -> Optional[str]:
    """The first character of a name that is invisible or reorders the text shown (U+202E, U+200B, U+0085...), as
    `U+XXXX (NAME)`, or None."""
    for char in name:
        if unicodedata.category(char) in INVISIBLE_CATEGORIES:
            return f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character')})"
    return None


def _simple_upper(char: str) -> str:
    """A character's simple (one-to-one) upper case, as case-insensitive file systems fold names: 'ß' stays 'ß'."""
    upper = char.upper()
    return upper if len(upper) == 1 else char


def twin_key(name: str) -> str:
    """What a case-insensitive, normalizing file system (Windows, macOS) makes of a name: NFC, then each character
    upper-cased one to one. Two names with the same key become one file there."""
    return "".join(_simple_upper(char) for char in unicodedata.normalize("NFC", name))


def twin_kind(first: str, second: str) -> str:
    """How two names with the same twin_key differ, in words."""
    if unicodedata.normalize("NFC", first) == unicodedata.normalize("NFC", second):
        return "in Unicode normalization (NFC/NFD)"
    if unicodedata.is_normalized("NFC", first) and unicodedata.is_normalized("NFC", second):
        return "in case"
    return "in case and Unicode normalization (NFC/NFD)"
