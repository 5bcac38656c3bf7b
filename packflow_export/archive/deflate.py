"""Deflate that is deterministic and proven: fixed 1 MiB blocks, each compressed on its own (in parallel once a file
spans several) and inflated again before it is written.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType
from typing import Optional, Union

from . import zipformat

DEFLATE_BLOCK_BYTES = 1 << 20  # fixed: the archive's bytes depend on it
DEFLATE_THREADS = max(1, min(4, os.cpu_count() or 1))


def deflate_level(codec: ModuleType) -> int:
    """ISA-L's level 0, its fastest, and the only one whose output is the same from process to process: at levels
    1-3 the matches it picks vary with the memory layout (ASLR), measured as 5 of 20 runs differing. zlib: level 1,
    its fastest."""
    return 0 if codec.__name__.startswith("isal") else 1


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
