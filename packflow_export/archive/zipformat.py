"""The zip format's records (APPNOTE 6.3): built by the archive writer, parsed by verify and the model.

Nothing here decides whether an archive is acceptable: parsing reports what the bytes say, or raises
ZipFormatError when they cannot be read as zip records at all.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from types import ModuleType
from typing import IO, Iterator, NamedTuple, Optional

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
