"""Store or deflate: each file is deflated only when that saves at least 5%, decided from its suffix, from the
whole file when it is one block, or from a deflated sample of its start and middle.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import IO, Optional

from . import zipformat
from .deflate import DEFLATE_BLOCK_BYTES, deflate_block, deflate_level

SAMPLE_BYTES = 1 << 16
SMALL_FILE_BYTES = 8 << 10  # files below this are deflated by zlib (see small_file_codec)
STORE_RATIO = 0.95  # deflate only when the sample shrinks below this
# Already-compressed formats: stored without sampling.
STORED_SUFFIXES = frozenset({
    ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".whl", ".jar", ".png", ".jpg", ".jpeg", ".gif",
    ".webp", ".avif", ".heic", ".mp3", ".mp4", ".m4a", ".ogg", ".webm", ".mkv", ".mov", ".pdf", ".docx", ".xlsx",
    ".pptx", ".parquet", ".lz4", ".br",
})


def small_file_codec(size: int) -> ModuleType:
    """The deflate for a file of this size. ISA-L's level 0 codes with fixed Huffman tables, which cost a small
    file a third of its ratio (a 512-byte source file: 0.71 against zlib's 0.47); below 8 KiB zlib's level 1
    builds its own tables, at about 13 µs a file."""
    import zlib

    return zlib if size < SMALL_FILE_BYTES else zipformat.codec()


def stored_by_suffix(name: str) -> bool:
    """An already-compressed format, by its suffix."""
    return os.path.splitext(name)[1].lower() in STORED_SUFFIXES


def plan_small(data: bytes, name: str) -> tuple[str, Optional[bytes]]:
    """(method, compressed bytes or None) for a file of one block: deflated when that saves at least 5%."""
    if not data or stored_by_suffix(name):
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
    if stored_by_suffix(name):
        return "stored"
    codec = zipformat.codec()
    sample = stream.read(SAMPLE_BYTES)
    stream.seek(size // 2)
    sample += stream.read(SAMPLE_BYTES)
    stream.seek(0)
    compressor = codec.compressobj(deflate_level(codec), codec.DEFLATED, -15)
    shrunk = len(compressor.compress(sample)) + len(compressor.flush())
    return "deflated" if shrunk < STORE_RATIO * len(sample) else "stored"
