"""File-system primitives for writing safely: files that appear whole or not at all, a lock per output folder, and
interrupts held while a few renames run.

Every write of a file another program may read (the archive, its .sha256, the SBOM, bump's edits, caches and seals)
goes through AtomicFiles: a new file under a random name (O_EXCL, beside its target), then a rename.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Iterator, Optional, Union


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for a few instructions; they are delivered when the block ends."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Serialise writers of one output folder: a lock on the folder itself, so no lock file is left behind."""
    try:
        import fcntl
    except ImportError:  # Windows: a lock file beside the archives
        import msvcrt

        with open(folder / ".packflow-export.lock", "a+b") as handle:
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined,unused-ignore]
            yield
        return
    descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: not every platform can open a folder)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class AtomicFiles:
    """Files written under temporary names beside their targets, then renamed into place together by commit().

    Leaving the `with` block without commit (an error, an interrupt) removes every temporary file: nothing
    half-written is ever found under a target's name.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []  # (temporary, target), in order of creation

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(self, kind: Optional[type[BaseException]], value: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        self.discard()

    def create(self, target: Path) -> tuple[int, Path]:
        """A new empty file for `target` (mode 0600, a random name, never an existing file or a planted link):
        its open descriptor, which the caller closes, and its path."""
        target = Path(target)
        with signals_held():  # an interrupt cannot land between creating the file and recording its name
            descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
            self._pending.append((Path(name), target))
        return descriptor, Path(name)

    def write(self, target: Path, data: Union[bytes, str], mode: Optional[int] = 0o644) -> Path:
        """Write `data` (text as UTF-8, newlines untouched) for `target`, flushed to disk; `mode` None keeps 0600."""
        descriptor, temp = self.create(target)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        return temp

    def commit(self) -> None:
        """Rename every file into place, the last created first (a checksum lands before what it describes),
        with interrupts held so none can separate them."""
        with signals_held():
            for temp, target in reversed(self._pending):
                os.replace(temp, target)
            folders = {target.parent for _, target in self._pending}
            self._pending = []
            for folder in folders:
                fsync_folder(folder)

    def discard(self) -> None:
        """Remove the temporary files not yet committed."""
        for temp, _ in self._pending:
            with contextlib.suppress(OSError):
                temp.unlink()
        self._pending = []


def atomic_write(target: Path, data: Union[bytes, str], mode: Optional[int] = 0o644) -> Path:
    """Write one file whole or not at all: through a temporary file beside it and a rename."""
    with AtomicFiles() as files:
        files.write(target, data, mode)
        files.commit()
    return Path(target)
