"""The archive as bytes (PF9xx, verify): every reader must see the same files, and reading it costs bounded
time and memory. Accepted are exactly the archives this tool writes: regular files with plain permissions,
entries back to back from byte 0, each deflate stream ending exactly at its declared size, and nothing
hidden before, between or after the records.
"""

from __future__ import annotations

import stat
from typing import Iterable, Iterator

from .. import zipformat
from ..findings import Finding, define

NOT_A_ZIP = define(
    "PF901", "error", "the file is not a complete zip archive",
    why="The archive is truncated, or not a zip at all: nothing can be unpacked from it reliably.",
    fix="Export again, or copy the archive again from its source.")
LAYOUT = define(
    "PF902", "error", "the archive's records are not laid out as packflow_export writes them",
    why="Bytes before the first entry, between entries or overlapping entries are read by some unzip tools and "
        "not by others: two readers would see two different packages.",
    fix="Export the project again with packflow_export; do not edit the archive.")
CORRUPT = define(
    "PF903", "error", "a member does not read back intact",
    why="Its CRC, size or compressed stream disagrees with the directory: the content is not what was released.",
    fix="Export again, or copy the archive again from its source.")
NOT_A_PLAIN_FILE = define(
    "PF904", "error", "a member is not a plain regular file",
    why="Links, devices, folders, setuid bits, encryption or unusual compression make unpacking do more than "
        "write files, or fail on some systems.",
    fix="Export the project again with packflow_export.")
TOO_BIG = define(
    "PF905", "error", "the archive declares sizes beyond the limits verify accepts",
    why="A zip bomb: a small archive that inflates to more than any disk holds.",
    fix="Raise --max-size if the archive is genuine.")
NAME_MISMATCH = define(
    "PF906", "error", "the archive's file name does not match packflow.yaml's name and version",
    why="Pipelines read the name and version from the file name; they would import another release than this.",
    fix="Keep the name export gave the archive: {name with '-' as '_'}-{version}.zip.")
CHECKSUM = define(
    "PF907", "error", "the .sha256 sidecar does not match the archive",
    why="The archive changed after it was written, or the sidecar belongs to another one.",
    fix="Copy the archive and its .sha256 again from the same release.")
PROVENANCE = define(
    "PF908", "warning", "the archive's comment is not the provenance packflow_export records",
    why="The comment records the tool, the source date, the commit and the policy the export used.",
    fix="Export the project again with packflow_export.")
RECORDED = define(
    "PF909", "info", "the export recorded a policy or allowances that verify applies",
    why="A release must verify under the policy and --allow-secret exceptions it was exported with.",
    fix="Nothing; pass --policy to verify under another policy.")

# A deflate stream cannot inflate more than 1032:1; a larger declared ratio is a lie.
MAX_DEFLATE_RATIO = 1100
PLAIN_MODES = (0o644, 0o755, 0o600, 0o700, 0o664, 0o775, 0o444, 0o555, 0o640, 0o750)


def check_end(end) -> Iterable[Finding]:
    """The end record against where it sits: the central directory must end right where the end record starts."""
    gap = end.end_offset - (end.cd_offset + end.cd_size)
    if gap > 0:
        yield LAYOUT(f"the archive holds {gap:,} bytes its records do not account for (before its first entry, as in "
                     f"a self-extracting or polyglot file, or between its entries and their directory)", None)
    elif gap < 0:
        yield NOT_A_ZIP(f"the central directory ({end.cd_size:,} bytes at byte {end.cd_offset:,}) runs past the end "
                        f"record at byte {end.end_offset:,}", None)


def check_entries(entries: list, max_total: int) -> Iterable[Finding]:
    """What the central directory alone says: kinds of member, flags, methods, duplicate names, declared sizes."""
    seen, total = set(), 0
    for entry in entries:
        name = entry.name
        if name in seen:
            yield LAYOUT(f"{name} is listed twice", name)
        seen.add(name)
        mode = entry.external_attr >> 16
        if name.endswith("/"):
            yield NOT_A_PLAIN_FILE(f"{name} is a folder entry", name)
        elif entry.create_system == zipformat.UNIX and mode:
            if stat.S_ISLNK(mode):
                yield NOT_A_PLAIN_FILE(f"{name} is a symbolic link", name)
            elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits at all: a plain file (zipfile writes 0o600)
                yield NOT_A_PLAIN_FILE(f"{name} is a device, pipe or socket (mode {mode:o})", name)
            elif mode & 0o7000 or stat.S_IMODE(mode) not in PLAIN_MODES:
                yield NOT_A_PLAIN_FILE(f"{name} has mode {stat.S_IMODE(mode):04o} (setuid, setgid, sticky or unusual "
                                       f"permission bits)", name)
        if entry.flags & zipformat.FLAG_ENCRYPTED:
            yield NOT_A_PLAIN_FILE(f"{name} is encrypted", name)
        if entry.method not in (zipformat.STORED, zipformat.DEFLATED):
            yield NOT_A_PLAIN_FILE(f"{name} uses compression method {entry.method}; only stored and deflated are read",
                                   name)
        elif entry.method == zipformat.STORED and entry.compressed_size != entry.file_size:
            yield CORRUPT(f"{name} is stored but its sizes differ ({entry.compressed_size:,} vs {entry.file_size:,})", name)
        elif entry.method == zipformat.DEFLATED and entry.file_size > MAX_DEFLATE_RATIO * max(entry.compressed_size, 1):
            yield TOO_BIG(f"{name} declares {entry.file_size:,} bytes from {entry.compressed_size:,}: more than deflate "
                          f"can inflate", name)
        total += entry.file_size
    if total > max_total:
        yield TOO_BIG(f"the members declare {total:,} bytes in all, over the {max_total:,}-byte limit", None)


def check_layout(handle, entries: list, end: zipformat.EndRecord) -> Iterable[Finding]:
    """Entries back to back from byte 0, each local header agreeing with its directory entry, then the directory."""
    expected = 0
    for entry in sorted(entries, key=lambda e: e.header_offset):
        if entry.header_offset != expected:
            what = "overlaps the one before" if entry.header_offset < expected else "follows unexplained bytes"
            where = "the start of the file" if expected == 0 else f"byte {expected:,}"
            yield LAYOUT(f"{entry.name} starts at byte {entry.header_offset:,}, not at {where}: it {what}", entry.name)
            return
        try:
            header = zipformat.read_local_header(handle, entry.header_offset)
        except zipformat.ZipFormatError as exc:
            yield LAYOUT(f"{entry.name}: {exc}", entry.name)
            return
        problem = _header_mismatch(entry, header)
        if problem:
            yield LAYOUT(f"{entry.name}: the local header {problem}", entry.name)
            return
        expected = header.data_offset + entry.compressed_size
        if entry.flags & zipformat.FLAG_DESCRIPTOR:
            try:
                size, values = zipformat.descriptor_size(handle, expected, zipformat.has_zip64_extra(header.extra))
            except zipformat.ZipFormatError as exc:
                yield LAYOUT(f"{entry.name}: its data descriptor cannot be read: {exc}", entry.name)
                return
            if values != (entry.crc, entry.compressed_size, entry.file_size):
                yield LAYOUT(f"{entry.name}: its data descriptor disagrees with the directory", entry.name)
                return
            expected += size
    if end.cd_offset != expected:
        yield LAYOUT(f"the central directory starts at byte {end.cd_offset:,}, not right after the last entry "
                     f"(byte {expected:,})", None)
    elif end.cd_offset + end.cd_size != end.end_offset:
        yield LAYOUT("bytes lie between the central directory and its end record", None)


def _header_mismatch(entry, header) -> str:
    if header.raw_name != entry.raw_name:
        return f"names {header.raw_name!r}"
    if header.method != entry.method:
        return f"says compression method {header.method}, the directory {entry.method}"
    if (header.flags ^ entry.flags) & (zipformat.FLAG_ENCRYPTED | zipformat.FLAG_DESCRIPTOR | zipformat.FLAG_UTF8):
        return "has other flags than the directory"
    if not entry.flags & zipformat.FLAG_DESCRIPTOR and (header.crc, header.compressed_size, header.file_size) != (
            entry.crc, entry.compressed_size, entry.file_size):
        return "disagrees with the directory about the CRC or the sizes"
    return ""


class CorruptMember(Exception):
    """A member's bytes do not inflate to what the directory declares."""


def member_chunks(handle, entry, data_offset: int, codec, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
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
                except Exception as exc:  # zlib.error, or isal's IsalError
                    raise CorruptMember(f"its deflate stream is broken ({exc})") from None
                data = inflater.unconsumed_tail
                if inflater.eof and (data or remaining or inflater.unused_data):
                    raise CorruptMember("its deflate stream ends before its declared compressed size: hidden bytes follow")
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
