"""OSV advisories for PyPI, read and evaluated with OSV's own semantics (ossf/osv-schema, "Evaluation").

A version is affected by an `affected[]` entry when it is listed in `versions` or lies in any `ECOSYSTEM`
range. A range's events are sorted by PEP 440 version (`introduced: "0"` before everything; at one version
introduced < last_affected < fixed < limit, as osv.dev sorts them) and walked: at or past `introduced` the
version is affected, at or past `fixed` it is not, strictly past `last_affected` it is not; with `limit`
events the version must also lie below one of them (`*` is infinity). `GIT` and `SEMVER` ranges, other
ecosystems, withdrawn records and keys this reader does not know are ignored; version strings that are not
PEP 440 are skipped (an event that cannot be ordered cannot bound anything), never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional

from packaging.version import InvalidVersion, Version

from .records import Advisory, Severity, normalize_name

ECOSYSTEM = "PyPI"
EVENT_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}
SUMMARY_LIMIT = 200

# Sort keys: (0,) sorts before every version ("introduced": "0"), (1, Version) is a version, (2,) sorts after
# every version ("limit": "*").
SortKey = tuple[Any, ...]
BOTTOM: SortKey = (0,)
TOP: SortKey = (2,)
VersionParser = Callable[[str], Optional[Version]]
JsonObject = Mapping[str, Any]  # an OSV record or part of one, as json.loads gives it


def _list(value: Any) -> list[Any]:
    """A JSON array, or an empty one for anything else (a reader never trusts a record's shape)."""
    return value if isinstance(value, list) else []


def parse_version(text: str) -> Optional[Version]:
    """A PEP 440 version, or None for a string that is not one (`2.0.1rc2-git`, `0.3.2d`)."""
    try:
        return Version(text)
    except (InvalidVersion, TypeError):
        return None


class Event(NamedTuple):
    """One range event with the key it sorts by."""

    kind: str
    key: SortKey
    text: str


@dataclass(frozen=True)
class VersionRange:
    """One ECOSYSTEM range: its events sorted by version, and its limits (empty: no limit)."""

    events: tuple[Event, ...]
    limits: tuple[SortKey, ...]

    def contains(self, version: Version) -> bool:
        """OSV's evaluation of one range (BeforeLimits, then the sorted timeline)."""
        key = (1, version)
        if self.limits and not any(key < limit for limit in self.limits):
            return False
        vulnerable = False
        for event in self.events:
            if event.kind == "introduced":
                if key >= event.key:
                    vulnerable = True
            elif event.kind == "fixed":
                if key >= event.key:
                    vulnerable = False
            elif event.kind == "last_affected" and key > event.key:
                vulnerable = False
        return vulnerable

    def fixed_versions(self) -> Iterable[tuple[Version, str]]:
        """Every `fixed` event of the range, as (version, text)."""
        return ((event.key[1], event.text) for event in self.events if event.kind == "fixed")


@dataclass(frozen=True)
class AffectedPackage:
    """One `affected[]` entry for a PyPI package, compiled for matching."""

    name: str  # PEP 503 normalised
    ranges: tuple[VersionRange, ...]
    versions: frozenset[Version]  # the listed versions that are PEP 440
    version_strings: frozenset[str]  # every listed version as written (for `===` pins that are not PEP 440)

    def affects(self, version: Optional[Version], text: str) -> bool:
        """Listed in `versions`, or inside one of the ranges; a version that is not PEP 440 matches by its text."""
        if version is None:
            return text in self.version_strings
        return version in self.versions or any(item.contains(version) for item in self.ranges)


def affected_fix(entries: Iterable[AffectedPackage], version: Optional[Version],
                 text: str) -> tuple[bool, Optional[str]]:
    """(whether one of a record's entries for a package affects the version, the lowest fix).

    The fix is the lowest `fixed` version above the pinned one that none of the entries affects: in the usual
    record that is the end of the interval the version lies in; with overlapping intervals it skips to a
    version that is really out of all of them. None when no such version exists (unfixed, `last_affected`).
    """
    entries = tuple(entries)
    if not any(entry.affects(version, text) for entry in entries):
        return False, None
    if version is None:
        return True, None
    candidates = sorted({fixed for entry in entries for item in entry.ranges for fixed in item.fixed_versions()
                         if fixed[0] > version})
    for candidate, candidate_text in candidates:
        if not any(entry.affects(candidate, candidate_text) for entry in entries):
            return True, candidate_text
    return True, None


def _event_key(kind: str, text: str, parse: VersionParser) -> Optional[SortKey]:
    if kind == "introduced" and text == "0":
        return BOTTOM
    if kind == "limit" and "*" in text:
        return TOP
    version = parse(text)
    return None if version is None else (1, version)


def compile_range(raw: Any, parse: VersionParser = parse_version) -> Optional[VersionRange]:
    """An ECOSYSTEM range compiled for matching; None for other types or a range without events."""
    if not isinstance(raw, Mapping) or raw.get("type") != "ECOSYSTEM" or not isinstance(raw.get("events"), list):
        return None
    events, limits = [], []
    for item in raw["events"]:
        if not isinstance(item, Mapping):
            continue
        for kind, text in item.items():
            if kind not in EVENT_ORDER or not isinstance(text, str):
                continue
            key = _event_key(kind, text, parse)
            if key is None:
                continue  # not PEP 440: cannot be placed in the order, so it bounds nothing
            if kind == "limit":
                limits.append(key)
            else:
                events.append(Event(kind, key, text))
    events.sort(key=lambda event: (event.key, EVENT_ORDER[event.kind]))
    if not events:
        return None
    return VersionRange(tuple(events), tuple(limits))


def package_name(raw: JsonObject) -> Optional[str]:
    """The PEP 503 name of a PyPI `affected[].package`, by name or else by its purl; None for other ecosystems."""
    package = raw.get("package")
    if not isinstance(package, Mapping) or package.get("ecosystem") != ECOSYSTEM:
        return None
    name = package.get("name")
    if not isinstance(name, str) or not name.strip():
        purl = package.get("purl")
        if not isinstance(purl, str) or not purl.lower().startswith("pkg:pypi/"):
            return None
        name = purl[len("pkg:pypi/"):].split("@")[0].split("?")[0].split("#")[0]
    return normalize_name(name.strip()) or None


def compile_affected(raw: JsonObject, parse: VersionParser = parse_version) -> Optional[AffectedPackage]:
    """One PyPI `affected[]` entry compiled; None for other ecosystems or a malformed entry."""
    name = package_name(raw)
    if name is None:
        return None
    compiled = tuple(item for item in (compile_range(entry, parse) for entry in _list(raw.get("ranges")))
                     if item is not None)
    strings = frozenset(text for text in _list(raw.get("versions")) if isinstance(text, str))
    versions = frozenset(version for version in (parse(text) for text in strings) if version is not None)
    return AffectedPackage(name, compiled, versions, strings)


def summary_of(record: JsonObject) -> str:
    """The summary, else the first line of the details that is not a Markdown heading, shortened to one line."""
    summary = record.get("summary")
    if isinstance(summary, str) and summary.strip():
        return _one_line(summary)
    details = record.get("details")
    if isinstance(details, str):
        for line in details.split("\n", 100)[:100]:
            line = line.strip()
            if line and not line.startswith("#"):
                return _one_line(line)
    return ""


def _one_line(text: str) -> str:
    text = " ".join(text[:SUMMARY_LIMIT * 4].split())
    return text if len(text) <= SUMMARY_LIMIT else text[:SUMMARY_LIMIT - 1].rstrip() + "…"


def _severities(items: Any) -> list[Severity]:
    return [Severity(str(item["type"]), str(item["score"])) for item in _list(items)
            if isinstance(item, Mapping) and isinstance(item.get("type"), str) and "score" in item]


def advisory_of(record: JsonObject, affected: Iterable[JsonObject] = ()) -> Advisory:
    """The reportable part of a record: id, aliases, summary and severity (the record's, else its packages')."""
    aliases = _list(record.get("aliases"))
    severity = _severities(record.get("severity"))
    if not severity:
        for entry in affected:
            severity += [item for item in _severities(entry.get("severity")) if item not in severity]
    specific = record.get("database_specific")
    label = specific.get("severity") if isinstance(specific, Mapping) else None
    text = {key: record.get(key) for key in ("published", "modified")}
    return Advisory(
        id=str(record["id"]),
        aliases=tuple(alias for alias in aliases if isinstance(alias, str)),
        summary=summary_of(record),
        severity=tuple(severity),
        severity_label=label if isinstance(label, str) else None,
        published=text["published"] if isinstance(text["published"], str) else None,
        modified=text["modified"] if isinstance(text["modified"], str) else None)


def usable(record: Any) -> bool:
    """A record with an id that is not withdrawn."""
    return isinstance(record, Mapping) and isinstance(record.get("id"), str) and bool(record["id"]) \
        and not record.get("withdrawn")


def pypi_entries(record: JsonObject) -> list[tuple[str, JsonObject]]:
    """(PEP 503 name, raw entry) for each PyPI `affected[]` entry of a record."""
    found = []
    for entry in _list(record.get("affected")):
        if isinstance(entry, Mapping):
            name = package_name(entry)
            if name:
                found.append((name, entry))
    return found
