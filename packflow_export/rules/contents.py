"""What goes into the archive: no secrets, no stand-ins for missing files, nothing another system cannot
unpack, and everything the package needs (PF8xx). The same rules run on the files export would pack and on
the members verify finds, so export never writes an archive its own verify refuses.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Optional

from .. import secrets
from ..findings import Finding, define
from ..project import FileChanged, Unreadable
from .archive import CORRUPT, CorruptMember
from .files import REQUIREMENTS, unreadable

SECRET = define(
    "PF801", "error", "a file that looks like a secret would be packed",
    why="An archive is copied to registries, pipelines and laptops; a key inside it leaks everywhere it goes.",
    fix="Remove it, add it to .packflowignore, or pass --allow-secret PATH if it is not secret.")
LINK = define(
    "PF802", "warning", "a symlink or special file would be packed as a copy or is left out",
    why="Archives hold regular files only: a link's target is packed in its place, or nothing is.",
    fix="Replace links with real files, or ignore them.")
ALLOWED_SECRET = define(
    "PF803", "info", "a file that looks like a secret is packed because --allow-secret names it",
    why="Recorded so that whoever reads the report (or verifies the archive) sees the exception.",
    fix="Nothing, if the file holds no secret.")
STAND_IN = define(
    "PF804", "error", "a Git LFS pointer or git-annex link stands where a file's content should be",
    why="The archive would hold a 130-byte pointer instead of the weights: the backend fails on load.",
    fix="Fetch the content first: git lfs pull (or git annex get).")
BAD_NAME = define(
    "PF805", "error", "a file name cannot travel in an archive (backslash, control character, not UTF-8, case twin, too long)",
    why="Other systems refuse or mangle such names on unpacking: two case twins become one file on Windows and "
        "macOS, a backslash becomes a folder.",
    fix="Rename the file.")
REQUIRED_LEFT_OUT = define(
    "PF806", "error", "a file the package needs would not be in the archive",
    why="packflow.yaml, requirements.txt, the backend module (loader: local) and sample_inputs.json are what a "
        "runtime reads first; without them the archive does not load.",
    fix="Remove the ignore rule that leaves it out, or move the file.")
UNSCANNED = define(
    "PF807", "info", "content that could not be scanned for secrets",
    why="The scan cannot vouch for what it could not read (an encrypted or oversized nested archive).",
    fix="Check the file by hand, or leave it out of the archive.")
CHANGED = define(
    "PF808", "error", "a file changed while it was being read",
    why="What was checked must be what is packed; a file replaced or modified during the run cannot be trusted.",
    fix="Run the command again once nothing is writing to the project.")

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\n"
MAX_NAME_BYTES = 255
SAMPLE_INPUTS = "sample_inputs.json"


def check_walk(selection) -> Iterable[Finding]:
    """What the walk met: links, special files, folders it could not list, names it could not use, ignore files."""
    messages = {"copied": "is a link: packed as a copy of {target}", "outside": "links outside the project: left out",
                "dangling": "is a dangling link: left out", "folder": "links to a folder, which is not followed: left out",
                "loop": "is a link that loops: left out"}
    for link in selection.links:
        if link.outcome == "annex":
            yield STAND_IN(f"{link.name} is a git-annex link whose content is not here", link.name, None,
                           "Run git annex get, or unlock the file.")
        else:
            yield LINK(f"{link.name} {messages[link.outcome].format(target=link.target)}", link.name)
    for name, what in selection.special:
        yield LINK(f"{name} is {what}: left out", name)
    for name, reason in selection.unreadable:
        yield unreadable(name, reason)
    for source, reason in selection.rules.problems:
        yield unreadable(source, f"cannot be used as an ignore file: {reason}")
    for shown, reason in selection.bad_names:
        yield BAD_NAME(f"the name of {shown} {reason}", shown, None, "Rename it to UTF-8.")


def check_names(names: Iterable[str]) -> Iterable[Finding]:
    """Names another system would refuse or mangle on unpacking."""
    folded: dict = {}
    for name in sorted(names):
        parts = name.split("/")
        if not name or name.startswith("/") or ".." in parts or re.match(r"[A-Za-z]:", name) or "" in parts[:-1]:
            yield BAD_NAME(f"{name!r} is not a relative path inside the archive: unpacking it writes elsewhere", name)
            continue
        if "\\" in name:
            yield BAD_NAME(f"{name} has a backslash in its name, which Windows tools unpack as a folder", name)
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
            yield BAD_NAME(f"{name!r} has a control character in its name", name)
        if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in name.split("/")):
            yield BAD_NAME(f"{name[:60]}... has a name part over {MAX_NAME_BYTES} bytes", name)
        key = name.casefold()
        if key in folded:
            yield BAD_NAME(f"{folded[key]} and {name} differ only in case: one overwrites the other on Windows and "
                           f"macOS", name)
        else:
            folded[key] = name


def required_files(view, config, backend_module: Optional[str]) -> list:
    """The files an archive of this project must hold."""
    needed = ["packflow.yaml", REQUIREMENTS]
    if backend_module and config.fields.get("loader", "local") == "local":
        needed.append(backend_module)
    if view.kind(SAMPLE_INPUTS) == "file":
        needed.append(SAMPLE_INPUTS)
    return needed


def check_required(selection, needed: list) -> Iterable[Finding]:
    """Export refuses to leave out what the package needs, naming the rule that removed it."""
    packed = selection.names
    for name in needed:
        if name not in packed:
            why = selection.why_excluded(name)
            if why:
                yield REQUIRED_LEFT_OUT(f"{name} would be left out of the archive by {why}", name)
            elif any(link.name == name for link in selection.links):
                yield REQUIRED_LEFT_OUT(f"{name} is a link whose target is not packed", name, None,
                                        "Replace the link with the file itself.")


def check_members_hold(members, needed: list) -> Iterable[Finding]:
    """An archive holds what the package needs."""
    for name in needed:
        if name not in members:
            yield REQUIRED_LEFT_OUT(f"{name} is missing from the archive", name, None,
                                    "Export the project again; packflow_export refuses to leave it out.")


def scan_contents(entries: Iterable, allowed: frozenset) -> Iterable[Finding]:
    """Secret names and content, and LFS pointers, over (name, open_chunks) pairs; open_chunks() yields the bytes."""
    for name, open_chunks in entries:
        rule = secrets.name_rule(name)
        if rule and name in allowed:
            yield ALLOWED_SECRET(f"{name} looks like a secret ({rule}); packed because --allow-secret names it", name)
            rule = None
        elif rule:
            yield SECRET(f"{name} looks like a secret ({rule})", name, None,
                         f"Add {name} to .packflowignore, or pass --allow-secret {name} if it holds no secret.")
        try:
            kind, hits, head = _scan(open_chunks, name)
        except FileChanged as exc:
            yield CHANGED(f"{name} {exc} while being read", name)
            continue
        except CorruptMember as exc:
            yield CORRUPT(f"{name} does not read back intact: {exc}", name)
            continue
        except Unreadable as exc:
            yield unreadable(name, str(exc))
            continue
        if head.startswith(LFS_POINTER):
            yield STAND_IN(f"{name} is a Git LFS pointer ({len(head)} bytes), not the file: run git lfs pull", name)
        if hits and name in allowed:
            yield ALLOWED_SECRET(f"{name} contains what looks like a {hits[0].rule}; packed because --allow-secret "
                                 f"names it", name, hits[0].line)
        elif not rule:
            for hit in hits:
                where = "" if hit.line else f" at byte {hit.offset:,}"
                yield SECRET(f"{name} contains what looks like a {hit.rule}{where}", name, hit.line,
                             f"Remove it (use an environment variable), add the file to .packflowignore, "
                             f"or pass --allow-secret {name}.")


def _scan(open_chunks: Callable, name: str) -> tuple:
    head = []

    def chunks():
        for chunk in open_chunks():
            if not head:
                head.append(chunk[:1024])
            yield chunk
    kind, hits = secrets.scan_chunks(chunks(), name)
    return kind, hits, head[0] if head else b""
