"""requirements.txt as data: every requirement it (and the files it includes with -r/-c) installs, and what is wrong
with its lines. Parsed once per run: the requirements rules, the backend's import rules, the SBOM and the load
proof's environment key all read this one result.
"""

from __future__ import annotations

import re
from posixpath import dirname, join, normpath
from typing import Iterator, NamedTuple, Optional

from .problems import Problem, ProblemKind, unreadable
from .views import Unreadable, View, read_text

REQUIREMENTS = "requirements.txt"
MAX_REQUIREMENTS_BYTES = 1024 * 1024
PORTABLE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links", "--pre",
                    "--prefer-binary", "--only-binary", "--no-binary", "--trusted-host", "--require-hashes",
                    "--use-feature"}
INCLUDE_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}
EDITABLE_OPTIONS = {"-e", "--editable"}
URL_SCHEMES = ("http://", "https://", "git+", "hg+", "svn+", "bzr+")
INDEX_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links"}
VCS_PREFIX = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
# A VCS reference that names one commit: git's and Mercurial's full hashes (40 hex; git's SHA-256 is 64).
COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
HASH_OPTION = re.compile(r"\s--hash[= ](\S+)")
URL_HASH = re.compile(r"#(?:.*&)?(?:sha256|sha384|sha512)=[0-9a-fA-F]+")  # pip checks a URL's #sha256= too
SIMPLE_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)")


class Requirement(NamedTuple):
    name: str
    pinned: bool
    marker: str
    specifier: str
    url: Optional[str]
    path: str  # the requirements file, POSIX
    line: int
    hashes: tuple[str, ...] = ()  # the line's --hash values ("sha256:<hex>")

    @property
    def checked(self) -> bool:
        """Whether pip's hash-checking mode has a hash to check it against (--hash, or a URL's #sha256=)."""
        return bool(self.hashes) or bool(self.url and URL_HASH.search(self.url))

    @property
    def display(self) -> str:
        """The requirement as written, without hashes or marker: `requests==2.19.0`, `pkg @ URL`."""
        return f"{self.name} @ {self.url}" if self.url else f"{self.name}{self.specifier}"

    @property
    def version(self) -> Optional[str]:
        """The pinned version, when the requirement is `name==version`."""
        match = re.fullmatch(r"===?\s*([^\s,;]+)", self.specifier.strip())
        return match[1] if self.pinned and match else None


class ParsedLine(NamedTuple):
    """One requirement line as packaging reads it."""

    name: str
    pinned: bool
    marker: str
    specifier: str
    url: Optional[str]


class Requirements:
    """Everything requirements.txt (and what it includes) installs, and what is wrong with it."""

    def __init__(self) -> None:
        self.items: list[Requirement] = []
        self.constraints: list[Requirement] = []
        self.problems: list[Problem] = []
        self.files: list[str] = []  # requirements.txt and every file it includes, in the order read

    @property
    def reaching_outside(self) -> list[Problem]:
        """Lines that would install from the verifier's machine or read a file outside the project (-r/-c, local
        paths, file: URLs, local indexes): the load proof installs nothing while there is one."""
        return [problem for problem in self.problems
                if problem.kind in (ProblemKind.LOCAL_REQUIREMENT, ProblemKind.BAD_INCLUDE)]

    @property
    def hashed(self) -> bool:
        """Whether any requirement carries --hash: pip then checks every one, and so does the load proof."""
        return any(item.hashes for item in self.items)

    @property
    def names(self) -> set[str]:
        return {normalized_name(item.name) for item in self.items}


def normalized_name(name: str) -> str:
    """PEP 503 normalisation, so `Scikit_Learn` and `scikit-learn` are one requirement."""
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
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
    target = VCS_PREFIX.sub("", target.strip())
    lowered = target.lower()
    return lowered.startswith(("file:", ".", "/", "~", "\\")) or bool(re.match(r"[A-Za-z]:[\\/]", target)) or (
        not lowered.startswith(URL_SCHEMES) and ("/" in target or lowered.endswith((".whl", ".tar.gz", ".zip"))))


def url_pinned(url: str) -> bool:
    """A direct URL names one thing: an archive's URL does; a VCS URL only with a full commit hash after `@`
    (a branch or a tag moves)."""
    if not VCS_PREFIX.match(url):
        return True
    path = url.split("#", 1)[0].split("://", 1)[-1]
    reference = path.rpartition("@")[2] if "@" in path.partition("/")[2] else ""
    return bool(COMMIT.fullmatch(reference))


def parse_requirement(text: str) -> ParsedLine:
    """A requirement line: `name==version` directly (cheap), anything else via packaging (ValueError if invalid)."""
    simple = SIMPLE_PIN.fullmatch(text)
    if simple and "*" not in simple[2]:
        return ParsedLine(simple[1], True, "", text[len(simple[1]):].strip(), None)
    from packaging.requirements import Requirement as Parsed

    parsed = Parsed(text)  # raises InvalidRequirement, a ValueError
    pinned = url_pinned(parsed.url) if parsed.url else (
        len(parsed.specifier) == 1 and next(iter(parsed.specifier)).operator in ("==", "===")
        and "*" not in str(parsed.specifier))
    return ParsedLine(parsed.name, pinned, str(parsed.marker or ""), str(parsed.specifier), parsed.url)


def read_requirements(view: View) -> Requirements:
    """Parse requirements.txt and its includes; every problem is recorded, none raised."""
    reader = _Reader(view)
    if view.kind(REQUIREMENTS) is not None:
        reader.read_file(REQUIREMENTS, constraints=False)
    return reader.result


class _Reader:
    """One parse of requirements.txt and the files it includes (each once), remembering first lines for duplicates."""

    def __init__(self, view: View):
        self.view = view
        self.result = Requirements()
        self.seen: dict[tuple[str, str, bool], str] = {}  # (name, marker, constraint) -> where first listed
        self.visited: set[str] = set()

    def problem(self, kind: ProblemKind, message: str, rel: str, line: int) -> None:
        self.result.problems.append(Problem(kind, message, rel, line))

    def read_file(self, rel: str, constraints: bool) -> None:
        self.visited.add(rel)
        self.result.files.append(rel)
        try:
            text = read_text(self.view, rel, MAX_REQUIREMENTS_BYTES)
        except Unreadable as exc:
            self.result.problems.append(unreadable(rel, str(exc), exc.line, exc.hint))
            return
        for number, line in logical_lines(text):
            if line.startswith("-"):
                self.read_option(rel, number, line)
            else:
                self.read_requirement(rel, number, line, constraints)

    def read_requirement(self, rel: str, number: int, line: str, constraints: bool) -> None:
        hashes = tuple(HASH_OPTION.findall(" " + line))
        requirement_text = HASH_OPTION.sub("", " " + line).strip()
        try:
            parsed = parse_requirement(requirement_text)
        except ValueError as exc:
            if looks_local(requirement_text.split(";")[0].strip()):
                self.problem(ProblemKind.LOCAL_REQUIREMENT, f"local path {requirement_text!r} will not exist where "
                             f"the package is deployed", rel, number)
            else:
                self.problem(ProblemKind.BAD_REQUIREMENT, f"{line!r} is not a valid requirement: "
                             f"{str(exc).splitlines()[0]}", rel, number)
            return
        if parsed.url and looks_local(parsed.url):
            self.problem(ProblemKind.LOCAL_REQUIREMENT, f"{parsed.name} points at {parsed.url!r}, on the local "
                         f"machine", rel, number)
            return
        item = Requirement(*parsed, rel, number, hashes)
        key = (normalized_name(parsed.name), parsed.marker, constraints)
        if key in self.seen:
            self.problem(ProblemKind.DUPLICATE_REQUIREMENT, f"{parsed.name} is listed again (first at "
                         f"{self.seen[key]})", rel, number)
        else:
            self.seen[key] = f"{rel}:{number}"
        (self.result.constraints if constraints else self.result.items).append(item)

    def read_option(self, rel: str, number: int, line: str) -> None:
        option, _, value = line.replace("=", " ", 1).partition(" ")
        value = value.strip()
        if option in EDITABLE_OPTIONS:
            self.problem(ProblemKind.LOCAL_REQUIREMENT, f"editable install {line!r} will not exist where the package "
                         f"is deployed", rel, number)
        elif option in INCLUDE_OPTIONS:
            self.follow_include(rel, number, option, value)
        elif option in INDEX_OPTIONS and looks_local(value):
            self.problem(ProblemKind.LOCAL_REQUIREMENT, f"{option} {value!r} is on the local machine: it will not "
                         f"exist where the package is deployed", rel, number)
        elif option not in PORTABLE_OPTIONS:
            self.problem(ProblemKind.BAD_REQUIREMENT, f"option {option!r} is not a portable pip requirements option",
                         rel, number)
        else:
            self.weak_source(rel, number, option, value)

    def weak_source(self, rel: str, number: int, option: str, value: str) -> None:
        weak = ProblemKind.WEAK_SOURCE
        if option == "--trusted-host":
            self.problem(weak, f"--trusted-host {value} turns off TLS verification for that host", rel, number)
        elif option == "--extra-index-url":
            self.problem(weak, f"--extra-index-url {value}: pip takes the highest version from any index, so a "
                         f"public package can replace an internal one of the same name", rel, number)
        elif option in ("-i", "--index-url", "-f", "--find-links") and value.lower().startswith("http://"):
            self.problem(weak, f"{option} {value} is plain http: packages can be replaced in transit", rel, number)

    def follow_include(self, rel: str, number: int, option: str, value: str) -> None:
        if not value:
            self.problem(ProblemKind.BAD_REQUIREMENT, f"{option} needs a file name", rel, number)
            return
        if value.startswith(URL_SCHEMES):
            return
        target = normpath(join(dirname(rel), value.replace("\\", "/")))
        if target.startswith("../") or target == ".." or value.startswith(("/", "~")):
            self.problem(ProblemKind.BAD_INCLUDE, f"{option} {value} is outside the project and will not travel "
                         f"with it", rel, number)
            return
        if self.view.kind(target) != "file":
            self.problem(ProblemKind.BAD_INCLUDE, f"{option} {value}: no such file in the project", rel, number)
            return
        if target not in self.visited:
            self.read_file(target, constraints=option in ("-c", "--constraint"))
