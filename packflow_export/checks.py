"""Readiness checks: static analysis of a Packflow project that never imports or runs its code."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, NamedTuple, Optional

from .config import CONFIG_NAME, Policy, ProjectConfig, load_project_config, read_text
from .findings import Finding, finding

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
BACKEND_PATTERN = re.compile(rf"({IDENTIFIER}(?:\.{IDENTIFIER})*):({IDENTIFIER})")
PYTHON_VERSION_PATTERN = re.compile(r"([0-9]+)\.([0-9]+)(?:\.[0-9]+)?")
EMAIL_PATTERN = re.compile(r"[^@\s,<>\"]+@[^@\s,<>\"]+\.[^@\s,<>\".]+")
FILE_NAME_SAFE = re.compile(r"[A-Za-z0-9._+!-]+")
KNOWN_KEYS = ("name", "version", "description", "maintainers", "inference_backend", "loader",
              "python_version", "env", "backend_config", "extra")
TEXT_KEYS = ("name", "version", "description", "inference_backend", "loader", "python_version")
MAPPING_KEYS = ("env", "backend_config", "extra")
LOADERS = ("local", "module")
DOCUMENTS = ("MODEL_CARD.md", "README.md", "LICENSE.txt")
REQUIREMENTS_NAME = "requirements.txt"
MAX_DOC_BYTES = 10 * 1024 * 1024
MAX_SOURCE_BYTES = 5 * 1024 * 1024
MAX_PLACEHOLDERS_PER_FILE = 25

# Placeholders: the template's `[TODO: ...]`, and upstream `packflow create`'s markers.
TODO_PLACEHOLDER = re.compile(r"\[TODO:[^\]\n]*\]")
UPSTREAM_PLACEHOLDERS = {
    "MODEL_CARD.md": re.compile(r"\{[A-Za-z][^{}\n]{0,200}\}|^\s*(?:-\s*)?(?:\*\*[^*]+:\*\*\s*)?\.\.\.\s*$"),
    "README.md": re.compile(r"^# Project Name\s*$|Brief description of the analytic"),
    "LICENSE.txt": re.compile(r"\[yyyy\]|\[name of copyright owner\]|<year>|<copyright holders?>"),
}
INLINE_CODE = re.compile(r"`[^`\n]*`")

# execute_fingerprint() of the example execute() in this template and in upstream `packflow create`
# (tests/test_checks.py pins the first to the template, so the two cannot drift apart).
TEMPLATE_EXECUTE_FINGERPRINTS = frozenset({
    "b3606186f7abd67a81d4da033227afc2a20a3af81df1e9a298c7f6f0ed911086",  # this template
    "089e1687956b1bf7258331e78a3b8f6a60aeddd3b589b700766b5a93e42c4218",  # packflow 0.4.1 `packflow create`
})


class Report:
    """The findings over one project and whether they block a release."""

    def __init__(self, project: Path, strict: bool = False, config_data: Optional[dict] = None):
        self.project, self.strict = project, strict
        self.config_data = config_data or {}
        self.findings: list = []

    def add(self, findings: Iterable[Finding], policy) -> None:
        """Record findings at the severity the policy gives their rule; `off` drops them."""
        for item in findings:
            level = policy.severity.get(item.code, item.severity)
            if level != "off":
                item.severity = level
                self.findings.append(item)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0 and not (self.strict and self.count("warning"))

    def as_dict(self) -> dict:
        return {"project": str(self.project), "ok": self.ok, "errors": self.count("error"),
                "warnings": self.count("warning"), "findings": [f.as_dict() for f in self.findings]}


def type_name(value) -> str:
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


def type_trap(config: ProjectConfig, key: str, value, example: str) -> Finding:
    """The exact fix for a value YAML read as a non-string."""
    raw = config.raw.get(key)
    if value is None:
        message = f"{key} is empty: YAML reads it as null, and Packflow needs text"
        hint = f'Give it a quoted value, e.g. {key}: "{example}".'
    else:
        shown = raw if raw not in (None, "") else str(value)
        message = f"{key}: {shown} is read by YAML as {type_name(value)}, not as the text {shown!r}"
        hint = f'Quote it: {key}: "{shown}".'
    return finding("PF213", message, CONFIG_NAME, config.line_of(key), hint)


def extra_fields(data: dict) -> dict:
    """packflow.yaml's `extra` mapping, or an empty one when it is missing or malformed (PF216 reports that)."""
    extra = data.get("extra")
    return extra if isinstance(extra, dict) else {}


def did_you_mean(key: str) -> Optional[str]:
    """The known key a misspelt one most likely meant."""
    import difflib

    folded = key.lower().replace("-", "_").replace(" ", "_")
    for known in KNOWN_KEYS:
        if folded in (known, known.rstrip("s"), known + "s"):
            return known
    close = difflib.get_close_matches(folded, KNOWN_KEYS, n=1, cutoff=0.75)
    return close[0] if close else None


def check_config(config: ProjectConfig, policy: Policy) -> Iterable[Finding]:
    """packflow.yaml: fields present, well formed and of the types upstream Packflow accepts."""
    data = config.data
    if not isinstance(data, dict):
        yield finding("PF202", f"{CONFIG_NAME} holds {type_name(data)}, not a mapping of keys to values", CONFIG_NAME, 1)
        return
    line = config.line_of
    for key in data:
        if key not in KNOWN_KEYS:
            guess = did_you_mean(str(key))
            message = f"unknown key {key!r}: Packflow refuses to load a packflow.yaml with it"
            hint = f"Did you mean {guess!r}?" if guess else "Move custom fields under `extra:`."
            yield finding("PF212", message + (f"; did you mean {guess!r}?" if guess else ""), CONFIG_NAME, line(str(key)), hint)
    examples = {"name": "my-analytic", "version": "1.0.0", "description": "What the analytic does.",
                "inference_backend": "inference:Backend", "loader": "local", "python_version": "3.11"}
    text = {}
    for key in TEXT_KEYS:
        if key not in data:
            continue
        if isinstance(data[key], str):
            text[key] = data[key]
        else:
            yield type_trap(config, key, data[key], examples[key])
    if "name" not in data:
        yield finding("PF203", "name is missing", CONFIG_NAME, None, 'Add name: "my-analytic".')
    elif "name" in text and not NAME_PATTERN.fullmatch(text["name"]):
        yield finding("PF203", f"name {text['name']!r} must start with a letter and hold only letters, digits, '-' and '_'", CONFIG_NAME, line("name"))
    yield from check_version(data, text, line("version"))
    if text.get("description", "x").strip() == "":
        yield finding("PF205", "description is empty", CONFIG_NAME, line("description"))
    elif "description" not in data:
        yield finding("PF205", "description is missing", CONFIG_NAME, None)
    yield from check_maintainers(config, data)
    if "inference_backend" not in data:
        yield finding("PF208", "inference_backend is missing (Packflow would guess inference:Backend)", CONFIG_NAME, None,
                      'State it: inference_backend: "inference:Backend".')
    elif "inference_backend" in text and not valid_backend(text["inference_backend"]):
        yield finding("PF208", f"inference_backend {text['inference_backend']!r} is not `dotted.module:Class`", CONFIG_NAME, line("inference_backend"))
    if "loader" in text and text["loader"] not in LOADERS:
        yield finding("PF209", f"loader {text['loader']!r} must be one of: {', '.join(LOADERS)}", CONFIG_NAME, line("loader"))
    yield from check_python_version(data, text, line("python_version"))
    for key in MAPPING_KEYS:
        if key in data and not isinstance(data[key], dict):
            yield finding("PF216", f"{key} holds {type_name(data[key])}, not a mapping", CONFIG_NAME, line(key))
    env = data.get("env")
    if isinstance(env, dict):
        for name, value in env.items():
            if not isinstance(value, str):
                yield finding("PF213", f"env: {name} is read by YAML as {type_name(value)}; Packflow needs text",
                              CONFIG_NAME, config.line_of("env", str(name)), f'Quote it: {name}: "{value}".')
    yield from check_policy_fields(config, data, policy)


def check_version(data: dict, text: dict, line: Optional[int]) -> Iterable[Finding]:
    from packaging.version import InvalidVersion, Version

    if "version" not in data:
        yield finding("PF204", "version is missing (Packflow would silently use 0.1.0)", CONFIG_NAME, None, 'Add version: "0.1.0".')
        return
    if "version" not in text:
        return
    version = text["version"]
    try:
        normal = str(Version(version))
    except InvalidVersion:
        yield finding("PF204", f"version {version!r} is not a PEP 440 version", CONFIG_NAME, line, 'Use e.g. version: "1.0.0".')
        return
    if not FILE_NAME_SAFE.fullmatch(version):
        yield finding("PF204", f"version {version!r} is not safe in a file name", CONFIG_NAME, line, f'Write it as version: "{normal}".')
    elif normal != version:
        yield finding("PF204", f"version {version!r} is not in PEP 440 normal form ({normal!r})", CONFIG_NAME, line, f'Write it as version: "{normal}".')


def check_maintainers(config: ProjectConfig, data: dict) -> Iterable[Finding]:
    line = config.line_of("maintainers")
    if "maintainers" not in data:
        yield finding("PF206", "maintainers is missing", CONFIG_NAME, None, 'Add maintainers: ["you@example.org"].')
        return
    value = data["maintainers"]
    if value is None:
        yield type_trap(config, "maintainers", value, "you@example.org")
        return
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        shown = type_name(value) if not isinstance(value, list) else "a list with non-text items"
        yield finding("PF207", f"maintainers holds {shown}, not a list of email addresses", CONFIG_NAME, line)
        return
    if not value:
        yield finding("PF206", "maintainers is empty", CONFIG_NAME, line)
    for item in value:
        if not EMAIL_PATTERN.fullmatch(item.strip()):
            yield finding("PF206", f"maintainer {item!r} does not look like an email address", CONFIG_NAME, line)


def check_python_version(data: dict, text: dict, line: Optional[int]) -> Iterable[Finding]:
    import sys

    if "python_version" not in data:
        yield finding("PF210", "python_version is missing", CONFIG_NAME, None, f'Add python_version: "{sys.version_info[0]}.{sys.version_info[1]}".')
        return
    if "python_version" not in text:
        return
    match = PYTHON_VERSION_PATTERN.fullmatch(text["python_version"])
    if not match:
        yield finding("PF210", f"python_version {text['python_version']!r} is not X.Y or X.Y.Z", CONFIG_NAME, line)
    elif (int(match[1]), int(match[2])) != sys.version_info[:2]:
        running = f"{sys.version_info[0]}.{sys.version_info[1]}"
        yield finding("PF211", f"python_version {text['python_version']} differs from the running Python {running}", CONFIG_NAME, line)


def check_policy_fields(config: ProjectConfig, data: dict, policy: Policy) -> Iterable[Finding]:
    extra = extra_fields(data)
    for name in policy.required_fields:
        value = data.get(name, extra.get(name))
        if value is None or (isinstance(value, (str, list, dict)) and not value) or (isinstance(value, str) and not value.strip()):
            yield finding("PF214", f"the policy requires {name!r}, which is missing or empty", CONFIG_NAME,
                          config.line_of("extra", name) if name in extra else config.line_of(name),
                          f'Add it under extra: in packflow.yaml, e.g. `  {name}: "..."`.')
    if policy.allowed_licenses:
        license_id = extra.get("license")
        if license_id not in policy.allowed_licenses:
            shown = f"{license_id!r}" if license_id is not None else "none"
            yield finding("PF215", f"license {shown} is not allowed by the policy (allowed: {', '.join(policy.allowed_licenses)})",
                          CONFIG_NAME, config.line_of("extra", "license"))


def valid_backend(value: str) -> bool:
    import keyword

    match = BACKEND_PATTERN.fullmatch(value)
    return bool(match) and not any(keyword.iskeyword(part) for part in re.split(r"[.:]", value))


def check_files(project: Path) -> Iterable[Finding]:
    if not (project / REQUIREMENTS_NAME).exists():
        yield finding("PF101", f"{REQUIREMENTS_NAME} is missing", REQUIREMENTS_NAME)
    for name in DOCUMENTS:
        path = project / name
        if not path.exists():
            yield finding("PF103", f"{name} is missing", name)


def markdown_lines(text: str, name: str):
    """Lines outside fenced code blocks, with inline code removed (placeholders there are examples)."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if name.endswith(".md") and line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            yield number, INLINE_CODE.sub("", line) if name.endswith(".md") else line


def check_documents(project: Path, data: dict, policy: Policy) -> Iterable[Finding]:
    """Docs present, with no placeholders left, and agreeing with packflow.yaml."""
    for name in DOCUMENTS:
        path = project / name
        if not path.exists():
            continue
        text, problem = read_text(path, name, MAX_DOC_BYTES)
        if problem:
            yield problem
            continue
        if not text.strip():
            yield finding("PF103", f"{name} is empty", name)
            continue
        yield from find_placeholders(text, name)
        if name == "MODEL_CARD.md":
            yield from check_model_card(text, data)
        if name == "LICENSE.txt":
            yield from check_license(text, data, policy)


def find_placeholders(text: str, name: str) -> Iterable[Finding]:
    upstream = UPSTREAM_PLACEHOLDERS.get(name)
    found = 0
    for number, line in markdown_lines(text, name):
        matches = TODO_PLACEHOLDER.findall(line)
        if not matches and upstream is not None:
            match = upstream.search(line)
            matches = [match.group(0).strip()] if match else []
        for placeholder in matches:
            found += 1
            if found <= MAX_PLACEHOLDERS_PER_FILE:
                shown = placeholder if len(placeholder) <= 80 else placeholder[:77] + "..."
                yield finding("PF301", f"placeholder left: {shown}", name, number)
    if found > MAX_PLACEHOLDERS_PER_FILE:
        yield finding("PF301", f"{found - MAX_PLACEHOLDERS_PER_FILE} more placeholders not listed", name)


def card_field(text: str, label: str):
    match = re.search(rf"^\*\*{label}:\*\*[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    if not match:
        return None, None
    return match.group(1), text.count("\n", 0, match.start()) + 1


def check_model_card(text: str, data: dict) -> Iterable[Finding]:
    extra = extra_fields(data)
    card_name, line = card_field(text, "Name")
    names = {str(data.get("name")), str(extra.get("project_name"))}
    if card_name and not TODO_PLACEHOLDER.fullmatch(card_name) and card_name != "..." and card_name not in names:
        yield finding("PF302", f"MODEL_CARD.md names {card_name!r}, packflow.yaml names {data.get('name')!r}", "MODEL_CARD.md", line)
    card_version, line = card_field(text, "Version")
    version = data.get("version")
    if card_version and card_version != "..." and isinstance(version, str) and card_version.lstrip("v") != version:
        yield finding("PF302", f"MODEL_CARD.md says version {card_version!r}, packflow.yaml says {version!r}", "MODEL_CARD.md", line)


def check_license(text: str, data: dict, policy: Policy) -> Iterable[Finding]:
    license_id = extra_fields(data).get("license")
    markers = policy.license_markers.get(license_id) if isinstance(license_id, str) else None
    if not markers:
        return
    folded = " ".join(text.split()).lower()
    missing = [phrase for phrase in markers if " ".join(phrase.split()).lower() not in folded]
    if missing:
        yield finding("PF303", f"LICENSE.txt does not read like {license_id} (missing {missing[0]!r})", "LICENSE.txt", 1)


# requirements.txt ---------------------------------------------------------------------------------

PORTABLE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links", "--pre",
                    "--prefer-binary", "--only-binary", "--no-binary", "--trusted-host", "--require-hashes",
                    "--use-feature"}
INCLUDE_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}
EDITABLE_OPTIONS = {"-e", "--editable"}
URL_SCHEMES = ("http://", "https://", "git+", "hg+", "svn+", "bzr+")


def logical_lines(text: str):
    """Requirement lines with comments stripped and backslash continuations joined, with first line numbers."""
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", line)
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            yield start, joined
    if pending.strip():
        yield start, pending.strip()


def looks_local(target: str) -> bool:
    return target.startswith(("file:", ".", "/", "~", "\\")) or bool(re.match(r"[A-Za-z]:[\\/]", target)) or (
        not target.startswith(URL_SCHEMES) and ("/" in target or target.endswith((".whl", ".tar.gz", ".zip"))))


def check_requirements(project: Path) -> Iterable[Finding]:
    """requirements.txt: parseable, portable, pinned, packflow declared; -r/-c files followed inside the project."""
    path = project / REQUIREMENTS_NAME
    if not path.exists():
        return
    seen: dict = {}
    state = {"packflow": None}
    yield from _check_requirements_file(project, path, seen, state, set(), constraints=False)
    if state["packflow"] is None:
        yield finding("PF402", "packflow is not listed in requirements.txt", REQUIREMENTS_NAME)
    elif not state["packflow"][0]:
        rel, line = state["packflow"][1]
        yield finding("PF403", "packflow is not pinned to one version", rel, line)


SIMPLE_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)")


class ParsedRequirement(NamedTuple):
    name: str
    pinned: bool
    marker: str
    specifier: str
    url: Optional[str]


def normalized_name(name: str) -> str:
    """PEP 503 normalisation, so `Scikit_Learn` and `scikit-learn` are one requirement."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(text: str) -> ParsedRequirement:
    """A requirement line: `name==version` directly (the common case, and cheap), anything else via packaging."""
    simple = SIMPLE_PIN.fullmatch(text)
    if simple and "*" not in simple[2]:
        return ParsedRequirement(simple[1], True, "", text[len(simple[1]):].strip(), None)
    from packaging.requirements import Requirement

    requirement = Requirement(text)  # raises InvalidRequirement
    pinned = bool(requirement.url) or (
        len(requirement.specifier) == 1
        and next(iter(requirement.specifier)).operator in ("==", "===")
        and "*" not in str(requirement.specifier))
    return ParsedRequirement(requirement.name, pinned, str(requirement.marker or ""), str(requirement.specifier),
                             requirement.url)


def _check_requirements_file(project: Path, path: Path, seen: dict, state: dict, visited: set, constraints: bool):
    rel = path.relative_to(project).as_posix()
    visited.add(path)
    text, problem = read_text(path, rel, 1024 * 1024)
    if problem:
        yield problem
        return
    for number, line in logical_lines(text):
        if line.startswith("-"):
            option, _, value = line.replace("=", " ", 1).partition(" ")
            value = value.strip()
            if option in EDITABLE_OPTIONS:
                yield finding("PF405", f"editable install {line!r} will not exist where the package is deployed", rel, number)
            elif option in INCLUDE_OPTIONS:
                yield from _follow_include(project, path, option, value, rel, number, seen, state, visited)
            elif option in ("-f", "--find-links") and looks_local(value):
                yield finding("PF405", f"local --find-links {value!r} will not exist where the package is deployed", rel, number)
            elif option not in PORTABLE_OPTIONS:
                yield finding("PF401", f"option {option!r} is not a portable pip requirements option", rel, number)
            continue
        requirement_text = re.sub(r"\s--hash[= ]\S+", "", line).strip()
        try:
            requirement = parse_requirement(requirement_text)
        except ValueError as exc:  # packaging's InvalidRequirement is a ValueError
            if looks_local(requirement_text.split(";")[0].strip()):
                yield finding("PF405", f"local path {requirement_text!r} will not exist where the package is deployed", rel, number)
            else:
                yield finding("PF401", f"{line!r} is not a valid requirement: {str(exc).splitlines()[0]}", rel, number)
            continue
        if requirement.url and requirement.url.startswith("file:"):
            yield finding("PF405", f"{requirement.name} points at {requirement.url!r}, a local file", rel, number)
            continue
        name = normalized_name(requirement.name)
        key = (name, requirement.marker, constraints)
        if key in seen:
            yield finding("PF406", f"{requirement.name} is listed again (first at {seen[key]})", rel, number)
        else:
            seen[key] = f"{rel}:{number}"
        if constraints:
            continue
        if name == "packflow":
            if state["packflow"] is None or requirement.pinned:
                state["packflow"] = (requirement.pinned, (rel, number))
        elif not requirement.pinned:
            yield finding("PF404", f"{requirement.name} is not pinned to one version ({requirement.specifier or 'any version'})", rel, number)


def _follow_include(project, path, option, value, rel, number, seen, state, visited):
    if not value or value.startswith(URL_SCHEMES):
        if not value:
            yield finding("PF401", f"{option} needs a file name", rel, number)
        return
    target = (path.parent / value).resolve()
    try:
        target.relative_to(project.resolve())
    except ValueError:
        yield finding("PF407", f"{option} {value} is outside the project and will not travel with it", rel, number)
        return
    if not target.is_file():
        yield finding("PF407", f"{option} {value}: no such file in the project", rel, number)
        return
    if target in visited:
        return
    yield from _check_requirements_file(project.resolve(), target, seen, state, visited,
                                        constraints=option in ("-c", "--constraint"))


# Backend module -----------------------------------------------------------------------------------

def backend_candidates(module: str, loader: str) -> list:
    """Where the module named by inference_backend can live in the project, as the loader finds it."""
    parts = module.split(".")
    as_file = Path(*parts).with_suffix(".py")
    return [as_file] if loader == "local" else [as_file, Path(*parts, "__init__.py")]


def execute_fingerprint(function) -> str:
    """A hash of a method's code that ignores its docstring, comments and formatting."""
    import ast
    import hashlib

    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    dumped = "\n".join(ast.dump(statement) for statement in body)
    return hashlib.sha256(dumped.encode()).hexdigest()


def check_backend(project: Path, data: dict) -> Iterable[Finding]:
    """The backend module parses, defines the class, subclasses InferenceBackend and has a real execute()."""
    import ast

    backend = data.get("inference_backend")
    loader = data.get("loader", "local")
    if not isinstance(backend, str) or not valid_backend(backend) or loader not in LOADERS:
        return
    module, class_name = backend.split(":")
    candidates = backend_candidates(module, loader)
    found = next((project / c for c in candidates if (project / c).is_file()), None)
    if found is None:
        if loader == "local":
            package = Path(*module.split("."), "__init__.py").as_posix()
            hint = (f"Packflow's local loader reads {candidates[0].as_posix()}; a package ({package}) needs loader: module."
                    if (project / package).is_file() else None)
            yield finding("PF102", f"{candidates[0].as_posix()} is missing (inference_backend {backend!r}, loader local)",
                          candidates[0].as_posix(), None, hint)
        else:
            yield finding("PF505", f"module {module!r} is not in the project; loader: module imports it from the environment", CONFIG_NAME)
        return
    rel = found.relative_to(project).as_posix()
    source, problem = read_text(found, rel, MAX_SOURCE_BYTES)
    if problem:
        yield problem
        return
    try:
        tree = ast.parse(source, filename=rel)
    except SyntaxError as exc:
        yield finding("PF501", f"{rel} has a syntax error: {exc.msg}", rel, exc.lineno)
        return
    except (ValueError, RecursionError, MemoryError) as exc:
        yield finding("PF501", f"{rel} cannot be parsed: {exc}", rel)
        return
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    if not classes:
        if not defines_name(tree, class_name):
            yield finding("PF502", f"class {class_name} is not defined in {rel}", rel)
        return
    cls = classes[-1]
    base_names = {base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
                  for base in cls.bases}
    if "InferenceBackend" not in base_names:
        yield finding("PF503", f"class {class_name} does not subclass InferenceBackend directly", rel, cls.lineno)
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "execute":
            if execute_fingerprint(node) in TEMPLATE_EXECUTE_FINGERPRINTS:
                yield finding("PF504", f"{class_name}.execute() is still the template's example", rel, node.lineno)


def defines_name(tree, name: str) -> bool:
    """Whether the module binds the name at top level by import or assignment."""
    import ast

    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.split(".")[0]) == name or alias.name == "*" for alias in node.names):
                return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
    return False


# Release hygiene (git) ----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def git(project: Path, *args: str) -> Optional[str]:
    """Output of a git command in the project, or None when git is missing or fails (asked once per run)."""
    import subprocess

    try:
        result = subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def in_git(project: Path) -> bool:
    """Whether the project is part of a git work tree (and not a folder that work tree ignores)."""
    return git(project, "rev-parse", "--is-inside-work-tree") == "true\n" and \
        git(project, "check-ignore", "-q", CONFIG_NAME) is None


def check_git(project: Path, data: dict) -> Iterable[Finding]:
    """Uncommitted changes and the release tag; skipped silently outside a git work tree."""
    if not in_git(project):
        return
    status = git(project, "status", "--porcelain", "--", ".")
    if status:
        changed = status.splitlines()
        yield finding("PF601", f"{len(changed)} uncommitted change(s) in the project, e.g. {changed[0][3:]}", None)
    version = data.get("version")
    if not isinstance(version, str) or status is None:
        return
    tags = (git(project, "tag", "--points-at", "HEAD") or "").split()
    if not tags:
        yield finding("PF602", f"HEAD is not tagged v{version}", None, None, f"git tag v{version}")
        return
    if f"v{version}" in tags or version in tags:
        return
    versioned = [t for t in tags if re.fullmatch(r"v?[0-9][0-9A-Za-z.+!-]*", t)]
    if versioned:
        yield finding("PF603", f"HEAD is tagged {versioned[0]}, but packflow.yaml says version {version}", CONFIG_NAME)
    else:
        yield finding("PF602", f"HEAD is not tagged v{version}", None, None, f"git tag v{version}")


# --run-tests ---------------------------------------------------------------------------------------

def run_project_tests(project: Path, timeout: float) -> Iterable[Finding]:
    """Run the project's pytest suite and validate.py, each in a subprocess with a timeout."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    runs = [("PF701", "the tests", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"])]
    if (project / "validate.py").is_file():
        runs.append(("PF702", "validate.py", [sys.executable, "validate.py"]))
    for code, what, command in runs:
        try:
            result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                                    errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            yield finding(code, f"{what} did not finish within {timeout:g} s", None)
            continue
        except OSError as exc:
            yield finding(code, f"{what} could not be started: {exc}", None)
            continue
        if code == "PF701" and result.returncode == 5:
            yield finding("PF703", "pytest found no tests in the project", None)
        elif code == "PF701" and "No module named pytest" in result.stderr:
            yield finding(code, "pytest is not installed in this environment", None, None, "python -m pip install pytest")
        elif result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            yield finding(code, f"{what} failed (exit {result.returncode}):\n{tail}", None)


# Entry point ---------------------------------------------------------------------------------------

def run_checks(project: Path, policy: Policy, strict: bool = False, run_tests: bool = False,
               test_timeout: float = 600.0) -> Report:
    """Every readiness check over a project, with the policy's severities applied."""
    config = load_project_config(project)
    findings = list(config.findings)
    data = config.data if isinstance(config.data, dict) else {}
    if not config.findings:
        findings += check_config(config, policy)
    findings += check_files(project)
    findings += check_requirements(project)
    findings += check_documents(project, data, policy)
    findings += check_backend(project, data)
    findings += check_git(project, data)
    if run_tests:
        findings += run_project_tests(project, test_timeout)
    report = Report(project=project, strict=strict or policy.strict, config_data=data)
    report.add(findings, policy)
    return report
