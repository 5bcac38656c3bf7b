"""Release hygiene: the package matches a tagged, committed state of the repository (PF6xx)."""

from __future__ import annotations

import re
from typing import Iterator

from ..findings import Finding, define
from ..model.config import CONFIG
from ..model.context import Context
from .check import Check, Need, folder_of

UNCOMMITTED = define(
    "PF601", "warning", "the git work tree has uncommitted changes",
    why="The archive would hold changes no commit records: nobody can rebuild or review that release.",
    fix="Commit or stash them so the package matches a commit.")
UNTAGGED = define(
    "PF602", "info", "HEAD is not tagged with the version",
    why="A tag ties the release to its commit; the release command requires it.",
    fix="Tag the release commit: git tag v<version>.")
TAG_MISMATCH = define(
    "PF603", "warning", "a tag on HEAD names another version",
    why="The tag and packflow.yaml disagree about which release this is.",
    fix="Bump version in packflow.yaml (python -m packflow_export bump) or move the tag.")
GIT_SKIPPED = define(
    "PF604", "info", "git facts were not read: the repository's config could make git run a program",
    why="A project received from someone else must never run code by being checked; keys such as core.fsmonitor "
        "or filter drivers in .git/config make git run commands.",
    fix="Review .git/config; remove the setting if you do not need it, or run git status yourself.")


def check_git(ctx: Context) -> Iterator[Finding]:
    """Uncommitted changes and the release tag; nothing outside a git work tree."""
    git, skipped = folder_of(ctx).git
    if skipped:
        yield GIT_SKIPPED(f"git checks skipped: {skipped}", None)
        return
    if git is None or git.ignores_project():
        return
    changes = git.changes()
    if changes:
        yield UNCOMMITTED(f"{len(changes)} uncommitted change(s) in the project, e.g. {changes[0][3:]}", None)
    version = ctx.config.text_field("version")
    if version is None or changes is None:
        return
    tags = git.tags_at_head()
    if f"v{version}" in tags or version in tags:
        return
    versioned = [t for t in tags if re.fullmatch(r"v?[0-9][0-9A-Za-z.+!-]*", t)]
    if versioned:
        yield TAG_MISMATCH(f"HEAD is tagged {versioned[0]}, but packflow.yaml says version {version}", CONFIG)
    else:
        yield UNTAGGED(f"HEAD is not tagged v{version}", None, None, f"git tag v{version}")


RULES = (UNCOMMITTED, UNTAGGED, TAG_MISMATCH, GIT_SKIPPED)
CHECKS = (
    Check("git", check_git, raises=RULES, needs=Need.GIT),
)
