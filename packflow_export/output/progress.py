"""A progress bar on stderr for exports that take more than a moment, only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    """A progress bar on stderr, only on a terminal and only once the work takes more than a moment."""

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream or sys.stderr
        self.total, self.done, self.shown, self.last = 1, 0, False, 0.0
        self.started = time.monotonic()

    def start(self, total: int) -> Progress:
        self.total, self.started = max(total, 1), time.monotonic()
        return self

    def __call__(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.started < 0.5 or now - self.last < 0.1:
            return
        self.last, self.shown = now, True
        filled = int(30 * self.done / self.total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {100 * self.done // self.total:3d}% "
                          f"{self.done / 2**20:,.0f}/{self.total / 2**20:,.0f} MiB")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
