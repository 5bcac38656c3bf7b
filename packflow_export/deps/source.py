"""Which advisory source a run uses, from its options and then the environment, opened once per process.

`--db PATH` (OSV's PyPI all.zip or a folder of OSV records) wins, then `--osv-url URL`, then the environment:
PACKFLOW_EXPORT_OSV_DB, then PACKFLOW_EXPORT_OSV_URL. `audit` falls back on OSV's public API; check, export,
release and verify audit only when a source is configured, so a check with nothing configured stays offline
and fast.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, NamedTuple, Optional

if TYPE_CHECKING:  # the database module is imported only when a source is opened: check stays fast without one
    from .database import AdvisorySource

DB_ENV = "PACKFLOW_EXPORT_OSV_DB"
URL_ENV = "PACKFLOW_EXPORT_OSV_URL"


class SourceSpec(NamedTuple):
    """Where advisories come from: a database path, or an OSV API base URL."""

    db: Optional[Path] = None
    url: Optional[str] = None

    @property
    def description(self) -> str:
        """The path or the URL, for reports."""
        return str(self.db) if self.db is not None else str(self.url)


def configured_source(db: Optional[Path] = None, url: Optional[str] = None,
                      environ: Optional[Mapping[str, str]] = None) -> Optional[SourceSpec]:
    """The source the options name, else the environment's, else None (nothing configured)."""
    environ = os.environ if environ is None else environ
    if db is not None:
        return SourceSpec(db=Path(db))
    if url:
        return SourceSpec(url=url)
    if environ.get(DB_ENV):
        return SourceSpec(db=Path(environ[DB_ENV]))
    if environ.get(URL_ENV):
        return SourceSpec(url=environ[URL_ENV])
    return None


def open_source(spec: SourceSpec) -> AdvisorySource:
    """The source itself (a database is read and indexed once per process while its file is unchanged)."""
    if spec.db is not None:
        path = Path(spec.db)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            stamp = 0
        return _database(str(path.resolve()), stamp)
    return _api(str(spec.url))


@lru_cache(maxsize=4)
def _database(path: str, stamp: int) -> AdvisorySource:
    from .database import open_database

    return open_database(Path(path))


@lru_cache(maxsize=4)
def _api(url: str) -> AdvisorySource:
    from .api import OsvApi

    return OsvApi(url)
