"""A forward-only buffered reader over a binary stream that can skip bulk bytes without keeping them."""

from __future__ import annotations

import io
from typing import BinaryIO, cast

CHUNK = 1 << 20


class Truncated(Exception):
    """The stream ended inside something that needed more bytes."""


class Reader:
    """Reads, peeks, reads lines and skips over a stream; seeks forward when the stream allows it."""

    def __init__(self, stream: BinaryIO, seekable: bool | None = None) -> None:
        self._stream = stream
        self._buffer = b""
        self._pos = 0
        self._base = 0          # stream offset of _buffer[0], relative to where the reader started
        self._eof = False
        if seekable is None:
            try:
                seekable = bool(stream.seekable())
            except (OSError, ValueError, AttributeError):
                seekable = False
        self._seekable = seekable

    def tell(self) -> int:
        """Bytes consumed since the reader started."""
        return self._base + self._pos

    def _fill(self, need: int) -> bool:
        """Make `need` bytes available after the position; False when the stream ends first."""
        have = len(self._buffer) - self._pos
        if have >= need:
            return True
        parts = [self._buffer[self._pos:]]
        while have < need and not self._eof:
            data = self._stream.read(max(CHUNK, need - have))
            if not data:
                self._eof = True
                break
            parts.append(data)
            have += len(data)
        self._base += self._pos
        self._buffer = b"".join(parts)
        self._pos = 0
        return have >= need

    def read(self, size: int) -> bytes:
        """Exactly `size` bytes, or Truncated."""
        pos = self._pos
        end = pos + size
        if end <= len(self._buffer):
            self._pos = end
            return self._buffer[pos:end]
        if not self._fill(size):
            raise Truncated(f"needed {size} bytes at offset {self.tell()}")
        data = self._buffer[:size]
        self._pos = size
        return data

    def byte(self) -> int:
        """One byte as an int, or -1 at the end of the stream."""
        pos = self._pos
        if pos < len(self._buffer):
            self._pos = pos + 1
            return self._buffer[pos]
        if not self._fill(1):
            return -1
        self._pos = 1
        return self._buffer[0]

    def peek(self, size: int) -> bytes:
        """Up to `size` bytes ahead, without consuming them."""
        self._fill(size)
        return self._buffer[self._pos:self._pos + size]

    def at_end(self) -> bool:
        """True when no byte is left."""
        return not self._fill(1)

    def readline(self, limit: int) -> bytes | None:
        """A line without its newline; None when longer than `limit` (the rest of the line is skipped)."""
        while True:
            index = self._buffer.find(b"\n", self._pos, self._pos + limit + 1)
            if index >= 0:
                line = self._buffer[self._pos:index]
                self._pos = index + 1
                return line
            if len(self._buffer) - self._pos > limit:
                self._skip_line()
                return None
            if not self._fill(len(self._buffer) - self._pos + CHUNK):
                raise Truncated(f"line not ended at offset {self.tell()}")

    def _skip_line(self) -> None:
        """Consume through the next newline without keeping the bytes."""
        while True:
            index = self._buffer.find(b"\n", self._pos)
            if index >= 0:
                self._pos = index + 1
                return
            self._base += len(self._buffer)
            self._buffer = b""
            self._pos = 0
            if not self._fill(1):
                raise Truncated("line not ended")

    def skip(self, size: int) -> None:
        """Skip `size` bytes (seeking when possible); Truncated when the stream is shorter."""
        have = len(self._buffer) - self._pos
        if size <= have:
            self._pos += size
            return
        remaining = size - have
        self._base += len(self._buffer)
        self._buffer = b""
        self._pos = 0
        if self._seekable and remaining > CHUNK:
            try:
                here = self._stream.tell()
                end = self._stream.seek(0, io.SEEK_END)
                if here + remaining > end:
                    self._stream.seek(end)
                    self._base += end - here
                    self._eof = True
                    raise Truncated(f"needed {remaining} more bytes")
                self._stream.seek(here + remaining)
                self._base += remaining
                return
            except (OSError, ValueError):
                self._seekable = False
        while remaining > 0:
            data = self._stream.read(min(CHUNK, remaining))
            if not data:
                self._eof = True
                raise Truncated(f"needed {remaining} more bytes")
            remaining -= len(data)
            self._base += len(data)

    def rest(self) -> BinaryIO:
        """A stream of what is left (the buffered bytes, then the underlying stream)."""
        return cast(BinaryIO, _Rest(self._buffer[self._pos:], self._stream))


class _Rest(io.RawIOBase):
    """Buffered bytes followed by the rest of a stream, as one readable stream."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                head, self._head = self._head, b""
                if size < 0:
                    return head + self._stream.read()
                return head
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._stream.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)
