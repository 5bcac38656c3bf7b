"""A project's files as the rules read them: a folder on disk, or the members of an archive.

Both views answer the same questions (is this a file, give me its bytes up to a limit), so check, export and
verify run the same rules. Reading never follows a link out of the project, never blocks on a FIFO and
never reads more than asked.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator, Literal, Mapping, Optional, Protocol, Tuple, Union

CHUNK_BYTES = 1 << 20
MAX_TEXT_BYTES = 10 * 1024 * 1024
MAX_SOURCE_BYTES = 5 * 1024 * 1024

Kind = Literal["file", "dir", "other"]
StrPath = Union[str, "os.PathLike[str]"]
# What must stay the same for a file to count as unchanged: device, inode, size, mtime_ns, ctime_ns.
Identity = Tuple[int, int, int, int, int]

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


class Unreadable(Exception):
    """A project file cannot be read: the message says why, in words for the user (with the line and the fix when
    they are known)."""

    def __init__(self, reason: str, line: Optional[int] = None, hint: Optional[str] = None):
        super().__init__(reason)
        self.line, self.hint = line, hint


class FileChanged(Exception):
    """A file changed (or was replaced) between two reads of one run."""


class CorruptMember(Exception):
    """An archive member's bytes do not inflate to what its directory entry declares."""


def open_regular(path: StrPath, identity: Optional[Identity] = None) -> io.FileIO:
    """Open a regular file without following a final symlink or blocking on a FIFO; optionally insist on its identity.

    identity is (device, inode, size, mtime_ns, ctime_ns) as identity_of() gives; a mismatch raises FileChanged.
    """
    return os.fdopen(_open_descriptor(path, identity), "rb", buffering=0)


def read_regular(path: StrPath, identity: Identity, limit: int) -> bytes:
    """At most `limit` bytes of the file the walk saw (FileChanged if it is another one now), without a file object."""
    descriptor = _open_descriptor(path, identity)
    try:
        pieces: list[bytes] = []
        remaining = limit
        while remaining > 0 and (piece := os.read(descriptor, remaining)):
            pieces.append(piece)
            remaining -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)
    finally:
        os.close(descriptor)


def read_chunks(path: StrPath, identity: Identity) -> Iterator[bytes]:
    """The file the walk saw, in CHUNK_BYTES pieces (FileChanged if it is another one now)."""
    with open_regular(path, identity) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk


def _open_descriptor(path: StrPath, identity: Optional[Identity]) -> int:
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        if identity is not None:
            raise FileChanged("was deleted") from None
        raise Unreadable("does not exist") from None
    except OSError as exc:
        if identity is not None and exc.errno in (errno.ELOOP, errno.EMLINK):
            raise FileChanged("was replaced by a symbolic link") from None
        raise Unreadable(f"cannot be read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe, socket or device)"
            if identity is not None:
                raise FileChanged("was replaced by a pipe, socket or device" if kind.startswith("not") else
                                  f"was replaced by {kind}")
            raise Unreadable(f"is {kind}")
        if identity is not None and identity_of(info) != identity:
            raise FileChanged("was modified" if identity[:2] == identity_of(info)[:2] else "was replaced")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return descriptor
    except BaseException:
        os.close(descriptor)
        raise


def identity_of(info: os.stat_result) -> Identity:
    """What must stay the same for a file to count as unchanged: device, inode, size and both timestamps."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def read_limited(stream: IO[bytes], limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise Unreadable(f"is over the {limit:,}-byte limit for this file")
    return data


class View(Protocol):
    """What the rules ask of a project's files, wherever they are."""

    label: str

    def kind(self, rel: str) -> Optional[Kind]: ...

    def read(self, rel: str, limit: int) -> bytes: ...


class DirectoryView:
    """A project folder. Paths are POSIX and relative to the root; links are followed only inside the project."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.label = str(self.root)

    def _inside(self, rel: str) -> Path:
        path = self.root.joinpath(*PurePosixPath(rel).parts)
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                raise Unreadable("is a broken or looping link") from None
            if target != self.root and self.root not in target.parents:
                raise Unreadable("links outside the project")
            return target
        return path

    def kind(self, rel: str) -> Optional[Kind]:
        """'file', 'dir', 'other' or None (missing); a link counts as what it points to inside the project."""
        try:
            info = self._inside(rel).stat()
        except (Unreadable, OSError):
            return "other" if os.path.lexists(self.root.joinpath(*PurePosixPath(rel).parts)) else None
        return "file" if stat.S_ISREG(info.st_mode) else "dir" if stat.S_ISDIR(info.st_mode) else "other"

    def read(self, rel: str, limit: int) -> bytes:
        with open_regular(self._inside(rel)) as stream:
            return read_limited(stream, limit)


class ArchiveView:
    """The members of an archive verify has found sound; reads inflate at most `limit` bytes."""

    def __init__(self, label: str, members: Mapping[str, int], opener: Callable[[str], Iterator[bytes]]):
        self.label = label
        self.members = members  # name -> size
        self._opener = opener

    def kind(self, rel: str) -> Optional[Kind]:
        if rel in self.members:
            return "file"
        prefix = rel.rstrip("/") + "/"
        return "dir" if any(name.startswith(prefix) for name in self.members) else None

    def read(self, rel: str, limit: int) -> bytes:
        if rel not in self.members:
            raise Unreadable("does not exist")
        if self.members[rel] > limit:
            raise Unreadable(f"is over the {limit:,}-byte limit for this file")
        return b"".join(self._opener(rel))


# Reading a file as text: one way for every reader, so a file that cannot be read is reported the same way -------

def read_text(view: View, rel: str, limit: int = MAX_TEXT_BYTES) -> str:
    """The file as UTF-8 text (a BOM is allowed), or Unreadable saying why, with the line of a bad byte."""
    data = view.read(rel, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Unreadable(f"is not UTF-8 text (byte {exc.start} is invalid)", line, "Save the file as UTF-8.") from None


def decode_source(data: bytes) -> str:
    """Python source as Python reads it: a BOM or a coding cookie decides the encoding, else UTF-8."""
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise Unreadable(f"cannot be decoded as Python source: {exc}", None,
                         "Save it as UTF-8, or declare its encoding in a coding cookie (PEP 263).") from None


def read_source(view: View, rel: str, limit: int = MAX_SOURCE_BYTES) -> str:
    """A Python module's source, or Unreadable."""
    return decode_source(view.read(rel, limit))
