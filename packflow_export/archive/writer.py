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
import threading
from pathlib import Path
from types import ModuleType
from typing import IO, Callable, Iterable, NamedTuple, Optional

from .. import faults
from ..errors import CannotWrite
from ..fsutil import AtomicFiles, folder_lock, signals_held
from . import zipformat
from .deflate import DEFLATE_BLOCK_BYTES, BlockDeflater
from .method import choose_method, plan_small
from .reproducible import FIXED_DATE_EPOCH, clamp_epoch, dos_date_time, member_mode

BUFFER_BYTES = 1 << 20
SYNC_EVERY_BYTES = 32 << 20  # flush written data to disk as it goes: writeback overlaps the work
BATCH_BYTES = 256 << 10  # small writes are gathered into pieces this large before they go to the writing threads


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
    mode = member_mode(entry.executable)
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


def write_archive(entries: Iterable[Entry], target: Path, *, comment: bytes = b"", epoch: int = FIXED_DATE_EPOCH,
                  force: bool = False, progress: Optional[Callable[[int], None]] = None) -> ArchiveResult:
    """Write `entries` (sorted) to `target` and its `.sha256` sidecar, atomically.

    On any error or interrupt the temporary files are removed and nothing exists under the final names;
    writers of one folder take turns, so every success leaves a complete archive and sidecar.
    """
    target = Path(target)
    folder = target.parent
    sidecar = target.with_name(target.name + ".sha256")
    date = dos_date_time(clamp_epoch(epoch))
    with folder_lock(folder):
        faults.point("locked")
        if os.path.lexists(target) and not force:
            raise CannotWrite(f"{target} already exists; a release is immutable (use --force to overwrite)")
        writer: Optional[_Writer] = None
        descriptor: Optional[int] = None
        result: Optional[ArchiveResult] = None
        with AtomicFiles() as files:  # leaving it without the commit removes both temporary files
            try:
                descriptor, temp = files.create(target)
                writer = _Writer(descriptor)
                members = _write_members(entries, writer, date, comment, progress)
                digest = writer.close()
                writer = None
                os.close(descriptor)
                descriptor = None
                _check_written(temp, members, comment)
                os.chmod(temp, 0o644)
                faults.point("sidecar")
                faults.point("sidecar-write")
                files.write(sidecar, f"{digest}  {target.name}\n")
                pending = ArchiveResult(target, digest, os.stat(temp).st_size, members, sidecar)
                with signals_held():  # the sidecar, then the archive: an interrupt cannot separate them
                    faults.point("commit")
                    files.commit()
                    result = pending
                return pending
            except BaseException as exc:
                if writer is not None:
                    writer.abandon()
                if descriptor is not None:
                    with contextlib.suppress(OSError):
                        os.close(descriptor)
                if result is not None and isinstance(exc, KeyboardInterrupt):
                    raise InterruptedAfterCommit(result, exc) from None
                if isinstance(exc, OSError):
                    raise CannotWrite(f"cannot write {target}: {exc.strerror or exc}") from None
                raise


def _write_members(entries: Iterable[Entry], writer: _Writer, date: tuple[int, int], comment: bytes,
                   progress: Optional[Callable[[int], None]]) -> list[Member]:
    """Every member, then the central directory and the end records: the whole archive, in order."""
    members, records = [], []
    for entry in entries:
        method, record = _copy_member(entry, writer, date, progress)
        members.append(Member(entry.name, entry.size, method))
        records.append(record)
    directory = b"".join(records)
    cd_offset = writer.offset
    writer.put(directory)
    writer.put(zipformat.end_records(len(records), cd_offset, len(directory), comment))
    return members
