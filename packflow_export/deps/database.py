"""An offline OSV database: OSV's per-ecosystem dump (a zip of `<ID>.json`, as the osv-vulnerabilities bucket's
`PyPI/all.zip`) or a folder of such files, read once and indexed by PEP 503 package name.

Every record is parsed once, when the database is opened; only what matching needs is kept (the details and
references are dropped). A package's advisories are compiled (versions parsed) the first time it is looked
up, and each (package, version) is matched once per run, so auditing N projects costs the index plus work
linear in the distinct pins they hold.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Collection, Iterator, Mapping, NamedTuple, Optional, Protocol

from packaging.version import Version

from .osv import (AffectedPackage, JsonObject, advisory_of, affected_fix, compile_affected, parse_version, pypi_entries,
                  usable)
from .records import Advisory, AdvisorySourceError, Match, normalize_name

MAX_RECORD_BYTES = 32 * 1024 * 1024  # the largest real OSV record is well under 1 MiB
PackageKey = tuple[str, str]  # (PEP 503 name, version as pinned)


class AdvisorySource(Protocol):
    """Where advisories come from: a database file or folder, or the OSV API."""

    @property
    def description(self) -> str:
        """What the source is, for reports: the path or the URL."""

    def lookup(self, packages: Collection[PackageKey]) -> dict[PackageKey, tuple[Match, ...]]:
        """The advisories affecting each (name, version); raises AdvisorySourceError rather than answer nothing."""


class Problem(NamedTuple):
    """A database member that could not be used, and why (reported, never fatal on its own)."""

    member: str
    message: str


class _Entry(NamedTuple):
    advisory: Advisory
    raw: tuple[JsonObject, ...]  # the record's affected[] entries for one package, as read


class AdvisoryDatabase:
    """OSV records indexed by package name; matches (name, version) pairs with OSV's semantics."""

    def __init__(self, description: str, index: dict[str, list[_Entry]], problems: tuple[Problem, ...] = (),
                 record_count: int = 0, newest: Optional[str] = None) -> None:
        self.description = description
        self.newest = newest  # the latest `modified` of any record: how fresh the database is
        self.problems = problems
        self.record_count = record_count
        self._index = index
        self._compiled: dict[str, list[tuple[Advisory, tuple[AffectedPackage, ...]]]] = {}
        self._versions: dict[str, Optional[Version]] = {}
        self._matches: dict[PackageKey, tuple[Match, ...]] = {}

    @property
    def package_count(self) -> int:
        """How many PyPI packages have at least one advisory."""
        return len(self._index)

    def advisory_ids(self, name: str) -> tuple[str, ...]:
        """Every advisory id recorded for a package, whatever the version."""
        return tuple(entry.advisory.id for entry in self._index.get(normalize_name(name), ()))

    def _parse(self, text: str) -> Optional[Version]:
        if text not in self._versions:
            self._versions[text] = parse_version(text)
        return self._versions[text]

    def _package(self, name: str) -> list[tuple[Advisory, tuple[AffectedPackage, ...]]]:
        compiled = self._compiled.get(name)
        if compiled is None:
            compiled = []
            for entry in self._index.get(name, ()):
                packages = tuple(item for item in (compile_affected(raw, self._parse) for raw in entry.raw) if item)
                compiled.append((entry.advisory, packages))
            self._compiled[name] = compiled
        return compiled

    def matches(self, name: str, version: str) -> tuple[Match, ...]:
        """The advisories affecting `name` at `version`, sorted by id (cached for the run)."""
        key = (normalize_name(name), version)
        found = self._matches.get(key)
        if found is None:
            parsed = self._parse(version)
            hits = []
            for advisory, packages in self._package(key[0]):
                affected, fixed = affected_fix(packages, parsed, version)
                if affected:
                    hits.append(Match(advisory, fixed))
            found = self._matches[key] = tuple(sorted(hits, key=lambda match: match.advisory.id))
        return found

    def lookup(self, packages: Collection[PackageKey]) -> dict[PackageKey, tuple[Match, ...]]:
        """The advisories affecting each (name, version)."""
        return {key: self.matches(*key) for key in packages}


def open_database(path: Path) -> AdvisoryDatabase:
    """Read an OSV dump (zip) or a folder of OSV JSON files; AdvisorySourceError when it holds no PyPI advisory."""
    path = Path(path)
    if path.is_dir():
        blobs = _folder_members(path)
    elif path.is_file():
        blobs = _zip_members(path)
    else:
        raise AdvisorySourceError(f"{path}: no such advisory database (give OSV's PyPI all.zip or a folder of "
                                  f"OSV .json files)")
    index: dict[str, list[_Entry]] = {}
    problems: list[Problem] = []
    seen: set[str] = set()
    records = 0
    newest = ""
    for member, data in blobs:
        if isinstance(data, Problem):
            problems.append(data)
            continue
        record = _decode(member, data, problems)
        if record is None or not usable(record):
            continue
        records += 1
        if record["id"] in seen:
            problems.append(Problem(member, f"{record['id']} appears twice; the first copy is used"))
            continue
        seen.add(record["id"])
        modified = record.get("modified")
        if isinstance(modified, str) and modified > newest:
            newest = modified
        _add(index, record)
    if not index:
        raise AdvisorySourceError(f"{path}: holds no PyPI advisory ({records} usable records, {len(problems)} "
                                  f"unreadable): is it OSV's PyPI dump?")
    return AdvisoryDatabase(str(path), index, tuple(problems), records, newest or None)


def _add(index: dict[str, list[_Entry]], record: JsonObject) -> None:
    by_name: dict[str, list[JsonObject]] = {}
    for name, entry in pypi_entries(record):
        by_name.setdefault(name, []).append({key: entry.get(key) for key in ("package", "ranges", "versions")})
    for name, raws in by_name.items():
        index.setdefault(name, []).append(_Entry(advisory_of(record, raws), tuple(raws)))


def _decode(member: str, data: bytes, problems: list[Problem]) -> Optional[JsonObject]:
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(Problem(member, f"not JSON: {exc}"))
        return None
    if not isinstance(record, Mapping):
        problems.append(Problem(member, "not an OSV record (a JSON object)"))
        return None
    return record


def _zip_members(path: Path) -> Iterator[tuple[str, bytes | Problem]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AdvisorySourceError(f"{path}: not a readable zip of OSV records ({exc})") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            if info.file_size > MAX_RECORD_BYTES:
                yield info.filename, Problem(info.filename, f"{info.file_size} bytes: too large for an OSV record")
                continue
            try:
                yield info.filename, archive.read(info)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                yield info.filename, Problem(info.filename, f"cannot be read: {exc}")


def _folder_members(path: Path) -> Iterator[tuple[str, bytes | Problem]]:
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            if not name.lower().endswith(".json"):
                continue
            file = Path(folder, name)
            member = file.relative_to(path).as_posix()
            try:
                if file.stat().st_size > MAX_RECORD_BYTES:
                    yield member, Problem(member, "too large for an OSV record")
                    continue
                yield member, file.read_bytes()
            except OSError as exc:
                yield member, Problem(member, f"cannot be read: {exc.strerror or exc}")
