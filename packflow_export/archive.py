"""Writing the archive: reproducible, streamed in one pass, atomic, checksummed. Knows nothing of the rules.

The writer gets each file's size and CRC-32 from the read that checked it, so every local header can be
written before the data (a deflated member's compressed size follows in a data descriptor): the archive is
written strictly in order, hashed as it is written, and never read back. Proof that it reads back is made
on the way: every stored member's bytes are CRC-checked as they are copied (a file that changed since it was
checked fails the export), every deflated member's output is inflated again in memory and CRC-checked, and
the headers of the finished file are parsed back. The hashing and writing run on their own thread, with the
data flushed to disk as it goes, so reading, compressing and writing overlap.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import tempfile
import threading
from pathlib import Path
from typing import Callable, NamedTuple, Optional

from . import faults, zipformat
from .errors import CannotWrite

BUFFER_BYTES = 1 << 20
SAMPLE_BYTES = 1 << 16
DEFLATE_LEVEL = 1  # ISA-L level 1: fastest level with a useful ratio; fixed, so archives are reproducible
DEFLATE_BLOCK_BYTES = 1 << 20  # fixed: the archive's bytes depend on it
DEFLATE_THREADS = max(1, min(4, os.cpu_count() or 1))
STORE_RATIO = 0.95  # deflate only when the sample shrinks below this
SYNC_EVERY_BYTES = 32 << 20  # flush written data to disk as it goes: writeback overlaps the work
FIXED_DATE_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest date a zip can hold
LAST_DATE_EPOCH = 4354819199  # 2107-12-31T23:59:59Z, the last
# Already-compressed formats: stored without sampling.
STORED_SUFFIXES = frozenset({
    ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".whl", ".jar", ".png", ".jpg", ".jpeg", ".gif",
    ".webp", ".avif", ".heic", ".mp3", ".mp4", ".m4a", ".ogg", ".webm", ".mkv", ".mov", ".pdf", ".docx", ".xlsx",
    ".pptx", ".parquet", ".lz4", ".br",
})


class Entry(NamedTuple):
    """A file to pack, as the checks read it."""

    name: str  # POSIX path inside the archive
    size: int
    crc: int  # CRC-32 of the content the checks read
    executable: bool
    open: Callable  # () -> binary stream of the same content (it raises if the file changed)


class Member(NamedTuple):
    name: str
    size: int
    method: str  # "deflated" or "stored"


class ArchiveResult(NamedTuple):
    path: Path
    sha256: str
    size: int
    members: list
    sidecar: Path


class SourceChanged(Exception):
    """A file's content is not what the checks read: it changed during the export."""

    def __init__(self, name: str, what: str):
        super().__init__(f"{name} {what}")
        self.name = name


class InterruptedAfterCommit(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived after the archive and its checksum were in place: both are complete."""

    def __init__(self, result: ArchiveResult, signal_exception: BaseException):
        super().__init__(str(result.path))
        self.result, self.signal_exception = result, signal_exception


def clamp_epoch(epoch: int) -> int:
    return min(max(epoch, FIXED_DATE_EPOCH), LAST_DATE_EPOCH)


def choose_method(stream, name: str, size: int) -> str:
    """Store what will not shrink (by suffix, or a deflated sample from the start and middle), deflate the rest."""
    if size == 0 or os.path.splitext(name)[1].lower() in STORED_SUFFIXES:
        return "stored"
    codec = zipformat.codec()
    sample = stream.read(SAMPLE_BYTES)
    if size > 4 * SAMPLE_BYTES:
        stream.seek(size // 2)
        sample += stream.read(SAMPLE_BYTES)
    stream.seek(0)
    compressor = codec.compressobj(DEFLATE_LEVEL, codec.DEFLATED, -15)
    shrunk = len(compressor.compress(sample)) + len(compressor.flush())
    return "deflated" if shrunk < STORE_RATIO * len(sample) else "stored"


class BlockDeflater:
    """Deflate in fixed 1 MiB blocks, on worker threads once a file spans several blocks.

    Each block is compressed on its own and ends with a sync flush (the last with finish), so the blocks join
    into one valid raw deflate stream whose bytes depend only on the content, never on the number of threads.
    """

    def __init__(self, codec=None):
        self._codec = codec or zipformat.codec()
        self._buffer = bytearray()
        self._pending: list = []
        self._pool = None

    def _block(self, data: bytes, final: bool) -> bytes:
        codec = self._codec
        compressor = codec.compressobj(DEFLATE_LEVEL, codec.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(codec.Z_FINISH if final else codec.Z_SYNC_FLUSH)

    def compress(self, data) -> bytes:
        self._buffer += data
        output = []
        while len(self._buffer) > DEFLATE_BLOCK_BYTES:
            block = bytes(self._buffer[:DEFLATE_BLOCK_BYTES])
            del self._buffer[:DEFLATE_BLOCK_BYTES]
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=DEFLATE_THREADS)
            self._pending.append(self._pool.submit(self._block, block, False))
            while self._pending and (self._pending[0].done() or len(self._pending) > 2 * DEFLATE_THREADS):
                output.append(self._pending.pop(0).result())
        return b"".join(output)

    def flush(self) -> bytes:
        output = [future.result() for future in self._pending]
        output.append(self._block(bytes(self._buffer), final=True))
        self._pending, self._buffer = [], bytearray()
        self.close()
        return b"".join(output)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class _Writer:
    """Writes, hashes and periodically flushes to disk on its own thread, in the order bytes are put."""

    def __init__(self, descriptor: int):
        self.descriptor = descriptor
        self.offset = 0
        self.digest = hashlib.sha256()
        self._queue: queue.Queue = queue.Queue(maxsize=16)
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="packflow-export-writer", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> None:
        if data:
            if self._error is not None:
                raise self._error
            self.offset += len(data)
            self._queue.put(data)

    def _run(self) -> None:
        unsynced = 0
        while True:
            data = self._queue.get()
            if data is None:
                break
            if self._error is not None:
                continue
            try:
                faults.point("write")
                view = memoryview(data)
                while view:
                    written = os.write(self.descriptor, view)
                    view = view[written:]
                self.digest.update(data)
                unsynced += len(data)
                if unsynced >= SYNC_EVERY_BYTES:
                    os.fdatasync(self.descriptor) if hasattr(os, "fdatasync") else os.fsync(self.descriptor)
                    unsynced = 0
            except BaseException as exc:  # re-raised in the producing thread
                self._error = exc

    def close(self) -> str:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        os.fsync(self.descriptor)
        return self.digest.hexdigest()

    def abandon(self) -> None:
        self._error = self._error or RuntimeError("abandoned")
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=10)


def _copy_member(entry: Entry, writer: _Writer, date: tuple, progress) -> tuple:
    """Write one member; returns (method, compressed size, its central directory record's fields)."""
    codec = zipformat.codec()
    name = entry.name.encode("utf-8")
    flags = zipformat.FLAG_UTF8 if not entry.name.isascii() else 0
    with entry.open() as source:
        method = choose_method(source, entry.name, entry.size)
        zip64 = entry.size > zipformat.ZIP64_LIMIT
        offset = writer.offset
        if method == "stored":
            writer.put(zipformat.local_header(name, flags, zipformat.STORED, *date, entry.crc, entry.size, entry.size,
                                              zip64))
        else:
            flags |= zipformat.FLAG_DESCRIPTOR
            writer.put(zipformat.local_header(name, flags, zipformat.DEFLATED, *date, 0, 0, 0, zip64))
            deflater, checker = BlockDeflater(codec), codec.decompressobj(-15)
        crc, count, compressed, inflated_crc = 0, 0, 0, 0
        try:
            faults.point("read", entry.name)
            while True:
                try:
                    chunk = source.read(min(BUFFER_BYTES, entry.size - count + 1))
                except OSError as exc:
                    raise SourceChanged(entry.name, f"could not be read: {exc.strerror or exc}") from None
                if not chunk:
                    break
                count += len(chunk)
                if count > entry.size:
                    raise SourceChanged(entry.name, "grew while being packed")
                crc = codec.crc32(chunk, crc)
                if method == "stored":
                    writer.put(chunk)
                else:
                    out = deflater.compress(chunk)
                    compressed += len(out)
                    inflated_crc = codec.crc32(checker.decompress(out), inflated_crc)
                    writer.put(out)
                if progress:
                    progress(len(chunk))
            if method == "deflated":
                out = deflater.flush()
                compressed += len(out)
                inflated_crc = codec.crc32(checker.decompress(out) + checker.flush(), inflated_crc)
                writer.put(out)
        finally:
            if method == "deflated":
                deflater.close()
    if count != entry.size or crc != entry.crc:
        raise SourceChanged(entry.name, "shrank while being packed" if count < entry.size else "changed while being packed")
    if method == "deflated":
        if inflated_crc != crc or not checker.eof:
            raise RuntimeError(f"the deflate stream of {entry.name} does not inflate back to its content")
        writer.put(zipformat.data_descriptor(crc, compressed, entry.size, zip64))
    else:
        compressed = entry.size
    mode = stat.S_IFREG | (0o755 if entry.executable else 0o644)
    record = zipformat.central_entry(name, flags, zipformat.DEFLATED if method == "deflated" else zipformat.STORED,
                                     *date, crc, compressed, entry.size, mode, offset)
    return method, record


def _check_written(path: Path, members: list, comment: bytes) -> None:
    """Parse the finished file's records back: the names and order written are the ones a reader finds."""
    with open(path, "rb") as handle:
        end = zipformat.read_end_record(handle, os.fstat(handle.fileno()).st_size)
        entries = zipformat.read_central_directory(handle, end, len(members))
        if [e.name for e in entries] != [m.name for m in members] or end.comment != comment:
            raise RuntimeError("the written central directory does not list what was written")
        for entry in entries:
            header = zipformat.read_local_header(handle, entry.header_offset)
            if header.raw_name != entry.raw_name or header.method != entry.method:
                raise RuntimeError(f"the local header of {entry.name} does not match its directory entry")


@contextlib.contextmanager
def signals_held():
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
def folder_lock(folder: Path):
    """Serialise writers of one output folder: a lock on the folder itself, so no lock file is left behind."""
    try:
        import fcntl
    except ImportError:  # Windows: a lock file beside the archives
        import msvcrt

        with open(folder / ".packflow-export.lock", "a+b") as handle:
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            yield
        return
    descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _temp_file(folder: Path, prefix: str, suffix: str) -> tuple:
    """A new file with a random name (O_EXCL: never an existing file or a planted link), and its path."""
    with signals_held():  # an interrupt cannot land between creating the file and knowing its name
        descriptor, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    return descriptor, Path(name)


def write_archive(entries: list, target: Path, *, comment: bytes = b"", epoch: int = FIXED_DATE_EPOCH,
                  force: bool = False, progress: Optional[Callable[[int], None]] = None) -> ArchiveResult:
    """Write `entries` (sorted) to `target` and its `.sha256` sidecar, atomically.

    On any error or interrupt the temporary files are removed and nothing exists under the final names;
    writers of one folder take turns, so every success leaves a complete archive and sidecar.
    """
    target = Path(target)
    folder = target.parent
    sidecar = target.with_name(target.name + ".sha256")
    date = zipformat.dos_date_time(clamp_epoch(epoch))
    with folder_lock(folder):
        faults.point("locked")
        if os.path.lexists(target) and not force:
            raise CannotWrite(f"{target} already exists; a release is immutable (use --force to overwrite)")
        temps: list = []
        writer, descriptor, result = None, None, None
        try:
            descriptor, temp = _temp_file(folder, f".{target.name}.", ".partial")
            temps.append(temp)
            writer = _Writer(descriptor)
            members, records = [], []
            for entry in entries:
                method, record = _copy_member(entry, writer, date, progress)
                members.append(Member(entry.name, entry.size, method))
                records.append(record)
            directory = b"".join(records)
            cd_offset = writer.offset
            writer.put(directory)
            writer.put(zipformat.end_records(len(records), cd_offset, len(directory), comment))
            digest = writer.close()
            writer = None
            os.close(descriptor)
            descriptor = None
            _check_written(temp, members, comment)
            os.chmod(temp, 0o644)
            faults.point("sidecar")
            side_descriptor, side_temp = _temp_file(folder, f".{sidecar.name}.", ".partial")
            temps.append(side_temp)
            with os.fdopen(side_descriptor, "wb") as handle:
                handle.write(f"{digest}  {target.name}\n".encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(side_temp, 0o644)
            pending = ArchiveResult(target, digest, os.stat(temp).st_size, members, sidecar)
            with signals_held():  # the sidecar, then the archive: an interrupt cannot separate them
                os.replace(side_temp, sidecar)
                os.replace(temp, target)
                temps.clear()
                result = pending
                _fsync_folder(folder)
            return result
        except BaseException as exc:
            if writer is not None:
                writer.abandon()
            if descriptor is not None:
                with contextlib.suppress(OSError):
                    os.close(descriptor)
            for path in temps:
                with contextlib.suppress(OSError):
                    path.unlink()
            if result is not None and isinstance(exc, KeyboardInterrupt):
                raise InterruptedAfterCommit(result, exc) from None
            if isinstance(exc, OSError):
                raise CannotWrite(f"cannot write {target}: {exc.strerror or exc}") from None
            raise
