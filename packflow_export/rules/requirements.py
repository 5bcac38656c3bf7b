"""requirements.txt: parseable, portable, pinned, packflow declared and in the tested range (PF4xx).

Includes (-r/-c) are followed inside the project. The parsed requirements are also what the backend rules
match imports against and what the SBOM lists.
"""

from __future__ import annotations

import re
from posixpath import dirname, join, normpath
from typing import Iterable, NamedTuple, Optional

from .. import naming
from ..findings import define
from .files import REQUIREMENTS, read_text

BAD_LINE = define(
    "PF401", "error", "a requirements.txt line is not a PEP 508 requirement or a portable pip option",
    why="pip refuses the whole file over one bad line, so nothing installs.",
    fix="Fix the line; see the pip requirements file format.")
PACKFLOW_MISSING = define(
    "PF402", "error", "packflow is not listed in requirements.txt",
    why="The backend imports packflow; a clean environment would not have it.",
    fix="Add packflow==<version>.")
PACKFLOW_UNPINNED = define(
    "PF403", "warning", "packflow is not pinned to one version",
    why="A later Packflow release may load the backend differently from the one it was tested with.",
    fix="Pin it: packflow==0.4.1.")
UNPINNED = define(
    "PF404", "warning", "a requirement is not pinned to one version",
    why="An unpinned dependency installs whatever is newest that day: the release is not reproducible.",
    fix="Pin it with == so the package installs the same everywhere.")
LOCAL_PATH = define(
    "PF405", "error", "a requirement points at a local path, an editable install or a file: URL",
    why="Local paths exist only on the author's machine; the package will not install anywhere else.",
    fix="Publish the dependency to an index or a VCS URL; local paths do not travel with the package.")
DUPLICATE = define(
    "PF406", "warning", "a requirement is listed twice",
    why="Two lines for one package disagree sooner or later, and pip then refuses the file.",
    fix="Keep one line per requirement.")
BAD_INCLUDE = define(
    "PF407", "error", "an included requirements file (-r/-c) is missing or outside the project",
    why="Only files inside the project travel with the archive.",
    fix="Include only files inside the project, or inline the requirements.")
WEAK_SOURCE = define(
    "PF408", "warning", "requirements.txt weakens where packages come from (http index, --trusted-host, --extra-index-url)",
    why="An http index can be tampered with in transit, --trusted-host disables TLS checks, and --extra-index-url "
        "lets any public package with an internal package's name win (dependency confusion).",
    fix="Use one https --index-url (a proxy that mirrors what you need); set `severity: {PF408: error}` in the "
        "policy to forbid these options.")
PACKFLOW_UNTESTED = define(
    "PF409", "warning", "packflow is pinned to a version outside the range this tool is tested with",
    why="Packflow's scaffold and loaders changed between minor versions; the checks may pass a project that "
        "that version will not load.",
    fix="Pin a version in the supported range (see packflow_export/compatibility.json).")

PORTABLE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links", "--pre",
                    "--prefer-binary", "--only-binary", "--no-binary", "--trusted-host", "--require-hashes",
                    "--use-feature"}
INCLUDE_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}
EDITABLE_OPTIONS = {"-e", "--editable"}
URL_SCHEMES = ("http://", "https://", "git+", "hg+", "svn+", "bzr+")
SIMPLE_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)")


class Requirement(NamedTuple):
    name: str
    pinned: bool
    marker: str
    specifier: str
    url: Optional[str]
    path: str  # the requirements file, POSIX
    line: int

    @property
    def version(self) -> Optional[str]:
        """The pinned version, when the requirement is `name==version`."""
        match = re.fullmatch(r"===?\s*([^\s,;]+)", self.specifier.strip())
        return match[1] if self.pinned and match else None


class Requirements:
    """Everything requirements.txt (and what it includes) installs, and what is wrong with it."""

    def __init__(self):
        self.items: list = []
        self.constraints: list = []
        self.findings: list = []
        self.files: list = []  # requirements.txt and every file it includes, in the order read

    @property
    def names(self) -> set:
        return {normalized_name(item.name) for item in self.items}


def normalized_name(name: str) -> str:
    """PEP 503 normalisation, so `Scikit_Learn` and `scikit-learn` are one requirement."""
    return re.sub(r"[-_.]+", "-", name).lower()


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


def parse_requirement(text: str) -> tuple:
    """(name, pinned, marker, specifier, url) of a line: `name==version` directly (cheap), anything else via packaging."""
    simple = SIMPLE_PIN.fullmatch(text)
    if simple and "*" not in simple[2]:
        return simple[1], True, "", text[len(simple[1]):].strip(), None
    from packaging.requirements import Requirement as Parsed

    parsed = Parsed(text)  # raises InvalidRequirement, a ValueError
    pinned = bool(parsed.url) or (
        len(parsed.specifier) == 1 and next(iter(parsed.specifier)).operator in ("==", "===")
        and "*" not in str(parsed.specifier))
    return parsed.name, pinned, str(parsed.marker or ""), str(parsed.specifier), parsed.url


def read_requirements(view) -> Requirements:
    """Parse requirements.txt and its includes; every problem becomes a finding."""
    result = Requirements()
    if view.kind(REQUIREMENTS) is None:
        return result
    _read_file(view, REQUIREMENTS, result, {}, set(), constraints=False)
    return result


def _read_file(view, rel: str, result: Requirements, seen: dict, visited: set, constraints: bool) -> None:
    visited.add(rel)
    result.files.append(rel)
    text, problem = read_text(view, rel, 1024 * 1024)
    if problem:
        result.findings.append(problem)
        return
    for number, line in logical_lines(text):
        if line.startswith("-"):
            _read_option(view, rel, number, line, result, seen, visited)
            continue
        requirement_text = re.sub(r"\s--hash[= ]\S+", "", line).strip()
        try:
            name, pinned, marker, specifier, url = parse_requirement(requirement_text)
        except ValueError as exc:
            if looks_local(requirement_text.split(";")[0].strip()):
                result.findings.append(LOCAL_PATH(f"local path {requirement_text!r} will not exist where the package "
                                                  f"is deployed", rel, number))
            else:
                result.findings.append(BAD_LINE(f"{line!r} is not a valid requirement: {str(exc).splitlines()[0]}",
                                                rel, number))
            continue
        if url and url.startswith("file:"):
            result.findings.append(LOCAL_PATH(f"{name} points at {url!r}, a local file", rel, number))
            continue
        item = Requirement(name, pinned, marker, specifier, url, rel, number)
        key = (normalized_name(name), marker, constraints)
        if key in seen:
            result.findings.append(DUPLICATE(f"{name} is listed again (first at {seen[key]})", rel, number))
        else:
            seen[key] = f"{rel}:{number}"
        (result.constraints if constraints else result.items).append(item)


def _read_option(view, rel, number, line, result, seen, visited) -> None:
    option, _, value = line.replace("=", " ", 1).partition(" ")
    value = value.strip()
    findings = result.findings
    if option in EDITABLE_OPTIONS:
        findings.append(LOCAL_PATH(f"editable install {line!r} will not exist where the package is deployed", rel, number))
    elif option in INCLUDE_OPTIONS:
        _follow_include(view, rel, number, option, value, result, seen, visited)
    elif option in ("-f", "--find-links") and looks_local(value):
        findings.append(LOCAL_PATH(f"local --find-links {value!r} will not exist where the package is deployed", rel, number))
    elif option not in PORTABLE_OPTIONS:
        findings.append(BAD_LINE(f"option {option!r} is not a portable pip requirements option", rel, number))
    elif option == "--trusted-host":
        findings.append(WEAK_SOURCE(f"--trusted-host {value} turns off TLS verification for that host", rel, number))
    elif option == "--extra-index-url":
        findings.append(WEAK_SOURCE(f"--extra-index-url {value}: pip takes the highest version from any index, so a "
                                    f"public package can replace an internal one of the same name", rel, number))
    elif option in ("-i", "--index-url", "-f", "--find-links") and value.lower().startswith("http://"):
        findings.append(WEAK_SOURCE(f"{option} {value} is plain http: packages can be replaced in transit", rel, number))


def _follow_include(view, rel, number, option, value, result, seen, visited) -> None:
    if not value:
        result.findings.append(BAD_LINE(f"{option} needs a file name", rel, number))
        return
    if value.startswith(URL_SCHEMES):
        return
    target = normpath(join(dirname(rel), value.replace("\\", "/")))
    if target.startswith("../") or target == ".." or value.startswith(("/", "~")):
        result.findings.append(BAD_INCLUDE(f"{option} {value} is outside the project and will not travel with it", rel, number))
        return
    if view.kind(target) != "file":
        result.findings.append(BAD_INCLUDE(f"{option} {value}: no such file in the project", rel, number))
        return
    if target not in visited:
        _read_file(view, target, result, seen, visited, constraints=option in ("-c", "--constraint"))


def check_requirements(view, requirements: Requirements) -> Iterable:
    """The parse findings, then packflow's presence, pin and tested range, then every other pin."""
    if view.kind(REQUIREMENTS) is None:
        return  # the files family reports it missing
    yield from requirements.findings
    packflow = [item for item in requirements.items if normalized_name(item.name) == "packflow"]
    if not packflow:
        yield PACKFLOW_MISSING("packflow is not listed in requirements.txt", REQUIREMENTS)
    elif not any(item.pinned for item in packflow):
        yield PACKFLOW_UNPINNED("packflow is not pinned to one version", packflow[0].path, packflow[0].line)
    for item in packflow:
        problem = item.version and naming.packflow_version_problem(item.version)
        if problem:
            yield PACKFLOW_UNTESTED(f"packflow=={item.version}: {problem}", item.path, item.line)
    for item in requirements.items:
        if normalized_name(item.name) != "packflow" and not item.pinned:
            yield UNPINNED(f"{item.name} is not pinned to one version ({item.specifier or 'any version'})",
                           item.path, item.line)
