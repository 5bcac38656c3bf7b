"""requirements.txt: parseable, portable, pinned, packflow declared and in the tested range (PF4xx).

The model parses it and the files it includes (model/requirements.py); the same parse is what the backend rules
match imports against, what the SBOM lists and what keys the load proof's environment.
"""

from __future__ import annotations

from typing import Iterator

from .. import naming
from ..findings import Finding, define
from ..model.context import Context
from ..model.problems import ProblemKind
from ..model.requirements import REQUIREMENTS, Requirements, normalized_name
from ..model.views import View
from .check import Check
from .files import UNREADABLE, reported

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
    "PF408", "warning",
    "requirements.txt weakens where packages come from (http index, --trusted-host, --extra-index-url)",
    why="An http index can be tampered with in transit, --trusted-host disables TLS checks, and --extra-index-url "
        "lets any public package with an internal package's name win (dependency confusion).",
    fix="Use one https --index-url (a proxy that mirrors what you need); set `severity: {PF408: error}` in the "
        "policy to forbid these options.")
PACKFLOW_UNTESTED = define(
    "PF409", "warning", "packflow is pinned to a version outside the range this tool is tested with",
    why="Packflow's scaffold and loaders changed between minor versions; the checks may pass a project that "
        "that version will not load.",
    fix="Pin a version in the supported range (see packflow_export/compatibility.json).")

REACHES_OUTSIDE = define(
    "PF416", "error", "the load proof refuses requirements that reach outside the archive, so it installed nothing",
    why="An include outside the project, a local path, a file: URL or a local index would install (or read) "
        "files of the verifier's machine: the proof would prove nothing about the archive, and could leak them.",
    fix="Fix the PF405/PF407 lines: publish the dependency to an index or a VCS URL, inline the included file.")
HASH_MISMATCH = define(
    "PF417", "error", "a distribution the index or wheelhouse serves does not match the hash requirements.txt pins",
    why="The file changed since the requirements were locked: a tampered or replaced release, or a stale lock.",
    fix="Find out why the file changed before trusting it; if the new file is genuine, lock again "
        "(python -m packflow_export lock).")

PARSE_RULES = {ProblemKind.BAD_REQUIREMENT: BAD_LINE, ProblemKind.LOCAL_REQUIREMENT: LOCAL_PATH,
               ProblemKind.DUPLICATE_REQUIREMENT: DUPLICATE, ProblemKind.BAD_INCLUDE: BAD_INCLUDE,
               ProblemKind.WEAK_SOURCE: WEAK_SOURCE}


def check_requirements(view: View, requirements: Requirements) -> Iterator[Finding]:
    """The parse findings, then packflow's presence, pin and tested range, then every other pin."""
    if view.kind(REQUIREMENTS) is None:
        return  # the files family reports it missing
    yield from (reported(problem, PARSE_RULES) for problem in requirements.problems)
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
        if item.url and not item.pinned:
            yield UNPINNED(f"{item.name} @ {item.url}: a branch or a tag is not a pin, it moves; name a full commit "
                           f"hash after @", item.path, item.line)
        elif normalized_name(item.name) != "packflow" and not item.pinned:
            yield UNPINNED(f"{item.name} is not pinned to one version ({item.specifier or 'any version'})",
                           item.path, item.line)


def check(ctx: Context) -> Iterator[Finding]:
    return check_requirements(ctx.view, ctx.requirements)


RULES = (BAD_LINE, PACKFLOW_MISSING, PACKFLOW_UNPINNED, UNPINNED, LOCAL_PATH, DUPLICATE, BAD_INCLUDE, WEAK_SOURCE,
         PACKFLOW_UNTESTED, REACHES_OUTSIDE, HASH_MISMATCH)  # PF416, PF417: raised by the load proof (rules/load.py)
CHECKS = (
    Check("requirements", check, raises=RULES + (UNREADABLE,)),
)
