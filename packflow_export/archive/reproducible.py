"""Reproducibility in one place: the same files give the same archive bytes on every machine, at every time.

Every member carries one date (SOURCE_DATE_EPOCH, else the clean checkout's commit time, else 1980-01-01),
clamped to what a zip can hold; every mode is 0644 or 0755 by the executable bit alone; no owner, no extra
fields. (Compression's part, a deterministic deflate level and fixed blocks, is in deflate.py.)
"""

from __future__ import annotations

import stat
import time
from typing import Callable, Mapping, Optional

FIXED_DATE_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the earliest date a zip can hold
LAST_DATE_EPOCH = 4354819199  # 2107-12-31T23:59:59Z, the last


class BadSourceDate(ValueError):
    """SOURCE_DATE_EPOCH is set but is not a whole number of seconds."""


def source_date_epoch(environ: Mapping[str, str], clean_commit_time: Callable[[], Optional[int]]) -> int:
    """SOURCE_DATE_EPOCH; else the commit time of HEAD when the checkout is clean (asked only then); else
    1980-01-01."""
    value = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value:
        try:
            return int(value)
        except ValueError:
            raise BadSourceDate(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds") from None
    commit_time = clean_commit_time()
    return commit_time if commit_time is not None else FIXED_DATE_EPOCH


def clamp_epoch(epoch: int) -> int:
    """The epoch moved into the range a zip's DOS date can hold (1980..2107)."""
    return min(max(epoch, FIXED_DATE_EPOCH), LAST_DATE_EPOCH)


def dos_date_time(epoch: int) -> tuple[int, int]:
    """(time, date) fields of a UTC epoch, as zip stores them (2-second resolution, 1980..2107)."""
    year, month, day, hour, minute, second = time.gmtime(epoch)[:6]
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def member_mode(executable: bool) -> int:
    """A member's Unix mode: a regular file, 0755 when executable, else 0644; nothing else of the source's mode."""
    return stat.S_IFREG | (0o755 if executable else 0o644)
