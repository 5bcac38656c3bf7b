"""The lock: requirements.txt made from requirements.in by `lock`, up to date, every pin with its hashes (PF41x).

A project that keeps its direct requirements in requirements.in has requirements.txt as their lock
(`python -m packflow_export lock`, uv underneath); whether it is up to date is read from the lock's header,
offline and without uv (deps/lock.py). Hashes are read for any project: without them whoever installs the
archive gets whatever the index serves that day; with some but not all, pip refuses the whole file.
"""

from __future__ import annotations

import re
from typing import Iterator, Optional

from ..findings import Finding, define
from ..model.context import Context, ProjectContext
from ..model.requirements import MAX_REQUIREMENTS_BYTES, REQUIREMENTS, Requirement
from ..model.views import Unreadable, read_text
from .check import Check, Need, folder_of


SOURCE = "requirements.in"
LOCK_COMMAND = "python -m packflow_export lock"  # deps/lock.py's, kept here so the rules import no resolver code
MADE_BY_LOCK = re.compile(r"# packflow-export lock: ")


def made_by_lock(text: str) -> bool:
    """Whether requirements.txt's header says `lock` made it (deps/lock.py writes that line)."""
    return any(MADE_BY_LOCK.match(line) for line in text.splitlines()[:10])

STALE = define(
    "PF410", "error", "requirements.txt is out of date with requirements.in",
    why="requirements.in changed (or the project's python_version did) after requirements.txt was locked: the "
        "archive would install something other than what requirements.in asks for.",
    fix=f"Lock again: `{LOCK_COMMAND}`, then commit both files.")
NOT_LOCKED = define(
    "PF411", "warning", "requirements.in is there but requirements.txt was not made from it by lock",
    why="Only a lock pins every transitive dependency with its hashes; a hand-written requirements.txt beside "
        "requirements.in pins the top level only, so installs drift from what was tested.",
    fix=f"Run `{LOCK_COMMAND}` (needs uv: pip install 'packflow-export[lock]'), then commit requirements.txt.")
NO_HASHES = define(
    "PF412", "warning", "requirements.txt has no --hash for its pins",
    why="Without hashes pip installs whatever the index serves for a pinned version: a replaced or tampered file "
        "installs silently, and the archive a pipeline installs next month is not the one that was proven.",
    fix=f"Keep the direct requirements in requirements.in and run `{LOCK_COMMAND}`; set `severity: {{PF412: "
        f"error}}` in the policy to require hashes.")
MIXED_HASHES = define(
    "PF413", "error", "some requirements have --hash and others do not",
    why="One --hash puts pip in hash-checking mode for the whole file: it then refuses every requirement without "
        "one, so nothing installs.",
    fix=f"Give every requirement its hashes: lock with `{LOCK_COMMAND}` rather than editing requirements.txt.")
HASH_UNPINNED = define(
    "PF414", "error", "a hash-checked requirements.txt has a requirement not pinned with ==",
    why="In hash-checking mode pip refuses any requirement that is not pinned to one version (==) or a URL, so "
        "nothing installs.",
    fix=f"Pin it with == and its hashes; a lock made by `{LOCK_COMMAND}` does both.")


def _requirements_text(ctx: Context) -> Optional[str]:
    """requirements.txt's text, or None when it is missing or unreadable (the files family reports those)."""
    if ctx.view.kind(REQUIREMENTS) != "file":
        return None
    try:
        return read_text(ctx.view, REQUIREMENTS, MAX_REQUIREMENTS_BYTES)
    except Unreadable:
        return None


def _listed(items: list[Requirement], limit: int = 3) -> str:
    names = ", ".join(item.name for item in items[:limit])
    return names + (f" and {len(items) - limit} more" if len(items) > limit else "")


def hash_findings(text: str, has_source: bool, items: list[Requirement]) -> Iterator[Finding]:
    """PF411-PF414 from requirements.txt's text (its header), the requirements the model read from it and the
    files it includes (pip's hash-checking mode covers them all), and whether requirements.in is beside it."""
    hashed = [item for item in items if item.hashes]  # a --hash puts pip in hash-checking mode; #sha256= does not
    unpinned = [item for item in items if not item.pinned and not item.url]
    unhashed = [item for item in items if not item.checked and (item.pinned or item.url)]
    if has_source and not made_by_lock(text):
        yield NOT_LOCKED(f"requirements.in lists the direct requirements, but requirements.txt was not made from it "
                         f"by `{LOCK_COMMAND}`: transitive dependencies and hashes are missing", REQUIREMENTS)
    elif not hashed and unhashed:
        yield NO_HASHES(f"{len(unhashed)} requirement(s) without --hash ({_listed(unhashed)}): whoever installs "
                        f"this release gets whatever the index serves for them", unhashed[0].path, unhashed[0].line)
    if hashed and unhashed:
        yield MIXED_HASHES(f"{len(hashed)} requirement(s) have --hash but {len(unhashed)} do not "
                           f"({_listed(unhashed)}): pip refuses the whole file", unhashed[0].path, unhashed[0].line)
    if hashed:
        for item in unpinned:
            yield HASH_UNPINNED(f"{item.display} is not pinned with ==: pip's hash-checking mode refuses it",
                                item.path, item.line)


def check_hashes(ctx: Context) -> Iterator[Finding]:
    """Hashes, for a folder or an archive (an archive's requirements.in travels with it)."""
    text = _requirements_text(ctx)
    if text is not None:
        yield from hash_findings(text, ctx.view.kind(SOURCE) == "file", ctx.requirements.items)


def check_stale(ctx: Context) -> Iterator[Finding]:
    """Whether a lock made by `lock` still matches requirements.in and python_version (a folder: includes read)."""
    project: ProjectContext = folder_of(ctx)
    text = _requirements_text(ctx)
    if text is None or project.view.kind(SOURCE) != "file" or not made_by_lock(text):
        return
    from ..deps.lock import lock_status  # the resolver's module, only for a project that has a lock

    status = lock_status(project.root, project.config.text_field("python_version"))
    for reason in status.stale:
        yield STALE(f"requirements.txt is out of date: {reason}", REQUIREMENTS)


RULES = (STALE, NOT_LOCKED, NO_HASHES, MIXED_HASHES, HASH_UNPINNED)
CHECKS = (
    Check("hashes", check_hashes, raises=(NOT_LOCKED, NO_HASHES, MIXED_HASHES, HASH_UNPINNED)),
    Check("lock", check_stale, raises=(STALE,), needs=Need.FILES | Need.FOLDER),
)
