"""An archive as verify reads it, without unpacking it: its end record and central directory (when they can be
found where they must be), the provenance its comment records, and each member's bytes inflated in bounded chunks
that must end exactly where, and with the CRC, the directory says.
"""

from __future__ import annotations

import json
import os
import stat
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Iterator, Optional

from ..archive import zipformat
from ..errors import UsageError
from .views import CorruptMember

DEFAULT_MAX_ENTRIES = 1_000_000
Provenance = dict[str, Any]


def read_provenance(comment: bytes) -> Optional[Provenance]:
    """The provenance packflow_export records as the zip comment, or None when the comment is something else."""
    try:
        data = json.loads(comment.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and str(data.get("tool", "")).startswith("packflow_export") else None


class ArchiveFile:
    """An open archive: where its records are, what its directory lists, and its members' bytes on request."""

    def __init__(self, path: Path, handle: IO[bytes], size: int, max_entries: int = DEFAULT_MAX_ENTRIES):
        self.path, self.handle, self.size = path, handle, size
        self.end: Optional[zipformat.EndRecord] = None
        self.entries: list[zipformat.CentralEntry] = []
        self.unreadable: Optional[str] = None  # why the records cannot be read (truncated, not a zip)
        try:
            self.end = zipformat.read_end_record(handle, size)
            if self.gap == 0:
                self.entries = zipformat.read_central_directory(handle, self.end, max_entries)
        except zipformat.ZipFormatError as exc:
            self.unreadable = str(exc)

    @classmethod
    def open(cls, path: Path, max_entries: int = DEFAULT_MAX_ENTRIES) -> ArchiveFile:
        """Open a regular file and read its records; UsageError when it cannot be opened or is not a file."""
        path = Path(path)
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read: {exc.strerror or exc}") from None
        try:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(f"{path}: not a regular file")
            return cls(path, handle, info.st_size, max_entries)
        except BaseException:
            handle.close()
            raise

    def __enter__(self) -> ArchiveFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    @property
    def gap(self) -> int:
        """Bytes between the central directory's end and the end record (negative: the directory overruns it)."""
        if self.end is None:
            return 0
        return self.end.end_offset - (self.end.cd_offset + self.end.cd_size)

    @property
    def located(self) -> bool:
        """Whether the records are where they must be, so that the directory could be read."""
        return self.end is not None and self.unreadable is None and self.gap == 0

    @cached_property
    def provenance(self) -> Optional[Provenance]:
        return read_provenance(self.end.comment) if self.located and self.end is not None else None

    @cached_property
    def members(self) -> dict[str, int]:
        """Each member's name and declared size."""
        return {entry.name: entry.file_size for entry in self.entries}

    @cached_property
    def _data(self) -> dict[str, tuple[zipformat.CentralEntry, int]]:
        """Each member's directory entry and where its data starts (read once its records are known sound)."""
        return {entry.name: (entry, zipformat.read_local_header(self.handle, entry.header_offset).data_offset)
                for entry in self.entries}

    @cached_property
    def _codec(self) -> Any:
        return zipformat.codec()

    def member_chunks(self, name: str) -> Iterator[bytes]:
        """A member's content in bounded chunks; CorruptMember unless it reads back exactly as declared."""
        entry, data_offset = self._data[name]
        return member_chunks(self.handle, entry, data_offset, self._codec)


def member_chunks(handle: IO[bytes], entry: zipformat.CentralEntry, data_offset: int, codec: Any,
                  chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """A member's content, inflated in bounded chunks; CorruptMember unless it ends exactly where it is declared
    to (compressed and inflated sizes) with the declared CRC."""
    handle.seek(data_offset)
    remaining, produced, crc = entry.compressed_size, 0, 0
    inflater = codec.decompressobj(-15) if entry.method == zipformat.DEFLATED else None
    while remaining:
        data = handle.read(min(chunk_bytes, remaining))
        if not data:
            raise CorruptMember("the archive ends inside it")
        remaining -= len(data)
        while data:
            if inflater is None:
                piece, data = data, b""
            else:
                try:
                    piece = inflater.decompress(data, chunk_bytes)
                except Exception as exc:  # noqa: BLE001 - zlib.error, or isal's IsalError
                    raise CorruptMember(f"its deflate stream is broken ({exc})") from None
                data = inflater.unconsumed_tail
                if inflater.eof and (data or remaining or inflater.unused_data):
                    raise CorruptMember("its deflate stream ends before its declared compressed size: hidden bytes "
                                        "follow")
            produced += len(piece)
            if produced > entry.file_size:
                raise CorruptMember(f"it inflates to more than its declared {entry.file_size:,} bytes")
            crc = codec.crc32(piece, crc)
            if piece:
                yield piece
    if inflater is not None and not inflater.eof:
        raise CorruptMember("its deflate stream does not end where its declared compressed size does")
    if produced != entry.file_size:
        raise CorruptMember(f"it holds {produced:,} bytes, not the declared {entry.file_size:,}")
    if crc != entry.crc:
        raise CorruptMember(f"its CRC-32 is {crc:08x}, not the declared {entry.crc:08x}")
