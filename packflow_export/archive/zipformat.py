"""The zip format's records (APPNOTE 6.3): built by the archive writer, parsed by verify and the model.

Nothing here decides whether an archive is acceptable: parsing reports what the bytes say, or raises
ZipFormatError when they cannot be read as zip records at all.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache
from types import ModuleType
from typing import IO, Any, Iterator, NamedTuple, Optional

LOCAL_SIGNATURE = b"PK\x03\x04"
CENTRAL_SIGNATURE = b"PK\x01\x02"
END_SIGNATURE = b"PK\x05\x06"
ZIP64_END_SIGNATURE = b"PK\x06\x06"
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
LOCAL = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
CENTRAL = struct.Struct("<4sBBHHHHHIIIHHHHHII")  # 46 bytes
END = struct.Struct("<4sHHHHIIH")  # 22 bytes
ZIP64_END = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes
ZIP64_LOCATOR = struct.Struct("<4sIQI")  # 20 bytes
ZIP64_EXTRA_ID = 0x0001
STORED, DEFLATED = 0, 8
FLAG_ENCRYPTED, FLAG_DESCRIPTOR, FLAG_UTF8 = 0x1, 0x8, 0x800
UNIX = 3
# Sizes and offsets above this use ZIP64 fields (as CPython's zipfile does: some readers treat 32-bit fields as signed).
ZIP64_LIMIT = (1 << 31) - 1
MAX_COMMENT = 0xFFFF
WALK_CHUNK = 1 << 20  # central directory bytes read at a time by walk_central_directory


@lru_cache(maxsize=None)
def codec() -> ModuleType:
    """The deflate implementation: ISA-L when installed (several times faster), else zlib. Same format either way."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        import zlib

        return zlib


class ZipFormatError(Exception):
    """The bytes are not readable as zip records; the message says where."""


class MemberLimit(Exception):
    """More members follow than the caller looks at: the walk stops there, and the rest is not read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} members")
        self.limit = limit


class CentralEntry(NamedTuple):
    name: str
    raw_name: bytes
    create_system: int
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc: int
    compressed_size: int
    file_size: int
    external_attr: int
    header_offset: int
    extra: bytes
    comment: bytes


class LocalHeader(NamedTuple):
    flags: int
    method: int
    crc: int
    compressed_size: int
    file_size: int
    raw_name: bytes
    extra: bytes
    data_offset: int


class EndRecord(NamedTuple):
    entries: int
    cd_size: int
    cd_offset: int
    end_offset: int  # where the first end record (ZIP64 end record, or the classic one) starts
    comment: bytes
    zip64: bool


def zip64_extra(*values: int) -> bytes:
    return struct.pack(f"<HH{len(values)}Q", ZIP64_EXTRA_ID, 8 * len(values), *values)


def local_header(name: bytes, flags: int, method: int, dos_time: int, dos_date: int, crc: int, compressed: int,
                 size: int, zip64: bool) -> bytes:
    extra = zip64_extra(size, compressed) if zip64 else b""
    version = 45 if zip64 else 20
    fields = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (compressed, size)
    return LOCAL.pack(LOCAL_SIGNATURE, version, flags, method, dos_time, dos_date, crc, *fields, len(name),
                      len(extra)) + name + extra


def data_descriptor(crc: int, compressed: int, size: int, zip64: bool) -> bytes:
    if zip64:
        return struct.pack("<4sIQQ", DESCRIPTOR_SIGNATURE, crc, compressed, size)
    return struct.pack("<4sIII", DESCRIPTOR_SIGNATURE, crc, compressed, size)


def central_entry(name: bytes, flags: int, method: int, dos_time: int, dos_date: int, crc: int, compressed: int,
                  size: int, mode: int, offset: int) -> bytes:
    big = [value for value in (size, compressed, offset) if value > ZIP64_LIMIT]
    extra = b""
    fields = [compressed, size, offset]
    if big:
        values = []
        if size > ZIP64_LIMIT:
            values.append(size)
            fields[1] = 0xFFFFFFFF
        if compressed > ZIP64_LIMIT:
            values.append(compressed)
            fields[0] = 0xFFFFFFFF
        if offset > ZIP64_LIMIT:
            values.append(offset)
            fields[2] = 0xFFFFFFFF
        extra = zip64_extra(*values)
    version = 45 if big else 20
    return CENTRAL.pack(CENTRAL_SIGNATURE, version, UNIX, version, flags, method, dos_time, dos_date, crc, fields[0],
                        fields[1], len(name), len(extra), 0, 0, 0, mode << 16, fields[2]) + name + extra


def end_records(entries: int, cd_offset: int, cd_size: int, comment: bytes) -> bytes:
    """The end of central directory record, preceded by the ZIP64 end record and locator when they are needed."""
    out = b""
    if entries > 0xFFFE or cd_offset > ZIP64_LIMIT or cd_size > ZIP64_LIMIT:
        zip64_offset = cd_offset + cd_size
        out += ZIP64_END.pack(ZIP64_END_SIGNATURE, 44, 45, 45, 0, 0, entries, entries, cd_size, cd_offset)
        out += ZIP64_LOCATOR.pack(ZIP64_LOCATOR_SIGNATURE, 0, zip64_offset, 1)
        entries, cd_offset, cd_size = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF
    return out + END.pack(END_SIGNATURE, 0, 0, entries, entries, cd_size, cd_offset, len(comment)) + comment


def pread(handle: IO[bytes], offset: int, size: int) -> bytes:
    handle.seek(offset)
    data = handle.read(size)
    if len(data) != size:
        raise ZipFormatError(f"the file ends at byte {offset + len(data):,}, inside a record that needs {size} bytes")
    return data


def read_end_record(handle: IO[bytes], file_size: int) -> EndRecord:
    """Find and parse the end of central directory (and its ZIP64 form): where the central directory is."""
    tail_size = min(file_size, END.size + MAX_COMMENT)
    tail = pread(handle, file_size - tail_size, tail_size)
    position = tail.rfind(END_SIGNATURE)
    while position != -1:
        record = tail[position:position + END.size]
        if len(record) == END.size:
            _, disk, cd_disk, on_disk, entries, cd_size, cd_offset, comment_length = END.unpack(record)
            if position + END.size + comment_length == len(tail):
                break
        position = tail.rfind(END_SIGNATURE, 0, position)
    else:
        raise ZipFormatError("no end of central directory record: the file is not a zip archive, or it is truncated")
    end_offset = file_size - tail_size + position
    comment = tail[position + END.size:]
    if disk or cd_disk or on_disk != entries:
        raise ZipFormatError("the archive spans several disks")
    if end_offset >= ZIP64_LOCATOR.size:
        locator = pread(handle, end_offset - ZIP64_LOCATOR.size, ZIP64_LOCATOR.size)
        if locator[:4] == ZIP64_LOCATOR_SIGNATURE:
            _, _, zip64_offset, _ = ZIP64_LOCATOR.unpack(locator)
            record = pread(handle, zip64_offset, ZIP64_END.size)
            if record[:4] != ZIP64_END_SIGNATURE:
                raise ZipFormatError(f"the ZIP64 locator points at byte {zip64_offset:,}, where no ZIP64 end record is")
            _, _, _, _, _, _, on_disk, entries, cd_size, cd_offset = ZIP64_END.unpack(record)
            return EndRecord(entries, cd_size, cd_offset, zip64_offset, comment, True)
    return EndRecord(entries, cd_size, cd_offset, end_offset, comment, False)


def _zip64_values(extra: bytes, wanted: list[int]) -> list[int]:
    """Replace 0xFFFFFFFF fields by the ZIP64 extra field's values, in APPNOTE order."""
    position = 0
    while position + 4 <= len(extra):
        header_id, size = struct.unpack_from("<HH", extra, position)
        if header_id == ZIP64_EXTRA_ID:
            data = extra[position + 4:position + 4 + size]
            values, index = list(wanted), 0
            for slot, value in enumerate(wanted):
                if value == 0xFFFFFFFF:
                    if index + 8 > len(data):
                        raise ZipFormatError("a ZIP64 extra field is shorter than the fields it replaces")
                    values[slot] = struct.unpack_from("<Q", data, index)[0]
                    index += 8
            return values
        position += 4 + size
    if 0xFFFFFFFF in wanted:
        raise ZipFormatError("a 32-bit size or offset is 0xFFFFFFFF but there is no ZIP64 extra field")
    return wanted


def has_zip64_extra(extra: bytes) -> bool:
    position = 0
    while position + 4 <= len(extra):
        header_id, size = struct.unpack_from("<HH", extra, position)
        if header_id == ZIP64_EXTRA_ID:
            return True
        position += 4 + size
    return False


def decode_name(raw: bytes, flags: int) -> str:
    if flags & FLAG_UTF8:
        return raw.decode("utf-8", "surrogateescape")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def read_central_directory(handle: IO[bytes], end: EndRecord, max_entries: int) -> list[CentralEntry]:
    """Every central directory entry, in the order stored."""
    return list(iter_central_directory(handle, end, max_entries))


def iter_central_directory(handle: IO[bytes], end: EndRecord, max_entries: int) -> Iterator[CentralEntry]:
    """The central directory's entries one by one, in the order stored (ZipFormatError when they do not parse)."""
    if end.entries > max_entries:
        raise ZipFormatError(f"the archive declares {end.entries:,} entries, over the limit of {max_entries:,}")
    if end.cd_size > end.entries * (CENTRAL.size + 3 * 0xFFFF) + 1:
        raise ZipFormatError("the central directory is larger than its entries can be")
    data = pread(handle, end.cd_offset, end.cd_size)
    position = 0
    for number in range(1, end.entries + 1):
        if data[position:position + 4] != CENTRAL_SIGNATURE or position + CENTRAL.size > len(data):
            raise ZipFormatError(f"central directory entry {number} is not where the directory says")
        (_, _, create_system, _, flags, method, dos_time, dos_date, crc, compressed, size, name_length, extra_length,
         comment_length, disk, _, external, offset) = CENTRAL.unpack_from(data, position)
        start = position + CENTRAL.size
        raw_name = data[start:start + name_length]
        extra = data[start + name_length:start + name_length + extra_length]
        comment = data[start + name_length + extra_length:start + name_length + extra_length + comment_length]
        position = start + name_length + extra_length + comment_length
        if position > len(data):
            raise ZipFormatError(f"central directory entry {number} runs past the directory's end")
        size, compressed, offset = _zip64_values(extra, [size, compressed, offset])
        yield CentralEntry(decode_name(raw_name, flags), raw_name, create_system, flags, method, dos_time,
                           dos_date, crc, compressed, size, external, offset, extra, comment)
    if position != len(data):
        raise ZipFormatError("the central directory holds more bytes than its entries")


def walk_central_directory(handle: IO[bytes], max_members: int,
                           end: Optional[EndRecord] = None) -> Iterator[CentralEntry]:
    """The central directory's entries one at a time, read 1 MiB at a time and never kept, so memory stays flat
    however many a zip holds (zipfile builds them all first: 1,000,000 empty members cost it 500 MB). Walked by
    the directory's size, as zipfile does, not by the count the end record declares. MemberLimit once max_members
    were yielded and more follow; ZipFormatError when the records do not parse."""
    if end is None:
        end = read_end_record(handle, handle.seek(0, io.SEEK_END))
    position, stop = end.cd_offset, end.cd_offset + end.cd_size
    if stop > end.end_offset:
        raise ZipFormatError(f"the central directory (bytes {position:,} to {stop:,}) runs into the end record")
    buffer, buffer_start, number = b"", position, 0

    def available(size: int) -> bytes:
        nonlocal buffer, buffer_start
        if position + size > buffer_start + len(buffer):
            buffer = pread(handle, position, min(max(size, WALK_CHUNK), stop - position))
            buffer_start = position
        return buffer

    while position < stop:
        if number == max_members:
            raise MemberLimit(max_members)
        number += 1
        here = position - buffer_start if position + CENTRAL.size <= stop and available(CENTRAL.size) else -1
        if here < 0 or buffer[here:here + 4] != CENTRAL_SIGNATURE:
            raise ZipFormatError(f"central directory entry {number} is not where the directory says")
        (_, _, create_system, _, flags, method, dos_time, dos_date, crc, compressed, size, name_length, extra_length,
         comment_length, _, _, external, offset) = CENTRAL.unpack_from(buffer, position - buffer_start)
        length = CENTRAL.size + name_length + extra_length + comment_length
        if position + length > stop:
            raise ZipFormatError(f"central directory entry {number} runs past the directory's end")
        available(length)
        here = position - buffer_start + CENTRAL.size
        raw_name = buffer[here:here + name_length]
        extra = buffer[here + name_length:here + name_length + extra_length]
        comment = buffer[here + name_length + extra_length:here + name_length + extra_length + comment_length]
        size, compressed, offset = _zip64_values(extra, [size, compressed, offset])
        position += length
        yield CentralEntry(decode_name(raw_name, flags), raw_name, create_system, flags, method, dos_time, dos_date,
                           crc, compressed, size, external, offset, extra, comment)


BZIP2, LZMA = 12, 14
READ_METHODS = {STORED: "stored", DEFLATED: "deflated", BZIP2: "bzip2", LZMA: "lzma"}  # what MemberReader reads


class _RawInflater:
    """zlib's raw deflate behind the bz2/lzma decompressor interface (needs_input, eof, max_length)."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(-15)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._d.eof

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._d.decompress(self._d.unconsumed_tail + data, max_length)
        self.needs_input = not self._d.unconsumed_tail and len(out) < max_length
        return out


class MemberReader(io.RawIOBase):
    """A member's content (stored, deflated, bzip2 or lzma, as zipfile reads them), inflated as it is read and never
    past its declared size (a zip bomb yields at most what its directory declares); `crc` is the CRC-32 of what
    was read, for the caller to compare. ZipFormatError when it is encrypted, uses another method, or ends before
    its declared size."""

    def __init__(self, handle: IO[bytes], entry: CentralEntry, chunk: int = 1 << 20) -> None:
        super().__init__()
        if entry.flags & FLAG_ENCRYPTED:
            raise ZipFormatError(f"{entry.name} is encrypted")
        if entry.method not in READ_METHODS:
            raise ZipFormatError(f"{entry.name} is compressed with method {entry.method} (members are read stored, "
                                 f"deflated, bzip2 or lzma)")
        self._handle, self._chunk = handle, chunk
        self._position = read_local_header(handle, entry.header_offset).data_offset
        self._input_left = entry.compressed_size
        stored = entry.method == STORED
        self._output_left = min(entry.file_size, entry.compressed_size) if stored else entry.file_size
        self._errors: tuple[type[Exception], ...] = (zlib.error, OSError, EOFError, ValueError)
        self._inflater = None if stored else self._decompressor(entry.method)
        self.crc = 0

    def _decompressor(self, method: int) -> Any:
        if method == DEFLATED:
            return _RawInflater()
        if method == BZIP2:
            import bz2

            return bz2.BZ2Decompressor()
        import lzma

        self._errors += (lzma.LZMAError,)
        # APPNOTE 5.8.8: two bytes of version, two of the properties' size, the properties, then raw LZMA1.
        _, size = struct.unpack("<HH", self._input(4))
        properties = self._input(size)
        try:
            lzma1 = lzma._decode_filter_properties(lzma.FILTER_LZMA1, properties)  # type: ignore[attr-defined]
        except lzma.LZMAError as exc:  # what zipfile does too: lzma has no public call for it
            raise ZipFormatError(f"its LZMA properties cannot be read ({exc})") from None
        return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])

    def readable(self) -> bool:
        return True

    def _input(self, size: int) -> bytes:
        data = pread(self._handle, self._position, min(size, self._input_left))
        self._position += len(data)
        self._input_left -= len(data)
        return data

    def _piece(self, size: int) -> bytes:
        if self._inflater is None:
            return self._input(size)
        while not self._inflater.eof:
            if self._inflater.needs_input and not self._input_left:
                return b""
            data = self._input(self._chunk) if self._inflater.needs_input else b""
            try:
                out = self._inflater.decompress(data, size)
            except self._errors as exc:
                raise ZipFormatError(f"its compressed stream is broken ({exc})") from None
            if out:
                return bytes(out)
        return b""

    def read(self, size: Optional[int] = -1) -> bytes:
        wanted = self._output_left if size is None or size < 0 else min(size, self._output_left)
        parts = []
        while wanted > 0:
            piece = self._piece(min(wanted, self._chunk))
            if not piece:
                raise ZipFormatError(f"the member ends {self._output_left:,} bytes before its declared size")
            parts.append(piece)
            wanted -= len(piece)
            self._output_left -= len(piece)
            self.crc = zlib.crc32(piece, self.crc)
        return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def read_local_header(handle: IO[bytes], offset: int) -> LocalHeader:
    record = pread(handle, offset, LOCAL.size)
    (signature, _, flags, method, _, _, crc, compressed, size, name_length, extra_length) = LOCAL.unpack(record)
    if signature != LOCAL_SIGNATURE:
        raise ZipFormatError(f"no local file header at byte {offset:,}")
    variable = pread(handle, offset + LOCAL.size, name_length + extra_length)
    raw_name, extra = variable[:name_length], variable[name_length:]
    if size == 0xFFFFFFFF or compressed == 0xFFFFFFFF:
        size, compressed = _zip64_values(extra, [size, compressed])
    return LocalHeader(flags, method, crc, compressed, size, raw_name, extra,
                       offset + LOCAL.size + name_length + extra_length)


def descriptor_size(handle: IO[bytes], offset: int, zip64: bool) -> tuple[int, tuple[int, int, int]]:
    """(size of the data descriptor at offset, (crc, compressed, size) it holds)."""
    head = pread(handle, offset, 4)
    signed = head == DESCRIPTOR_SIGNATURE
    start = offset + (4 if signed else 0)
    if zip64:
        crc, compressed, size = struct.unpack("<IQQ", pread(handle, start, 20))
        return (24 if signed else 20), (crc, compressed, size)
    crc, compressed, size = struct.unpack("<III", pread(handle, start, 12))
    return (16 if signed else 12), (crc, compressed, size)


def comment_bytes(text: Optional[str]) -> bytes:
    data = (text or "").encode("utf-8")
    if len(data) > MAX_COMMENT:
        raise ValueError("a zip comment holds at most 65,535 bytes")
    return data
