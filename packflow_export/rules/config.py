"""packflow.yaml: well formed, complete, and of the types Packflow accepts (PF2xx).

The model parses it (model/config.py), keeping the line of every key and the raw text of every scalar, so that
each finding names the line and the exact fix. The name/version/email/backend rules themselves live in
naming.py, shared with the template's hooks and the JSON Schema.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator, Optional

from .. import naming
from ..findings import Finding, Policy, define
from ..model.config import CONFIG, ProjectConfig
from ..model.context import Context
from ..model.problems import ProblemKind
from .check import Check
from .files import UNREADABLE, reported

KNOWN_KEYS = ("name", "version", "description", "maintainers", "inference_backend", "loader", "python_version",
              "env", "backend_config", "extra")
TEXT_KEYS = ("name", "version", "description", "inference_backend", "loader", "python_version")
MAPPING_KEYS = ("env", "backend_config", "extra")
EXTRA_TEXT_KEYS = ("license", "organization", "project_name")  # the template's own fields, typed in the schema
EXAMPLES = {"name": "my-analytic", "version": "1.0.0", "description": "What the analytic does.",
            "inference_backend": "inference:Backend", "loader": "local", "python_version": "3.11"}

INVALID_YAML = define(
    "PF201", "error", "packflow.yaml is not valid YAML",
    why="Packflow cannot read the project's configuration, so nothing can load the backend.",
    fix="Fix the syntax at the reported line and column (indent with spaces, not tabs).")
NOT_A_MAPPING = define(
    "PF202", "error", "packflow.yaml is not a mapping of keys to values",
    why="Packflow reads packflow.yaml as `key: value` fields.",
    fix="Write packflow.yaml as `key: value` lines (see the template).")
BAD_NAME = define(
    "PF203", "error", "name is missing or not a valid project name",
    why="The name names the archive and identifies the project in the pipelines that import it.",
    fix="Use letters, digits, '-' and '_', starting with a letter (at most 100 characters).")
BAD_VERSION = define(
    "PF204", "error", "version is missing, not PEP 440, or unsafe in a file name",
    why="The version names the archive and orders releases; Packflow would silently use 0.1.0 when it is missing.",
    fix='Use a PEP 440 version in normal form, quoted: version: "1.0.0".')
EMPTY_DESCRIPTION = define(
    "PF205", "warning", "description is empty",
    why="Pipelines and catalogues show the description to people choosing an analytic.",
    fix="Describe in one sentence what the analytic does.")
BAD_MAINTAINER = define(
    "PF206", "warning", "maintainers is empty or holds something that is not an email address",
    why="Pipelines notify maintainers of failures and vulnerable dependencies by email.",
    fix="List the maintainers' email addresses.")
MAINTAINERS_NOT_LIST = define(
    "PF207", "error", "maintainers is not a list of strings",
    why="Packflow's configuration model refuses anything but a list of strings.",
    fix='Write maintainers as a YAML list: `maintainers: ["a@example.org"]`.')
BAD_BACKEND = define(
    "PF208", "error", "inference_backend is not `dotted.module:Class`",
    why="Packflow imports the module and takes the class by these names.",
    fix="Name the backend as module:Class, e.g. inference:Backend.")
BAD_LOADER = define(
    "PF209", "error", "loader is not `local` or `module`",
    why="Packflow knows only these two loaders.",
    fix="Set loader: local (a .py file in the project) or loader: module (an importable module).")
BAD_PYTHON_VERSION = define(
    "PF210", "error", "python_version is not X.Y or X.Y.Z",
    why="Runtimes choose the interpreter from it.",
    fix='Quote it: python_version: "3.11".')
PYTHON_VERSION_DIFFERS = define(
    "PF211", "warning", "python_version's minor version differs from the running interpreter",
    why="The checks and tests ran on another Python than the one the project declares.",
    fix="Test with the Python the project declares, or update python_version.")
UNKNOWN_KEY = define(
    "PF212", "error", "packflow.yaml has a top-level key Packflow does not accept",
    why="Packflow 0.4 refuses to load a packflow.yaml with a key it does not know.",
    fix="Fix the spelling, or move custom fields under `extra:`.")
WRONG_TYPE = define(
    "PF213", "error", "a value has the wrong YAML type (a number, boolean or null where text is needed)",
    why="YAML reads 1.0, 3.10, yes and an empty value as a number, a boolean or null; Packflow needs text.",
    fix="Quote the value so YAML reads it as text.")
REQUIRED_FIELD = define(
    "PF214", "error", "a field the policy requires is missing or empty",
    why="Your organisation's policy (policy.yaml) requires it of every release.",
    fix="Add the field under `extra:` in packflow.yaml.")
LICENSE_NOT_ALLOWED = define(
    "PF215", "error", "the license is not one the policy allows",
    why="Your organisation's policy (policy.yaml) lists the licenses a release may carry.",
    fix="Use one of the policy's allowed_licenses in extra.license.")
NOT_A_SECTION = define(
    "PF216", "error", "env, backend_config or extra is not a mapping",
    why="Packflow reads these sections as `key: value` fields.",
    fix="Write the section as `key: value` lines under it.")
PYTHON_VERSION_MISSING = define(
    "PF217", "warning", "python_version is missing",
    why="Packflow then assumes whichever Python runs it, which may not be the one the backend was tested with.",
    fix='State it: python_version: "3.11".')
DUPLICATE_KEY = define(
    "PF218", "error", "a key is given twice in packflow.yaml",
    why="YAML keeps only the last value, silently: the archive would be named and loaded from a value you may not "
        "mean.",
    fix="Keep one line per key.")


def type_name(value: Any) -> str:
    """How YAML read a value, in words a user recognises."""
    if value is None:
        return "null (empty)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def type_trap(config: ProjectConfig, key: str, value: Any, example: str) -> Finding:
    """The exact fix for a value YAML read as a non-string."""
    raw = config.raw.get(key)
    if value is None:
        message = f"{key} is empty: YAML reads it as null, and Packflow needs text"
        hint = f'Give it a quoted value, e.g. {key}: "{example}".'
    else:
        shown = raw if raw not in (None, "") else str(value)
        message = f"{key}: {shown} is read by YAML as {type_name(value)}, not as the text {shown!r}"
        hint = f'Quote it: {key}: "{shown}".'
    return WRONG_TYPE(message, CONFIG, config.line_of(key), hint)


def did_you_mean(key: str) -> Optional[str]:
    """The known key a misspelt one most likely meant."""
    import difflib

    folded = key.lower().replace("-", "_").replace(" ", "_")
    for known in KNOWN_KEYS:
        if folded in (known, known.rstrip("s"), known + "s"):
            return known
    close = difflib.get_close_matches(folded, KNOWN_KEYS, n=1, cutoff=0.75)
    return close[0] if close else None


def check_config(config: ProjectConfig, policy: Policy) -> Iterator[Finding]:
    """packflow.yaml: fields present, well formed and of the types upstream Packflow accepts."""
    data = config.data
    if not isinstance(data, dict):
        yield NOT_A_MAPPING(f"{CONFIG} holds {type_name(data)}, not a mapping of keys to values", CONFIG, 1)
        return
    yield from check_keys(config, data)
    text = {}
    for key in TEXT_KEYS:
        if key in data:
            if isinstance(data[key], str):
                text[key] = data[key]
            else:
                yield type_trap(config, key, data[key], EXAMPLES[key])
    yield from check_name(data, text, config.line_of("name"))
    yield from check_version(data, text, config.line_of("version"))
    yield from check_description(data, text, config.line_of("description"))
    yield from check_maintainers(config, data)
    yield from check_backend_fields(data, text, config)
    yield from check_python_version(data, text, config.line_of("python_version"))
    yield from check_sections(config, data)
    yield from check_policy_fields(config, policy)


def check_keys(config: ProjectConfig, data: dict[Any, Any]) -> Iterator[Finding]:
    """Top-level keys Packflow refuses, each with the known key it most likely meant."""
    for key in data:
        if key not in KNOWN_KEYS:
            guess = did_you_mean(str(key))
            message = f"unknown key {key!r}: Packflow refuses to load a packflow.yaml with it"
            yield UNKNOWN_KEY(message + (f"; did you mean {guess!r}?" if guess else ""), CONFIG,
                              config.line_of(str(key)), f"Did you mean {guess!r}?" if guess else None)


def check_name(data: dict[Any, Any], text: dict[str, str], line: Optional[int]) -> Iterator[Finding]:
    if "name" not in data:
        yield BAD_NAME("name is missing", CONFIG, None, 'Add name: "my-analytic".')
    elif "name" in text and naming.name_problem(text["name"]):
        yield BAD_NAME(f"name {naming.name_problem(text['name'])}", CONFIG, line)


def check_version(data: dict[Any, Any], text: dict[str, str], line: Optional[int]) -> Iterator[Finding]:
    if "version" not in data:
        yield BAD_VERSION("version is missing (Packflow would silently use 0.1.0)", CONFIG, None,
                          'Add version: "0.1.0".')
    elif "version" in text:
        problem = naming.version_problem(text["version"])
        if problem:
            normal = naming.normalize_version(text["version"])
            hint = f'Write it as version: "{normal}".' if normal else 'Use e.g. version: "1.0.0".'
            yield BAD_VERSION(f"version {problem}", CONFIG, line, hint)


def check_description(data: dict[Any, Any], text: dict[str, str], line: Optional[int]) -> Iterator[Finding]:
    if "description" not in data:
        yield EMPTY_DESCRIPTION("description is missing", CONFIG, None)
    elif text.get("description", "x").strip() == "":
        yield EMPTY_DESCRIPTION("description is empty", CONFIG, line)


def check_maintainers(config: ProjectConfig, data: dict[Any, Any]) -> Iterator[Finding]:
    line = config.line_of("maintainers")
    if "maintainers" not in data:
        yield BAD_MAINTAINER("maintainers is missing", CONFIG, None, 'Add maintainers: ["you@example.org"].')
        return
    value = data["maintainers"]
    if value is None:
        yield type_trap(config, "maintainers", value, "you@example.org")
        return
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        shown = type_name(value) if not isinstance(value, list) else "a list with non-text items"
        yield MAINTAINERS_NOT_LIST(f"maintainers holds {shown}, not a list of email addresses", CONFIG, line)
        return
    if not value:
        yield BAD_MAINTAINER("maintainers is empty", CONFIG, line)
    for item in value:
        if naming.email_problem(item):
            yield BAD_MAINTAINER(f"maintainer {naming.email_problem(item)}", CONFIG, line)


def check_backend_fields(data: dict[Any, Any], text: dict[str, str], config: ProjectConfig) -> Iterator[Finding]:
    if "inference_backend" not in data:
        yield BAD_BACKEND("inference_backend is missing (Packflow would guess inference:Backend)", CONFIG, None,
                          'State it: inference_backend: "inference:Backend".')
    elif "inference_backend" in text and naming.backend_problem(text["inference_backend"]):
        yield BAD_BACKEND(f"inference_backend {text['inference_backend']!r} is not `dotted.module:Class`", CONFIG,
                          config.line_of("inference_backend"))
    if "loader" in text and naming.loader_problem(text["loader"]):
        yield BAD_LOADER(f"loader {naming.loader_problem(text['loader'])}", CONFIG, config.line_of("loader"))


def check_python_version(data: dict[Any, Any], text: dict[str, str], line: Optional[int]) -> Iterator[Finding]:
    running = "{}.{}".format(*sys.version_info[:2])
    if "python_version" not in data:
        yield PYTHON_VERSION_MISSING("python_version is missing; Packflow would assume whichever Python runs it",
                                     CONFIG, None, f'State it: python_version: "{running}".')
    elif "python_version" in text:
        value = text["python_version"]
        if naming.python_version_problem(value):
            yield BAD_PYTHON_VERSION(f"python_version {naming.python_version_problem(value)}", CONFIG, line)
        elif tuple(map(int, value.split(".")[:2])) != sys.version_info[:2]:
            yield PYTHON_VERSION_DIFFERS(f"python_version {value} differs from the running Python {running}", CONFIG,
                                         line)


def check_sections(config: ProjectConfig, data: dict[Any, Any]) -> Iterator[Finding]:
    """env, backend_config and extra are mappings; env values and the template's extra fields are text."""
    for key in MAPPING_KEYS:
        if key in data and not isinstance(data[key], dict):
            yield NOT_A_SECTION(f"{key} holds {type_name(data[key])}, not a mapping", CONFIG, config.line_of(key))
    env = data.get("env")
    if isinstance(env, dict):
        for name, value in env.items():
            if not isinstance(value, str):
                yield WRONG_TYPE(f"env: {name} is read by YAML as {type_name(value)}; Packflow needs text",
                                 CONFIG, config.line_of("env", str(name)), f'Quote it: {name}: "{value}".')
    for name in EXTRA_TEXT_KEYS:
        value = config.extra.get(name, "")
        if not isinstance(value, str):
            yield WRONG_TYPE(f"extra: {name} is read by YAML as {type_name(value)}; it must be text", CONFIG,
                             config.line_of("extra", name), f'Quote it: {name}: "{value}".')


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value) or (
        isinstance(value, str) and not value.strip())


def check_policy_fields(config: ProjectConfig, policy: Policy) -> Iterator[Finding]:
    data, extra = config.fields, config.extra
    for name in policy.required_fields:
        if _empty(data.get(name, extra.get(name))):
            yield REQUIRED_FIELD(f"the policy requires {name!r}, which is missing or empty", CONFIG,
                                 config.line_of("extra", name) if name in extra else config.line_of(name),
                                 f'Add it under extra: in packflow.yaml, e.g. `  {name}: "..."`.')
    if policy.allowed_licenses:
        license_id = extra.get("license")
        if license_id not in policy.allowed_licenses:
            shown = f"{license_id!r}" if license_id is not None else "none"
            yield LICENSE_NOT_ALLOWED(f"license {shown} is not allowed by the policy (allowed: "
                                      f"{', '.join(policy.allowed_licenses)})", CONFIG,
                                      config.line_of("extra", "license"))


PARSE_RULES = {ProblemKind.INVALID_YAML: INVALID_YAML, ProblemKind.DUPLICATE_KEY: DUPLICATE_KEY}


def config_findings(config: ProjectConfig, policy: Policy) -> list[Finding]:
    """What parsing packflow.yaml found wrong; only once it parses cleanly, every field rule."""
    if config.problems:
        return [reported(problem, PARSE_RULES) for problem in config.problems]
    return list(check_config(config, policy))


def check(ctx: Context) -> list[Finding]:
    return config_findings(ctx.config, ctx.policy)


RULES = (INVALID_YAML, NOT_A_MAPPING, BAD_NAME, BAD_VERSION, EMPTY_DESCRIPTION, BAD_MAINTAINER, MAINTAINERS_NOT_LIST,
         BAD_BACKEND, BAD_LOADER, BAD_PYTHON_VERSION, PYTHON_VERSION_DIFFERS, UNKNOWN_KEY, WRONG_TYPE, REQUIRED_FIELD,
         LICENSE_NOT_ALLOWED, NOT_A_SECTION, PYTHON_VERSION_MISSING, DUPLICATE_KEY)
CHECKS = (
    Check("config", check, raises=RULES + (UNREADABLE,)),
)
