"""The archive as bytes (PF9xx, verify): every reader must see the same files, and reading it costs bounded
time and memory. Accepted are exactly the archives this tool writes: regular files with plain permissions,
entries back to back from byte 0, each deflate stream ending exactly at its declared size, and nothing
hidden before, between or after the records.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator

from .. import naming
from ..findings import Finding, define
from ..model.context import Context, PolicySource
from .check import Check, Need, Stage, archive_of

if TYPE_CHECKING:
    from ..archive import zipformat  # imported where used: a folder's check never reads zip records

NOT_A_ZIP = define(
    "PF901", "error", "the file is not a complete zip archive",
    why="The archive is truncated, or not a zip at all: nothing can be unpacked from it reliably.",
    fix="Export again, or copy the archive again from its source.", integrity=True)
LAYOUT = define(
    "PF902", "error", "the archive's records are not laid out as packflow_export writes them",
    why="Bytes before the first entry, between entries or overlapping entries are read by some unzip tools and "
        "not by others: two readers would see two different packages.",
    fix="Export the project again with packflow_export; do not edit the archive.", integrity=True)
CORRUPT = define(
    "PF903", "error", "a member does not read back intact",
    why="Its CRC, size or compressed stream disagrees with the directory: the content is not what was released.",
    fix="Export again, or copy the archive again from its source.", integrity=True)
NOT_A_PLAIN_FILE = define(
    "PF904", "error", "a member is not a plain regular file",
    why="Links, devices, folders, setuid bits, encryption or unusual compression make unpacking do more than "
        "write files, or fail on some systems.",
    fix="Export the project again with packflow_export.", integrity=True)
TOO_BIG = define(
    "PF905", "error", "the archive declares sizes beyond the limits verify accepts",
    why="A zip bomb: a small archive that inflates to more than any disk holds.",
    fix="Raise --max-size if the archive is genuine.", integrity=True)
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
    "PF909", "info", "the archive records the policy or allowances it was exported under (shown, not applied)",
    why="An archive must not decide its own verdict: verify applies the verifier's policy (--policy, else the "
        "bundled one); what the archive records is applied only with --accept-recorded-policy, and never to the "
        "rules that keep it intact and unpackable, to the model-file rules PF820-PF823, or to the model-file "
        "allow-list (a recorded model_allowlist is shown, never applied).",
    fix="Nothing; to verify under the author's policy pass --accept-recorded-policy, or --policy with your own.")

CLASH = define(
    "PF910", "error", "a member's name is also a folder holding other members",
    why="`notes` and `notes/a.txt` cannot both be unpacked: one write fails or replaces the other, so two unpackers "
        "end with two different packages (or none). Case-insensitive systems clash on `NOTES` and `notes/a.txt` too.",
    fix="Export the project again with packflow_export; do not edit the archive.", integrity=True)

# A deflate stream cannot inflate more than 1032:1; a larger declared ratio is a lie.
MAX_DEFLATE_RATIO = 1100
PLAIN_MODES = (0o644, 0o755, 0o600, 0o700, 0o664, 0o775, 0o444, 0o555, 0o640, 0o750)


def check_end(end: zipformat.EndRecord) -> Iterator[Finding]:
    """The end record against where it sits: the central directory must end right where the end record starts."""
    gap = end.end_offset - (end.cd_offset + end.cd_size)
    if gap > 0:
        yield LAYOUT(f"the archive holds {gap:,} bytes its records do not account for (before its first entry, as in "
                     f"a self-extracting or polyglot file, or between its entries and their directory)", None)
    elif gap < 0:
        yield NOT_A_ZIP(f"the central directory ({end.cd_size:,} bytes at byte {end.cd_offset:,}) runs past the end "
                        f"record at byte {end.end_offset:,}", None)


def check_entries(entries: list[zipformat.CentralEntry], max_total: int) -> Iterator[Finding]:
    """What the central directory alone says: kinds of member, flags, methods, duplicate names, declared sizes."""
    seen, total = set(), 0
    for entry in entries:
        name = entry.name
        if name in seen:
            yield LAYOUT(f"{name} is listed twice", name)
        seen.add(name)
        yield from _member_kind(entry)
        yield from _member_method(entry)
        total += entry.file_size
    if total > max_total:
        yield TOO_BIG(f"the members declare {total:,} bytes in all, over the {max_total:,}-byte limit", None)


def check_clashes(names: list[str]) -> Iterator[Finding]:
    """A member that is also the folder of another member, exactly or as a case-insensitive system sees it."""
    files = {naming.twin_key(name): name for name in names if not name.endswith("/")}
    reported = set()
    for name in names:
        parts = name.rstrip("/").split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            clash = files.get(naming.twin_key(folder))
            if clash is not None and (clash, folder) not in reported:
                reported.add((clash, folder))
                how = "" if clash == folder else f" (as {folder}/ on a case-insensitive system)"
                yield CLASH(f"{clash} is a file and also the folder of {name}{how}: unpacking cannot write both", clash)


def _member_kind(entry: zipformat.CentralEntry) -> Iterator[Finding]:
    """A folder, link, device, or a file with unusual permission bits, or encrypted: not a plain regular file."""
    from ..archive import zipformat

    name, mode = entry.name, entry.external_attr >> 16
    if name.endswith("/"):
        yield NOT_A_PLAIN_FILE(f"{name} is a folder entry", name)
    elif entry.create_system == zipformat.UNIX and mode:
        if stat.S_ISLNK(mode):
            yield NOT_A_PLAIN_FILE(f"{name} is a symbolic link", name)
        elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits: a plain file (zipfile writes 0o600)
            yield NOT_A_PLAIN_FILE(f"{name} is a device, pipe or socket (mode {mode:o})", name)
        elif mode & 0o7000 or stat.S_IMODE(mode) not in PLAIN_MODES:
            yield NOT_A_PLAIN_FILE(f"{name} has mode {stat.S_IMODE(mode):04o} (setuid, setgid, sticky or unusual "
                                   f"permission bits)", name)
    if entry.flags & zipformat.FLAG_ENCRYPTED:
        yield NOT_A_PLAIN_FILE(f"{name} is encrypted", name)


def _member_method(entry: zipformat.CentralEntry) -> Iterator[Finding]:
    """Stored or deflated only, with sizes a stored member and a deflate stream can have."""
    from ..archive import zipformat

    name = entry.name
    if entry.method not in (zipformat.STORED, zipformat.DEFLATED):
        yield NOT_A_PLAIN_FILE(f"{name} uses compression method {entry.method}; only stored and deflated are read",
                               name)
    elif entry.method == zipformat.STORED and entry.compressed_size != entry.file_size:
        yield CORRUPT(f"{name} is stored but its sizes differ ({entry.compressed_size:,} vs {entry.file_size:,})",
                      name)
    elif entry.method == zipformat.DEFLATED and entry.file_size > MAX_DEFLATE_RATIO * max(entry.compressed_size, 1):
        yield TOO_BIG(f"{name} declares {entry.file_size:,} bytes from {entry.compressed_size:,}: more than deflate "
                      f"can inflate", name)


def check_layout(handle: IO[bytes], entries: list[zipformat.CentralEntry],
                 end: zipformat.EndRecord) -> Iterator[Finding]:
    """Entries back to back from byte 0, each local header agreeing with its directory entry, then the directory."""
    from ..archive import zipformat

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


def _header_mismatch(entry: zipformat.CentralEntry, header: zipformat.LocalHeader) -> str:
    from ..archive import zipformat

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


def check_sidecar(path: Path) -> list[Finding]:
    """The .sha256 beside the archive, when there is one, names it and holds its hash."""
    sidecar = path.with_name(path.name + ".sha256")
    if not os.path.lexists(sidecar):
        return []
    try:
        fields = sidecar.read_text(encoding="utf-8").split()
        expected = fields[0].lower()
    except (OSError, UnicodeDecodeError, IndexError):
        return [CHECKSUM(f"{sidecar.name} cannot be read as a sha256sum line", sidecar.name)]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        return [CHECKSUM(f"sha256 {digest.hexdigest()} does not match {sidecar.name} ({expected})", sidecar.name)]
    if len(fields) > 1 and fields[1].lstrip("*") != path.name:
        return [CHECKSUM(f"{sidecar.name} names {fields[1]!r}, not {path.name!r}", sidecar.name)]
    return []


# The checks ---------------------------------------------------------------------------------------------------

def end_record(ctx: Context) -> Iterator[Finding]:
    """Where the records are: a complete end record, and the directory ending right where it starts."""
    archive = archive_of(ctx).archive
    if archive.unreadable is not None:
        yield NOT_A_ZIP(f"not a complete zip archive: {archive.unreadable}", None)
    elif archive.end is not None:
        yield from check_end(archive.end)


def provenance(ctx: Context) -> Iterator[Finding]:
    """What the archive records about its own verdict (its export's policy and allowances), and whether verify
    applied it; and whether the provenance is the one packflow_export records."""
    archive_ctx = archive_of(ctx)
    source, recorded = archive_ctx.policy_source, archive_ctx.archive.provenance
    if source.refused:
        yield PROVENANCE(f"{source.refused}; verifying under the verifier's policy", None)
    elif source.recorded:
        yield RECORDED(_policy_message(source), None)
    if recorded is None:
        yield PROVENANCE("the zip comment is not the provenance packflow_export records", None)
    elif recorded.get("allowed_secrets"):
        names = ", ".join(map(str, recorded["allowed_secrets"]))
        applied = "applied (--accept-recorded-policy)" if source.accepted else (
            "not applied: pass --accept-recorded-policy or --allow-secret to accept them")
        yield RECORDED(f"the export allowed these files that look like secrets: {names}; {applied}", None)


def _policy_message(source: PolicySource) -> str:
    from .modelfiles import REFUSING_LOAD

    relaxed = f" (it relaxes {', '.join(source.relaxed)})" if source.relaxed else ""
    allowlist = (f"; its model_allowlist would allow {_first(source.allowlist)}, which is never applied, even with "
                 f"--accept-recorded-policy: the model-file allow-list is the verifier's (its --policy's "
                 f"model_allowlist)") if source.allowlist else ""
    if not source.accepted:
        return (f"the archive records the policy it was exported under{relaxed}; verified under the verifier's policy "
                f"(pass --accept-recorded-policy to apply it){allowlist}")
    gated = {rule.code for rule in REFUSING_LOAD}
    integrity = [code for code in source.kept if code not in gated]
    models = [code for code in source.kept if code in gated]
    kept = (f"; the integrity rules {', '.join(integrity)} stay at the verifier's level, which nothing the "
            f"archive says can relax") if integrity else ""
    kept += (f"; the model-file rules {', '.join(models)} stay at the verifier's level, as its allow-list does") \
        if models else ""
    return f"verified under the policy recorded in the archive (--accept-recorded-policy){relaxed}{kept}{allowlist}"


def _first(names: tuple[str, ...], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def entries(ctx: Context) -> Iterator[Finding]:
    archive_ctx = archive_of(ctx)
    return check_entries(archive_ctx.archive.entries, archive_ctx.max_size)


def clashes(ctx: Context) -> Iterator[Finding]:
    return check_clashes([entry.name for entry in archive_of(ctx).archive.entries])


def layout(ctx: Context) -> Iterator[Finding]:
    archive = archive_of(ctx).archive
    if archive.end is not None:
        yield from check_layout(archive.handle, archive.entries, archive.end)


def file_name(ctx: Context) -> Iterator[Finding]:
    """The archive's file name is the one export gives packflow.yaml's name and version."""
    path = archive_of(ctx).archive.path
    name, version = ctx.config.text_field("name"), ctx.config.text_field("version")
    if name and version and not naming.name_problem(name) and path.name != naming.archive_name(name, version):
        yield NAME_MISMATCH(f"file name {path.name!r} does not match packflow.yaml (expected "
                            f"{naming.archive_name(name, version)!r})", None)


def sidecar(ctx: Context) -> list[Finding]:
    return check_sidecar(archive_of(ctx).archive.path)


RULES = (NOT_A_ZIP, LAYOUT, CORRUPT, NOT_A_PLAIN_FILE, TOO_BIG, NAME_MISMATCH, CHECKSUM, PROVENANCE, RECORDED, CLASH)
CHECKS = (
    Check("end record", end_record, raises=(NOT_A_ZIP, LAYOUT), needs=Need.ARCHIVE, stage=Stage.LOCATE),
    Check("provenance", provenance, raises=(PROVENANCE, RECORDED), needs=Need.ARCHIVE, stage=Stage.RECORDS),
    Check("entries", entries, raises=(LAYOUT, NOT_A_PLAIN_FILE, CORRUPT, TOO_BIG), needs=Need.ARCHIVE,
          stage=Stage.RECORDS),
    Check("layout", layout, raises=(LAYOUT,), needs=Need.ARCHIVE, stage=Stage.RECORDS),
    Check("clashes", clashes, raises=(CLASH,), needs=Need.ARCHIVE, stage=Stage.RECORDS),
    Check("file name", file_name, raises=(NAME_MISMATCH,), needs=Need.ARCHIVE),
    Check("sidecar", sidecar, raises=(CHECKSUM,), needs=Need.ARCHIVE, stage=Stage.SEAL),
)
