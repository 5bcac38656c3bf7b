"""Files: the project holds what Packflow needs, and each file can be read as text (PF1xx).

Every family reports a file it cannot read the same way (PF104): through read_text() here, or by mapping the
model's problems with reported().
"""

from __future__ import annotations

from typing import Iterator, Mapping, Optional, Union

from ..findings import Finding, Rule, define
from ..model import views
from ..model.context import Context
from ..model.problems import Problem, ProblemKind
from ..model.requirements import REQUIREMENTS
from .check import Check, Need, folder_of

DOCUMENTS = ("MODEL_CARD.md", "README.md", "LICENSE.txt")

REQUIREMENTS_MISSING = define(
    "PF101", "error", "requirements.txt is missing",
    why="A Packflow runtime installs the backend's dependencies from requirements.txt; without it the package "
        "cannot be installed anywhere else.",
    fix="Create requirements.txt listing packflow==<version> and every dependency.")
BACKEND_MISSING = define(
    "PF102", "error", "the backend module named by inference_backend is missing",
    why="Packflow loads the backend from this module; the package would fail on load.",
    fix="Create the module file (a/b.py for a.b:Class) or fix inference_backend.")
DOCUMENT_MISSING = define(
    "PF103", "warning", "a recommended document (MODEL_CARD.md, README.md, LICENSE.txt) is missing or empty",
    why="Packflow's distribution guide asks for them: downstream users need the model's limits, usage and license.",
    fix="Write the document; the template's versions are a starting point.")
UNREADABLE = define(
    "PF104", "error", "a project file cannot be read as UTF-8 text",
    why="The checks cannot vouch for a file they cannot read, and neither can the runtime that loads it.",
    fix="Make it a readable UTF-8 text file of sensible size.")

FOLDER_DENIED = define(
    "PF105", "error", "a folder cannot be listed or entered with this user's permissions",
    why="Nothing in it can be checked or packed: the archive would silently lack whatever the folder holds.",
    fix="Give yourself read and execute permission (chmod u+rx FOLDER), or leave the folder out in .packflowignore.")
FILE_DENIED = define(
    "PF106", "error", "a file cannot be read with this user's permissions",
    why="It can be neither scanned for secrets nor packed: the archive would silently lack it.",
    fix="Give yourself read permission (chmod u+r FILE), or leave the file out in .packflowignore.")


def unreadable(rel: str, problem: str, line: Optional[int] = None, hint: Optional[str] = None) -> Finding:
    return UNREADABLE(f"{rel} {problem}", rel, line, hint)


def reported(problem: Problem, rules: Mapping[ProblemKind, Rule]) -> Finding:
    """The finding of a problem the model met: a file it could not read is PF104, the rest as the family maps them."""
    rule = UNREADABLE if problem.kind is ProblemKind.UNREADABLE else rules[problem.kind]
    return rule(problem.message, problem.path, problem.line, problem.hint)


def read_text(view: views.View, rel: str, limit: int = views.MAX_TEXT_BYTES) -> Union[str, Finding]:
    """The file as UTF-8 text (a BOM is allowed), or the PF104 finding saying why it cannot be read."""
    try:
        return views.read_text(view, rel, limit)
    except views.Unreadable as exc:
        return unreadable(rel, str(exc), exc.line, exc.hint)


def check_files(ctx: Context) -> Iterator[Finding]:
    """requirements.txt exists; the recommended documents exist (their content is the documents family's)."""
    if ctx.view.kind(REQUIREMENTS) is None:
        yield REQUIREMENTS_MISSING(f"{REQUIREMENTS} is missing", REQUIREMENTS)
    for name in DOCUMENTS:
        if ctx.view.kind(name) is None:
            yield DOCUMENT_MISSING(f"{name} is missing", name)


def check_permissions(ctx: Context) -> Iterator[Finding]:
    """Folders and files the walk met that this user may not read: named once each, never read (a file a family
    reads itself, such as requirements.txt, is its PF104)."""
    from ..model.config import CONFIG
    from ..model.samples import SAMPLES

    selection = folder_of(ctx).selection
    read_by_families = {CONFIG, REQUIREMENTS, SAMPLES, *DOCUMENTS, ctx.backend_module}
    for name, mode in selection.denied if selection is not None else ():
        if name in read_by_families:
            continue
        if name.endswith("/"):
            yield FOLDER_DENIED(f"{name} cannot be entered (mode {mode:04o}): nothing in it is checked or packed",
                                name)
        else:
            yield FILE_DENIED(f"{name} cannot be read (mode {mode:04o}): it is neither scanned nor packed", name)


RULES = (REQUIREMENTS_MISSING, BACKEND_MISSING, DOCUMENT_MISSING, UNREADABLE, FOLDER_DENIED, FILE_DENIED)
CHECKS = (
    Check("files", check_files, raises=(REQUIREMENTS_MISSING, DOCUMENT_MISSING)),
    Check("permissions", check_permissions, raises=(FOLDER_DENIED, FILE_DENIED), needs=Need.FOLDER),
)
