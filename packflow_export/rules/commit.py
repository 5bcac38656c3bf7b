"""The commit hook: what a commit must not take into git history, whatever the archive would hold (PF704-PF709).

The files being committed are named by pre-commit (relative to the repository root, where it runs the hook) and
read from the work tree, which pre-commit has made match what is staged. Each is scanned for secrets as export
scans an archive's files; `.packflowignore` changes nothing here, since it leaves files out of the archive, not
out of git.
"""

from __future__ import annotations

import os
import stat
from functools import partial
from typing import Iterator

from ..findings import Finding, define
from ..model.context import Context, ScanEntry
from ..model.views import identity_of, open_regular, read_chunks
from .check import Check, Need, folder_of
from .contents import ALLOWED_SECRET, CHANGED, SECRET, UNSCANNED, rules_of, scan_contents
from .files import UNREADABLE

COMMITTED_SECRET = define(
    "PF704", "error", "a file being committed holds what looks like a secret",
    why="A commit keeps the secret in git history for good: every clone, fork and mirror holds it, even after the "
        "file is changed or deleted. Leaving the file out of the archive (.packflowignore) does not keep it out of "
        "git.",
    fix="Remove the secret from the commit (read it from an environment variable, or unstage the file: git restore "
        "--staged FILE); if it was ever committed or pushed, rotate it. Pass --allow-secret FILE only if it is not "
        "secret.")


def committed_entries(names: tuple[str, ...]) -> list[ScanEntry]:
    """The files being committed that the scan can read: regular files (a link is committed as its target's name,
    a deleted file as nothing)."""
    entries = []
    for name in names:
        try:
            info = os.stat(name, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            identity = identity_of(info)
            entries.append(ScanEntry(name, info.st_size, partial(read_chunks, name, identity),
                                     partial(open_regular, name, identity)))
    return entries


def scan_committed(ctx: Context) -> Iterator[Finding]:
    """The secret scan over the files being committed; a secret's hint says how to keep it out of git."""
    entries = committed_entries(folder_of(ctx).options.committed)
    for finding in scan_contents(entries, ctx.options.allowed_secrets, rules_of(ctx.policy)):
        if finding.code == SECRET.code:
            name = finding.path or "FILE"
            yield COMMITTED_SECRET(finding.message, finding.path, finding.line,
                                   f"Remove the secret from {name} (read it from an environment variable) or unstage "
                                   f"it (git restore --staged {name}); if it was ever committed or pushed, rotate it.")
        elif finding.code in (ALLOWED_SECRET.code, UNSCANNED.code, CHANGED.code, UNREADABLE.code):
            yield finding  # what a commit of a pointer file (PF804) holds is the pointer: nothing to say


RULES = (COMMITTED_SECRET,)
CHECKS = (
    Check("files being committed", scan_committed, raises=(COMMITTED_SECRET, ALLOWED_SECRET, UNSCANNED, CHANGED,
                                                          UNREADABLE), needs=Need.COMMIT),
)
