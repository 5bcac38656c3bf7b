"""Helpers for the dependency tests: where the real OSV data is, an independent reference evaluation of OSV
ranges, tiny wheels for a controlled dependency tree, and synthetic OSV records."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Optional

import pytest
from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parent.parent
SUBSET_NAME = "osv-pypi-subset.zip"
SUBSET_ENV = "PACKFLOW_TEST_OSV_SUBSET"


def osv_subset() -> Path:
    """The 398 real advisories: $PACKFLOW_TEST_OSV_SUBSET, else ../shared beside the repo, else /work/shared.

    Never copied into the repository; missing data fails the test (a skipped audit test proves nothing)."""
    candidates = []
    if os.environ.get(SUBSET_ENV):
        given = Path(os.environ[SUBSET_ENV])
        candidates.append(given / SUBSET_NAME if given.is_dir() else given)
    candidates += [REPO.parent / "shared" / "osv-pypi-subset" / SUBSET_NAME,
                   Path("/work/shared/osv-pypi-subset") / SUBSET_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    pytest.fail(f"the real OSV data ({SUBSET_NAME}) is not found; set {SUBSET_ENV} to it or to its folder "
                f"(looked at: {', '.join(map(str, candidates))})")


def subset_records() -> dict[str, dict]:
    """Every record of the subset by id, read with nothing but json (for oracles in tests)."""
    with zipfile.ZipFile(osv_subset()) as archive:
        return {record["id"]: record for record in
                (json.loads(archive.read(name)) for name in archive.namelist() if name.endswith(".json"))}


def _key(text: str) -> Optional[tuple]:
    if text == "0":
        return (0,)
    if "*" in text:
        return (2,)
    try:
        return (1, Version(text))
    except InvalidVersion:
        return None


TYPE_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


def reference_in_range(version: Version, events: list[dict]) -> bool:
    """A second formulation of OSV's range rule, written apart from the subject (after osv.dev's Go matcher, plus
    the schema's limits): the last event at or below the version, in sorted order, decides it; a last_affected
    equal to the version changes nothing (the schema's pseudocode: only `v > last_affected` ends the interval)."""
    target = (1, version)
    parsed = []
    for event in events:
        (kind, text), = event.items()
        key = _key(text)
        if key is not None:
            parsed.append((key, TYPE_ORDER[kind], kind))
    limits = [key for key, _, kind in parsed if kind == "limit"]
    if limits and not any(target < limit for limit in limits):
        return False
    timeline = sorted(item for item in parsed if item[2] != "limit")
    for key, _, kind in reversed(timeline):
        if target < key or (kind == "last_affected" and target == key):
            continue
        if kind == "introduced":
            return True
        return False
    return False


def reference_index(records: dict[str, dict]) -> dict[str, list[tuple[str, set, list]]]:
    """Per package name: (id, listed PEP 440 versions, ECOSYSTEM event lists) of each non-withdrawn record."""
    index: dict[str, list[tuple[str, set, list]]] = {}
    for record in records.values():
        if record.get("withdrawn"):
            continue
        for affected in record["affected"]:
            package = affected["package"]
            if package["ecosystem"] != "PyPI":
                continue
            listed = {key[1] for key in map(_key, affected.get("versions", [])) if key and key[0] == 1}
            ranges = [item["events"] for item in affected.get("ranges", []) if item["type"] == "ECOSYSTEM"]
            index.setdefault(package["name"].lower().replace("_", "-"), []).append((record["id"], listed, ranges))
    return index


def reference_affected_ids(records: dict[str, dict], name: str, version: str,
                           index: Optional[dict[str, list[tuple[str, set, list]]]] = None) -> set[str]:
    """Ids of the non-withdrawn records whose PyPI entry for `name` lists the version or has it in a range."""
    parsed = Version(version)
    index = reference_index(records) if index is None else index
    return {identifier for identifier, listed, ranges in index.get(name, ())
            if parsed in listed or any(reference_in_range(parsed, events) for events in ranges)}


def write_record(folder: Path, record: dict) -> Path:
    """One OSV record as <ID>.json in a folder database."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{record['id']}.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def record(identifier: str, name: str, ranges: list, versions: tuple = (), **extra) -> dict:
    """A minimal OSV record for one PyPI package."""
    return {"id": identifier, "modified": "2024-01-01T00:00:00Z", "details": f"{identifier} details.",
            "affected": [{"package": {"ecosystem": "PyPI", "name": name}, "ranges": ranges,
                          "versions": list(versions)}], **extra}


def ecosystem(*events: tuple[str, str]) -> dict:
    """An ECOSYSTEM range from (kind, version) pairs, in the order given."""
    return {"type": "ECOSYSTEM", "events": [{kind: version} for kind, version in events]}


def build_wheel(folder: Path, name: str, version: str, requires: tuple = (), payload: bytes = b"") -> Path:
    """A minimal pure-Python wheel (METADATA, WHEEL, RECORD and one module), byte-for-byte reproducible."""
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {item}\n" for item in requires)
    files = {f"{dist}/__init__.py": b"VALUE = %r\n" % payload, f"{info}/METADATA": metadata.encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: deps-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    lines = []
    for member, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{member},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join([*lines, f"{info}/RECORD,,"]) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0)), data)
    return path
