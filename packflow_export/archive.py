"""Writing the archive: reproducible, streamed in one pass, atomic, checksummed. Knows nothing of the rules.

The writer gets each file's size and CRC-32 from the read that checked it, so every local header can be
written before the data (a deflated member's CRC and compressed size follow in a data descriptor, so it can be
compressed while the checks still read it): the archive is written strictly in order, hashed as it is written,
and never read back. Proof that it reads back is made
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
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import IO, Callable, Iterable, Iterator, NamedTuple, Optional, Union

from . import faults, zipformat
from .errors import CannotWrite

BUFFER_BYTES = 1 << 20
SAMPLE_BYTES = 1 << 16
SMALL_FILE_BYTES = 8 << 10  # files below this are deflated by zlib (see small_file_codec)
DEFLATE_BLOCK_BYTES = 1 << 20  # fixed: the archive's bytes depend on it
DEFLATE_THREADS = max(1, min(4, os.cpu_count() or 1))
STORE_RATIO = 0.95  # deflate only when the sample shrinks below this
SYNC_EVERY_BYTES = 32 << 20  # flush written data to disk as it goes: writeback overlaps the work
BATCH_BYTES = 256 << 10  # small writes are gathered into pieces this large before they go to the writing threads
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
    crc: Callable[[], int]  # the CRC-32 of the content the checks read; may wait for them, or raise to stop the write
    executable: bool
    open: Callable[[], IO[bytes]]  # a binary stream of the same content (it raises if the file changed)


class Member(NamedTuple):
    name: str
    size: int
    method: str  # "deflated" or "stored"


class ArchiveResult(NamedTuple):
    path: Path
    sha256: str
    size: int
    members: list[Member]
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


def deflate_level(codec: ModuleType) -> int:
    """ISA-L's level 0, its fastest, and the only one whose output is the same from process to process: at levels
    1-3 the matches it picks vary with the memory layout (ASLR), measured as 5 of 20 runs differing. zlib: level 1,
    its fastest."""
    return 0 if codec.__name__.startswith("isal") else 1


def small_file_codec(size: int) -> ModuleType:
    """The deflate for a file of this size. ISA-L's level 0 codes with fixed Huffman tables, which cost a small
    file a third of its ratio (a 512-byte source file: 0.71 against zlib's 0.47); below 8 KiB zlib's level 1
    builds its own tables, at about 13 µs a file."""
    import zlib

    return zlib if size < SMALL_FILE_BYTES else zipformat.codec()


def deflate_block(codec: ModuleType, data: bytes, final: bool) -> bytes:
    """One block, compressed on its own and proven: it inflates back to exactly `data`. Blocks share no state,
    so the stream they form inflates to the whole file: this is the archive's read-back test, made where it is
    cheapest (in memory, on the compressing thread), with nothing read back from disk."""
    compressor = codec.compressobj(deflate_level(codec), codec.DEFLATED, -15)
    output = compressor.compress(data) + compressor.flush(codec.Z_FINISH if final else codec.Z_SYNC_FLUSH)
    checker = codec.decompressobj(-15)
    if checker.decompress(output) != data or checker.eof != final or checker.unused_data:
        raise RuntimeError("a deflated block does not inflate back to its content")
    return output


def plan_small(data: bytes, name: str) -> tuple[str, Optional[bytes]]:
    """(method, compressed bytes or None) for a file of one block: deflated when that saves at least 5%."""
    if not data or os.path.splitext(name)[1].lower() in STORED_SUFFIXES:
        return "stored", None
    output = deflate_block(small_file_codec(len(data)), data, final=True)
    return ("deflated", output) if len(output) < STORE_RATIO * len(data) else ("stored", None)


def choose_method(stream: IO[bytes], name: str, size: int) -> str:
    """Store what will not shrink (by suffix, by the file itself when it is one block, or by a deflated sample of
    its start and middle), deflate the rest."""
    if size <= DEFLATE_BLOCK_BYTES:
        method = plan_small(stream.read(size + 1), name)[0]
        stream.seek(0)
        return method
    if os.path.splitext(name)[1].lower() in STORED_SUFFIXES:
        return "stored"
    codec = zipformat.codec()
    sample = stream.read(SAMPLE_BYTES)
    stream.seek(size // 2)
    sample += stream.read(SAMPLE_BYTES)
    stream.seek(0)
    compressor = codec.compressobj(deflate_level(codec), codec.DEFLATED, -15)
    shrunk = len(compressor.compress(sample)) + len(compressor.flush())
    return "deflated" if shrunk < STORE_RATIO * len(sample) else "stored"


class BlockDeflater:
    """Deflate in fixed 1 MiB blocks, on worker threads once a file spans several blocks.

    Each block is compressed on its own and ends with a sync flush (the last with finish), so the blocks join
    into one valid raw deflate stream whose bytes depend only on the content, never on the number of threads.
    """

    def __init__(self, codec: Optional[ModuleType] = None):
        self._codec = codec or zipformat.codec()
        self._buffer = bytearray()
        self._pending: list[Future[bytes]] = []
        self._pool: Optional[ThreadPoolExecutor] = None

    def _block(self, data: bytes, final: bool) -> bytes:
        return deflate_block(self._codec, data, final)

    def compress(self, data: Union[bytes, memoryview]) -> bytes:
        self._buffer += data
        output = []
        while len(self._buffer) > DEFLATE_BLOCK_BYTES:
            block = bytes(self._buffer[:DEFLATE_BLOCK_BYTES])
            del self._buffer[:DEFLATE_BLOCK_BYTES]
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=DEFLATE_THREADS)
            self._pending.append(self._pool.submit(self._block, block, False))
            while self._pending and (self._pending[0].done() or len(self._pending) > DEFLATE_THREADS + 1):
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
    """Writes (flushing to disk as it goes) and hashes on two threads of their own, in the order bytes are put."""

    def __init__(self, descriptor: int):
        self.descriptor = descriptor
        self.offset = 0
        self.digest = hashlib.sha256()
        self._error: Optional[BaseException] = None
        self._queues: list[queue.Queue[Optional[bytes]]] = [queue.Queue(maxsize=8), queue.Queue(maxsize=8)]
        self._threads = [threading.Thread(target=self._run, args=(q, work), daemon=True,
                                          name=f"packflow-export-{work.__name__.strip('_')}")
                         for q, work in zip(self._queues, (self._write, self._hash), strict=True)]
        self._unsynced = 0
        self._batch = bytearray()
        for thread in self._threads:
            thread.start()

    def put(self, data: bytes) -> None:
        """Queue bytes for writing; small pieces are gathered first, so small files cost few thread hand-offs."""
        if not data:
            return
        if self._error is not None:
            raise self._error
        self.offset += len(data)
        if len(data) >= BATCH_BYTES:
            self._flush_batch()
            self._send(data)
        else:
            self._batch += data
            if len(self._batch) >= BATCH_BYTES:
                self._flush_batch()

    def _flush_batch(self) -> None:
        if self._batch:
            self._send(bytes(self._batch))
            self._batch.clear()

    def _send(self, data: bytes) -> None:
        for pending in self._queues:
            pending.put(data)

    def _run(self, pending: queue.Queue[Optional[bytes]], work: Callable[[bytes], None]) -> None:
        while True:
            data = pending.get()
            if data is None:
                break
            if self._error is None:
                try:
                    work(data)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the producing thread
                    self._error = exc

    def _write(self, data: bytes) -> None:
        faults.point("write")
        view = memoryview(data)
        while view:
            view = view[os.write(self.descriptor, view):]
        self._unsynced += len(data)
        if self._unsynced >= SYNC_EVERY_BYTES:
            os.fdatasync(self.descriptor) if hasattr(os, "fdatasync") else os.fsync(self.descriptor)
            self._unsynced = 0

    def _hash(self, data: bytes) -> None:
        self.digest.update(data)

    def close(self) -> str:
        self._flush_batch()
        for pending in self._queues:
            pending.put(None)
        for thread in self._threads:
            thread.join()
        if self._error is not None:
            raise self._error
        os.fsync(self.descriptor)
        return self.digest.hexdigest()

    def abandon(self) -> None:
        self._error = self._error or RuntimeError("abandoned")
        for pending in self._queues:
            while True:
                try:
                    pending.get_nowait()
                except queue.Empty:
                    break
            with contextlib.suppress(queue.Full):
                pending.put_nowait(None)
        for thread in self._threads:
            thread.join(timeout=10)


def _read_source(source: IO[bytes], entry: Entry, size: int) -> bytes:
    try:
        return source.read(size)
    except OSError as exc:
        raise SourceChanged(entry.name, f"could not be read: {exc.strerror or exc}") from None


def _copy_member(entry: Entry, writer: _Writer, date: tuple[int, int],
                 progress: Optional[Callable[[int], None]]) -> tuple[str, bytes]:
    """Write one member; returns (method, its central directory record)."""
    codec = zipformat.codec()
    name = entry.name.encode("utf-8")
    flags = zipformat.FLAG_UTF8 if not entry.name.isascii() else 0
    zip64 = entry.size > zipformat.ZIP64_LIMIT
    offset = writer.offset
    with entry.open() as source:
        if entry.size <= DEFLATE_BLOCK_BYTES:  # one block: read once, decide by compressing it whole
            data = _read_source(source, entry, entry.size + 1)
            method, output = plan_small(data, entry.name) if len(data) == entry.size else ("stored", None)
            crc, count = codec.crc32(data), len(data)
            if count == entry.size and crc == entry.crc():
                if method == "stored":
                    writer.put(zipformat.local_header(name, flags, zipformat.STORED, *date, crc, count, count, zip64))
                    writer.put(data)
                else:
                    flags |= zipformat.FLAG_DESCRIPTOR
                    writer.put(zipformat.local_header(name, flags, zipformat.DEFLATED, *date, 0, 0, 0, zip64))
                    writer.put(output or b"")  # deflated: plan_small gave the bytes
                if progress:
                    progress(count)
            compressed = len(output or b"") if method == "deflated" else count
        else:
            method = choose_method(source, entry.name, entry.size)
            if method == "stored":  # the CRC goes in the header, before the data: the checks must have read the file
                writer.put(zipformat.local_header(name, flags, zipformat.STORED, *date, entry.crc(), entry.size,
                                                  entry.size, zip64))
            else:
                flags |= zipformat.FLAG_DESCRIPTOR
                writer.put(zipformat.local_header(name, flags, zipformat.DEFLATED, *date, 0, 0, 0, zip64))
            crc, count, compressed = _stream_member(source, entry, method, writer, codec, progress)
    if count != entry.size or crc != entry.crc():
        raise SourceChanged(entry.name, "shrank while being packed" if count < entry.size else
                            "grew while being packed" if count > entry.size else "changed while being packed")
    if method == "deflated":
        writer.put(zipformat.data_descriptor(crc, compressed, entry.size, zip64))
    mode = stat.S_IFREG | (0o755 if entry.executable else 0o644)
    record = zipformat.central_entry(name, flags, zipformat.DEFLATED if method == "deflated" else zipformat.STORED,
                                     *date, crc, compressed, entry.size, mode, offset)
    return method, record


def _stream_member(source: IO[bytes], entry: Entry, method: str, writer: _Writer, codec: ModuleType,
                   progress: Optional[Callable[[int], None]]) -> tuple[int, int, int]:
    """Copy or deflate a file of several blocks, chunk by chunk: (CRC-32, bytes read, bytes written)."""
    deflater = BlockDeflater(codec) if method == "deflated" else None
    crc, count, written = 0, 0, 0
    try:
        while chunk := _read_source(source, entry, min(BUFFER_BYTES, entry.size - count + 1)):
            count += len(chunk)
            if count > entry.size:
                raise SourceChanged(entry.name, "grew while being packed")
            crc = codec.crc32(chunk, crc)
            out = chunk if deflater is None else deflater.compress(chunk)
            written += len(out)
            writer.put(out)
            if progress:
                progress(len(chunk))
        if deflater is not None:
            out = deflater.flush()
            written += len(out)
            writer.put(out)
    finally:
        if deflater is not None:
            deflater.close()
    return crc, count, written


def _check_written(path: Path, members: list[Member], comment: bytes) -> None:
    """Parse the finished file's records back: the names and order written are the ones a reader finds."""
    with open(path, "rb") as handle:
        end = zipformat.read_end_record(handle, os.fstat(handle.fileno()).st_size)
        if end.entries != len(members) or end.comment != comment:
            raise RuntimeError("the written end record does not describe what was written")
        for entry, member in zip(zipformat.iter_central_directory(handle, end, len(members)), members, strict=False):
            header = zipformat.read_local_header(handle, entry.header_offset)
            if entry.name != member.name or header.raw_name != entry.raw_name or header.method != entry.method:
                raise RuntimeError(f"the records of {member.name} do not read back as written")


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


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _temp_file(folder: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new file with a random name (O_EXCL: never an existing file or a planted link), and its path."""
    with signals_held():  # an interrupt cannot land between creating the file and knowing its name
        descriptor, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    return descriptor, Path(name)


def write_archive(entries: Iterable[Entry], target: Path, *, comment: bytes = b"", epoch: int = FIXED_DATE_EPOCH,
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
        temps: list[Path] = []
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
                faults.point("sidecar-write")
                handle.write(f"{digest}  {target.name}\n".encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(side_temp, 0o644)
            pending = ArchiveResult(target, digest, os.stat(temp).st_size, members, sidecar)
            with signals_held():  # the sidecar, then the archive: an interrupt cannot separate them
                faults.point("commit")
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
