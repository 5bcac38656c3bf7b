"""scan_model_file: recognise a file by its bytes, open every container it is, and analyse every pickle in it."""

from __future__ import annotations

import lzma
import struct
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, cast

from ..archive import zipformat
from . import containers, keras_config, sniff
from .allowlist import AllowList, bundled_allowlist, distribution_of
from .context import Context, LimitHit, Unavailable
from .pickle_vm import Malformed
from .pickles import looks_like_pickle, scan_pickles
from .reader import CHUNK, Reader, Truncated
from .results import DEFAULT_LIMITS, Format, IssueKind, Limits, ModelScan

_READ_ERRORS = (OSError, EOFError, zipformat.ZipFormatError, tarfile.TarError, lzma.LZMAError, zlib.error, ValueError,
                struct.error, Truncated, Malformed, RecursionError, MemoryError, KeyError)
_JOBLIB_ONLY = ("zlib", "lz4", "lzma")


def scan_model_file(name: str, open_stream: Callable[[], BinaryIO], limits: Limits = DEFAULT_LIMITS,
                    allowlist: AllowList | None = None) -> ModelScan:
    """Analyse one file without executing or importing anything it names; never raises for bad content."""
    ctx = Context(name, allowlist or bundled_allowlist(), limits)
    found = Format.NOT_A_MODEL
    try:
        with open_stream() as stream:
            found = _scan_stream(ctx, stream, "", 0)
    except LimitHit as hit:
        ctx.incomplete(IssueKind.LIMIT, "limit", "", -1, f"it was not fully analysed: {hit}")
    except Unavailable as missing:
        ctx.incomplete(IssueKind.UNAVAILABLE, "unavailable", "", -1, f"it cannot be analysed here: {missing}")
    except _READ_ERRORS as error:
        ctx.incomplete(IssueKind.MALFORMED, "unreadable", "", -1,
                       f"it could not be read to the end ({type(error).__name__}: {error})")
    except Exception as error:  # noqa: BLE001 - a scanner bug must leave the verdict "incomplete", never a crash
        ctx.incomplete(IssueKind.MALFORMED, "internal error", "", -1,
                       f"it could not be analysed (internal error {type(error).__name__}: {error})")
    return _result(ctx, found)


def scan_path(path: Path, limits: Limits = DEFAULT_LIMITS, allowlist: AllowList | None = None) -> ModelScan:
    """scan_model_file on a file on disk, named by its path."""
    return scan_model_file(str(path), lambda: open(path, "rb"), limits, allowlist)


def _result(ctx: Context, found: Format) -> ModelScan:
    compression = "+".join(dict.fromkeys(ctx.compression))
    if found == Format.PICKLE and ("joblib.numpy_pickle.NumpyArrayWrapper" in ctx.globals
                                   or any(kind in ctx.compression for kind in _JOBLIB_ONLY)):
        found = Format.JOBLIB
    distributions = set(ctx.distributions)
    for dotted in ctx.globals:
        distribution = distribution_of(dotted.rpartition(".")[0] or dotted)
        if distribution:
            distributions.add(distribution)
    if found == Format.JOBLIB and any(kind in ctx.compression for kind in _JOBLIB_ONLY):
        distributions.add("joblib")
    if "lz4" in ctx.compression:
        distributions.add("lz4")
    return ModelScan(ctx.name, found, compression, tuple(sorted(ctx.globals)), ctx.issues(), ctx.complete,
                     tuple(sorted(distributions)), ctx.pickles, ctx.opcodes)


def _start(stream: BinaryIO) -> int | None:
    try:
        return stream.tell() if stream.seekable() else None
    except (OSError, ValueError, AttributeError):
        return None


def _scan_stream(ctx: Context, stream: BinaryIO, member: str, depth: int) -> Format:
    """Recognise the stream by its first bytes and analyse it; returns the format found."""
    if depth > ctx.limits.max_depth:
        raise LimitHit(f"containers nested deeper than {ctx.limits.max_depth}")
    start = _start(stream)
    reader = Reader(stream)
    head = reader.peek(sniff.HEAD)
    kind = sniff.compression(head)
    if kind:
        ctx.compression.append(kind)
        inner = containers.Inflating(reader.rest(), kind, ctx)
        found = _scan_stream(ctx, inner, member, depth + 1)  # type: ignore[arg-type]
        return found
    shape = sniff.container(head)
    if shape == sniff.ZIP:
        return _in_copy(_scan_zip, ctx, stream, reader, start, member, depth)
    if shape == sniff.NPY:
        return _scan_npy(ctx, reader, member)
    if shape == sniff.PICKLE or (head and looks_like_pickle(reader.peek(1 << 16), ctx.allow)):
        return Format(scan_pickles(ctx, reader, member))
    if shape == sniff.H5:
        ctx.distributions.add("h5py")
        keras_config.scan_h5(ctx, reader, member)
        return Format.H5
    if shape == sniff.TAR:
        return _in_copy(_scan_tar, ctx, stream, reader, start, member, depth)
    size = _size(stream, start)
    safe = sniff.safe_format(head, size)
    return Format(safe) if safe else Format.NOT_A_MODEL


def _in_copy(scan: Callable[..., Format], ctx: Context, stream: BinaryIO, reader: Reader, start: int | None,
             member: str | None, depth: int) -> Format:
    """Run a container scan on a seekable copy of the stream; a spooled copy is closed after it."""
    copy = containers.seekable_copy(stream, reader, start)
    try:
        return scan(ctx, copy, member, depth)
    finally:
        if copy is not stream:
            copy.close()


def _size(stream: BinaryIO, start: int | None) -> int | None:
    if start is None:
        return None
    try:
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
        return end - start
    except (OSError, ValueError):
        return None


def _scan_npy(ctx: Context, reader: Reader, member: str) -> Format:
    try:
        header = containers.npy_header(reader)
        objects = containers.has_object(header["descr"])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, Truncated) as error:
        ctx.issue(IssueKind.MALFORMED, "npy header", member, 0, f"its .npy header cannot be read ({error})")
        return Format.NPY_NUMERIC
    ctx.distributions.add("numpy")
    if not objects:
        return Format.NPY_NUMERIC
    scan_pickles(ctx, reader, member, joblib=False)
    return Format.NPY_OBJECT


def _member_name(member: str, name: str) -> str:
    return f"{member}/{name}" if member else name


def _zip_kind(ctx: Context, stream: BinaryIO) -> tuple[str, bool]:
    """(torch, keras, npz or zip, whether members follow past the bound), from the names of the members the scan
    may look at: the directory is walked, never loaded (a million members cost no memory)."""
    names = containers.ZipNames()
    try:
        for entry in zipformat.walk_central_directory(stream, ctx.limits.max_members):
            names.add(entry.name)
    except zipformat.MemberLimit:
        return names.kind(), True
    return names.kind(), False


def _scan_zip(ctx: Context, stream: BinaryIO, member: str, depth: int) -> Format:
    """Every member that can hold code: PyTorch's *.pkl (CRC checked), npz's .npy, Keras's config.json, any other.
    Past max_members the rest is not analysed (LimitHit: PF823), after the members before the bound were."""
    kind, more = _zip_kind(ctx, stream)
    try:
        for entry in zipformat.walk_central_directory(stream, ctx.limits.max_members):
            ctx.count_member()
            if entry.name.endswith("/"):
                continue
            name = _member_name(member, entry.name)
            if kind == "torch":
                if entry.name.endswith(".pkl"):
                    _scan_torch_member(ctx, stream, entry, name)
                continue
            if kind == "keras" and entry.name == "config.json":
                _scan_keras_config(ctx, stream, entry, name)
                continue
            data = zipformat.MemberReader(stream, entry)
            if kind == "npz" and entry.name.endswith(".npy"):
                _scan_npy(ctx, Reader(cast(BinaryIO, data), seekable=False), name)
            else:
                _scan_stream(ctx, cast(BinaryIO, data), name, depth + 1)
    except zipformat.MemberLimit:
        more = True
    if more:
        raise LimitHit(f"more than {ctx.limits.max_members:,} members in one zip archive: the rest is not analysed")
    if kind == "torch":
        ctx.distributions.add("torch")
        return Format.TORCH_ZIP
    if kind == "keras":
        ctx.distributions.add("keras")
        return Format.KERAS_ZIP
    return Format.NPZ if kind == "npz" else Format.ZIP


def _scan_torch_member(ctx: Context, stream: BinaryIO, entry: zipformat.CentralEntry, name: str) -> None:
    data = zipformat.MemberReader(stream, entry)
    scan_pickles(ctx, Reader(cast(BinaryIO, data), seekable=False), name, joblib=False, torch_persistent=True)
    while data.read(CHUNK):
        pass
    if (data.crc & 0xFFFFFFFF) != entry.crc:
        containers.crc_issue(ctx, name, entry.header_offset, entry.crc, data.crc)


def _scan_keras_config(ctx: Context, stream: BinaryIO, entry: zipformat.CentralEntry, name: str) -> None:
    if entry.file_size > ctx.limits.max_config_bytes:
        raise LimitHit(f"a config.json larger than {ctx.limits.max_config_bytes:,} bytes")
    raw = zipformat.MemberReader(stream, entry).read(ctx.limits.max_config_bytes + 1)
    if not keras_config.check_config_bytes(ctx, raw, name):
        ctx.incomplete(IssueKind.MALFORMED, "config.json", name, -1,
                       "its Keras config.json is not JSON; the model it describes was not analysed")


def _scan_tar(ctx: Context, stream: BinaryIO, member: str, depth: int) -> Format:
    """Every regular member of a tar archive (PyTorch's oldest layout is one)."""
    with tarfile.open(fileobj=stream, mode="r:") as archive:
        names = []
        for info in archive:
            ctx.count_member()
            names.append(info.name)
            if not info.isfile():
                continue
            data = archive.extractfile(info)
            if data is not None:
                _scan_stream(ctx, data, _member_name(member, info.name), depth + 1)  # type: ignore[arg-type]
    if "pickle" in names and "storages" in names:
        ctx.distributions.add("torch")
        return Format.TORCH_TAR
    return Format.TAR
