"""Unpack an archive's members into a fresh folder, safe by construction rather than by a finding's severity.

Every name and mode is checked before anything is written, whatever any policy says: absolute names, `..`,
empty parts, backslashes, drive letters, links, devices, FIFOs, sockets, set-id bits, duplicates and a name that
is both a file and a folder are refused with UnsafeMember naming the member. Then every folder and file is
created relative to an open descriptor of its parent (mkdir/open with dir_fd, O_NOFOLLOW, O_EXCL), never by
resolving a path string again, so neither a bug in a rule nor a link planted during the unpack can make it write
outside the folder. Sizes are bounded before and while writing. On any failure the folder is removed.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

MAX_BYTES = 64 << 30
MAX_MEMBERS = 1_000_000
MAX_DEPTH = 64
NAME_MAX = 255  # bytes in one part (Linux, macOS, Windows)
PATH_MAX = 4096
_DRIVE = re.compile(r"^[A-Za-z]:")
_SPECIAL = {stat.S_IFLNK: ("link", "is a symbolic link"), stat.S_IFCHR: ("device", "is a character device"),
            stat.S_IFBLK: ("device", "is a block device"), stat.S_IFIFO: ("fifo", "is a FIFO"),
            stat.S_IFSOCK: ("socket", "is a socket")}
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_BINARY", 0))


class UnsafeMember(Exception):
    """A member that cannot be unpacked safely; `kind` says which rule it breaks (stable, for findings)."""

    def __init__(self, member: str, kind: str, reason: str):
        super().__init__(f"{member!r} {reason}")
        self.member, self.kind, self.reason = member, kind, reason


@dataclass(frozen=True)
class Member:
    """One archive member: its name, the Unix mode it declares (0 when none), its size, and its bytes."""

    name: str
    mode: int
    size: int
    chunks: Callable[[], Iterable[bytes]]

    @property
    def is_folder(self) -> bool:
        return self.name.endswith("/") or stat.S_ISDIR(self.mode)


@dataclass(frozen=True)
class Unpacked:
    """What was written: the folder, how many files and folders, and how many bytes."""

    root: Path
    files: int
    folders: int
    bytes: int


def name_problem(name: str) -> Optional[tuple[str, str]]:
    """(kind, reason) when a member name could reach outside the folder or cannot be a plain relative path."""
    if not name or name == "/":
        return "empty", "has an empty name"
    if "\0" in name:
        return "nul", "holds a NUL character"
    if "\\" in name:
        return "backslash", "holds a backslash (a folder separator on Windows)"
    if name.startswith("/"):
        return "absolute", "is an absolute path"
    if _DRIVE.match(name):
        return "drive", "starts with a drive letter"
    parts = name[:-1].split("/") if name.endswith("/") else name.split("/")
    if any(part in ("", ".") for part in parts):
        return "empty-part", "has an empty or `.` part"
    if ".." in parts:
        return "parent", "has a `..` part"
    if len(parts) > MAX_DEPTH:
        return "too-deep", f"is nested more than {MAX_DEPTH} folders deep"
    try:
        encoded = [part.encode("utf-8") for part in parts]
    except UnicodeEncodeError:
        return "encoding", "is not valid Unicode"
    if any(len(part) > NAME_MAX for part in encoded) or sum(map(len, encoded)) + len(encoded) > PATH_MAX:
        return "too-long", f"has a part longer than {NAME_MAX} bytes or is longer than {PATH_MAX}"
    return None


def mode_problem(name: str, mode: int) -> Optional[tuple[str, str]]:
    """(kind, reason) when the declared mode is anything but a plain file or folder without set-id bits."""
    kind = stat.S_IFMT(mode)
    if kind in _SPECIAL:
        return _SPECIAL[kind]
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "type", f"declares an unknown file type ({oct(kind)})"
    if mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX):
        return "setuid", "declares a set-user-ID, set-group-ID or sticky bit"
    if name.endswith("/") and kind == stat.S_IFREG:
        return "type", "is a file whose name ends with `/`"
    return None


def plan(members: Sequence[Member], max_bytes: int = MAX_BYTES, max_members: int = MAX_MEMBERS) -> list[Member]:
    """The members in the order they are written, or UnsafeMember for the first that cannot be unpacked safely."""
    if len(members) > max_members:
        raise UnsafeMember(members[max_members].name, "too-many", f"is past the limit of {max_members} members")
    files: set[str] = set()
    folders: set[str] = set()
    listed: dict[str, bool] = {}
    total = 0
    for member in members:
        problem = name_problem(member.name) or mode_problem(member.name, member.mode)
        if problem:
            raise UnsafeMember(member.name, *problem)
        path = member.name.rstrip("/")
        if path in listed:
            if listed[path] != member.is_folder:
                raise UnsafeMember(path, "clash", f"is both a file and a folder ({path} and {path}/)")
            raise UnsafeMember(member.name, "duplicate", "appears twice")
        listed[path] = member.is_folder
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folders.add("/".join(parts[:depth]))
        (folders if member.is_folder else files).add(path)
        total += 0 if member.is_folder else max(0, member.size)
        if total > max_bytes:
            raise UnsafeMember(member.name, "too-large", f"takes the members past {max_bytes} bytes in all")
    clash = files & folders
    if clash:
        name = min(clash)
        raise UnsafeMember(name, "clash", f"is both a file and a folder (e.g. {name} and {name}/...)")
    return sorted(members, key=lambda member: member.name.rstrip("/").split("/"))


class _Folders:
    """Open descriptors of the folder being filled and its parents, reused while members share them."""

    def __init__(self, root: int):
        self.chain: list[tuple[str, int]] = []
        self.root = root

    def open(self, parts: Sequence[str], member: str) -> int:
        """The descriptor of folder `parts` (created as needed), closing those the previous member needed."""
        common = 0
        while common < min(len(self.chain), len(parts)) and self.chain[common][0] == parts[common]:
            common += 1
        for _, descriptor in self.chain[common:]:
            os.close(descriptor)
        del self.chain[common:]
        for part in parts[common:]:
            parent = self.chain[-1][1] if self.chain else self.root
            self.chain.append((part, _folder(parent, part, member)))
        return self.chain[-1][1] if self.chain else self.root

    def close(self) -> None:
        for _, descriptor in self.chain:
            os.close(descriptor)
        self.chain = []


def _folder(parent: int, part: str, member: str) -> int:
    """The sub-folder `part` of `parent`, created when missing; a file or link there is a clash."""
    try:
        os.mkdir(part, 0o755, dir_fd=parent)
    except FileExistsError:
        pass
    try:
        return os.open(part, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        raise UnsafeMember(member, "clash", f"needs folder {part!r}, which is a file or a link ({exc.strerror})") \
            from None


def _write(folder: int, part: str, member: Member, budget: int) -> int:
    """Create the file (never over an existing one, never through a link) and copy its bytes; the bytes written."""
    mode = 0o755 if member.mode & 0o111 else 0o644
    try:
        descriptor = os.open(part, _FILE_FLAGS, mode, dir_fd=folder)
    except FileExistsError:
        raise UnsafeMember(member.name, "clash", "collides with another member (on this file system)") from None
    written = 0
    try:
        for chunk in member.chunks():
            written += len(chunk)
            if written > member.size or written > budget:
                raise UnsafeMember(member.name, "size", f"holds more than the {member.size} bytes it declares")
            view = memoryview(chunk)
            while view:
                view = view[os.write(descriptor, view):]
    finally:
        os.close(descriptor)
    if written != member.size:
        raise UnsafeMember(member.name, "size", f"holds {written} bytes, not the {member.size} it declares")
    return written


def _fresh_folder(destination: Path) -> int:
    """Create the destination (it must not exist) and open it; refuse if what opened is not ours and empty."""
    os.mkdir(destination, 0o700)
    descriptor = os.open(destination, _DIR_FLAGS)
    info = os.fstat(descriptor)
    if (hasattr(os, "geteuid") and info.st_uid != os.geteuid()) or os.listdir(descriptor):
        os.close(descriptor)
        raise FileExistsError(f"{destination} was replaced while it was being created")
    return descriptor


def unpack(members: Sequence[Member], destination: Path, *, max_bytes: int = MAX_BYTES,
           max_members: int = MAX_MEMBERS) -> Unpacked:
    """Write the members into `destination`, which must not exist; UnsafeMember (and nothing left) when one is
    unsafe, whatever any policy says."""
    ordered = plan(members, max_bytes, max_members)
    destination = Path(os.path.abspath(destination))
    root = _fresh_folder(destination)
    folders = _Folders(root)
    files = written = 0
    made: set[str] = set()
    try:
        for member in ordered:
            parts = member.name.rstrip("/").split("/")
            if member.is_folder:
                folders.open(parts, member.name)
            else:
                parent = folders.open(parts[:-1], member.name)
                written += _write(parent, parts[-1], member, max_bytes - written)
                files += 1
            made.update("/".join(parts[:depth]) for depth in range(1, len(parts) + member.is_folder))
    except BaseException:
        folders.close()
        os.close(root)
        shutil.rmtree(destination, ignore_errors=True)
        raise
    folders.close()
    os.close(root)
    return Unpacked(destination, files, len(made), written)
