"""Containers a pickle hides in: compressed framings (joblib's and .gz/.bz2/.xz), zip archives (PyTorch, npz,
Keras, any zip), tar archives, and NumPy's .npy header. Each hands its payload back to the format dispatcher.
"""

from __future__ import annotations

import ast
import bz2
import io
import lzma
import tempfile
import zlib
from typing import Any, BinaryIO, Callable, Protocol

from .context import Context, LimitHit, Unavailable
from .reader import CHUNK, Reader
from .results import IssueKind

SPOOL_MEMORY = 64 << 20


class _Decompressor(Protocol):
    @property
    def needs_input(self) -> bool: ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class _Zlib:
    """zlib/gzip decompressobj behind the bz2/lzma interface (needs_input, eof, max_length)."""

    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._d.decompress(self._d.unconsumed_tail + data, max(0, max_length))
        self.needs_input = not self._d.unconsumed_tail and len(out) < max_length
        return out


def _decompressor(kind: str) -> Callable[[], _Decompressor]:
    if kind == "zlib":
        return lambda: _Zlib(15)
    if kind == "gzip":
        return lambda: _Zlib(31)
    if kind == "bz2":
        return bz2.BZ2Decompressor
    if kind in ("xz", "lzma"):
        return lambda: lzma.LZMADecompressor(lzma.FORMAT_AUTO)
    try:
        import lz4.frame
    except ImportError:
        raise Unavailable("lz4 is not installed, so the lz4-compressed pickle cannot be analysed "
                          "(pip install lz4)") from None
    return lz4.frame.LZ4FrameDecompressor


class Inflating(io.RawIOBase):
    """A decompressing, bounded, forward-only stream; multi-stream files (gzip, bz2, xz) are followed."""

    def __init__(self, source: BinaryIO, kind: str, ctx: Context) -> None:
        super().__init__()
        self._source = source
        self._make = _decompressor(kind)
        self._d = self._make()
        self._ctx = ctx
        self._multi = kind in ("gzip", "bz2", "xz")
        self._done = False

    def readable(self) -> bool:
        return True

    def _more_input(self) -> bytes:
        if self._d.eof:
            rest = self._d.unused_data or self._source.read(CHUNK)
            if not rest or not self._multi:
                self._done = True
                return b""
            self._d = self._make()
            return rest
        data = self._source.read(CHUNK)
        if not data:
            raise EOFError("the compressed stream ends early")
        return data

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size is None or size < 0 else size
        while not self._done:
            data = b"" if not self._d.needs_input and not self._d.eof else self._more_input()
            if self._done:
                break
            try:
                out = self._d.decompress(data, size)
            except (RuntimeError, OSError) as error:   # lz4.frame reports corrupt input as RuntimeError
                raise ValueError(f"the compressed stream is corrupt ({error})") from None
            if out:
                self._ctx.decompressed += len(out)
                if self._ctx.decompressed > self._ctx.limits.max_decompressed:
                    raise LimitHit(f"more than {self._ctx.limits.max_decompressed:,} bytes decompressed "
                                   f"(a decompression bomb?)")
                return out
        return b""

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def seekable_copy(stream: BinaryIO, reader: Reader, start: int | None) -> BinaryIO:
    """The stream from its start, seekable: rewound when it can seek, else spooled (memory, then disk)."""
    if start is not None:
        stream.seek(start)
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
    rest = reader.rest()
    while True:
        data = rest.read(CHUNK)
        if not data:
            break
        spool.write(data)
    spool.seek(0)
    return spool  # type: ignore[return-value]


class ZipNames:
    """What a zip's member names say it is (torch, keras, npz or zip), learnt one name at a time."""

    def __init__(self) -> None:
        self.torch = self.config = self.keras_part = False
        self.npy_only, self.any = True, False

    def add(self, name: str) -> None:
        self.any = True
        self.torch = self.torch or name == "data.pkl" or name.endswith("/data.pkl")
        self.config = self.config or name == "config.json"
        self.keras_part = self.keras_part or name in ("metadata.json", "model.weights.h5")
        self.npy_only = self.npy_only and name.endswith(".npy")

    def kind(self) -> str:
        if self.torch:
            return "torch"
        if self.config and self.keras_part:
            return "keras"
        return "npz" if self.any and self.npy_only else "zip"


def zip_kind(names: list[str]) -> str:
    """torch, keras, npz or zip, from the member names."""
    found = ZipNames()
    for name in names:
        found.add(name)
    return found.kind()


def npy_header(reader: Reader) -> dict[str, Any]:
    """The header dict of a .npy stream (positioned after it); ValueError when it is not one."""
    magic = reader.read(8)
    major = magic[6]
    if magic[:6] != b"\x93NUMPY" or major not in (1, 2, 3):
        raise ValueError("not a .npy header")
    length = int.from_bytes(reader.read(2 if major == 1 else 4), "little")
    if length > 1 << 16:
        raise ValueError(f"a .npy header of {length} bytes")
    text = reader.read(length).decode("utf-8" if major == 3 else "latin-1")
    header = ast.literal_eval(text)
    if not isinstance(header, dict) or "descr" not in header:
        raise ValueError("the .npy header has no descr")
    return header


def has_object(descr: Any, depth: int = 0) -> bool:
    """Whether a .npy dtype description holds Python objects (then the data is a pickle)."""
    if depth > 32:
        raise ValueError("dtype nests too deeply")
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, list):
        return any(has_object(field[1], depth + 1) for field in descr
                   if isinstance(field, tuple) and len(field) >= 2)
    raise ValueError("unknown dtype description")


def crc_issue(ctx: Context, member: str, offset: int, declared: int, crc: int) -> None:
    ctx.issue(IssueKind.CRC, member, member, offset,
              f"its CRC-32 is {crc:08x} where the zip says {declared:08x}: the member was changed after the "
              f"archive was written (PyTorch's reader does not check this)")
