"""The immutable records the dependency capabilities take and give: plain data, so any reader or reporter fits.

Inputs are requirement records (from the project model, a lock file or an archive's members, whoever parsed
them) grouped into projects; outputs are per-project audit results that know nothing of text, JSON or SARIF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from ..errors import EXIT_UNAVAILABLE, PackflowExportError

EXIT_SOURCE_UNAVAILABLE = EXIT_UNAVAILABLE  # the advisory source (database file or OSV API) could not be read
OSV_VULNERABILITY_URL = "https://osv.dev/vulnerability/"


@lru_cache(maxsize=8192)
def normalize_name(name: str) -> str:
    """PEP 503 normalisation, so `PyYAML`, `pyyaml` and `Py_YAML` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


class DepsError(PackflowExportError):
    """A dependency capability cannot do its work; the message names what and how to fix it."""


class AdvisorySourceError(DepsError):
    """The advisory database or the OSV API cannot be read: never to be taken as "no known vulnerabilities"."""

    exit_code = EXIT_SOURCE_UNAVAILABLE


@dataclass(frozen=True)
class RequirementRecord:
    """One requirement as parsed from a requirements file: what phase 2's project model hands over."""

    name: str
    specifier: str = ""  # e.g. "==2.19.0", ">=1,<2", "" for any version
    extras: tuple[str, ...] = ()
    marker: str = ""  # PEP 508 marker text without the ';'
    hashes: tuple[str, ...] = ()  # "sha256:<hex>" as written after --hash=
    url: Optional[str] = None  # a direct reference (name @ URL)
    path: str = "requirements.txt"  # the file it was read from, POSIX, relative to the project
    line: int = 0  # its first line in that file (1-based; 0 when unknown)

    @property
    def key(self) -> str:
        """The PEP 503 name advisories are indexed by."""
        return normalize_name(self.name)

    @property
    def pinned_version(self) -> Optional[str]:
        """The one version `==V` or `===V` allows (no wildcard, nothing else in the specifier), else None."""
        match = re.fullmatch(r"\s*(===?)\s*([^\s,;*]+)\s*", self.specifier)
        return match[2] if match and self.url is None else None

    @property
    def display(self) -> str:
        """The requirement as a person wrote it, without hashes: `requests[socks]==2.19.0`."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        target = f" @ {self.url}" if self.url else self.specifier
        return f"{self.name}{extras}{target}"

    @property
    def where(self) -> str:
        """`path:line` for messages."""
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class Severity:
    """One severity score as OSV gives it: a type (CVSS_V3, CVSS_V4, ...) and its vector or score."""

    type: str
    score: str


@dataclass(frozen=True)
class Advisory:
    """What a report says about an advisory: its id, aliases (CVE, GHSA), one-line summary and severity."""

    id: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    severity: tuple[Severity, ...] = ()
    severity_label: Optional[str] = None  # database_specific.severity when the database gives one (GHSA: HIGH...)
    published: Optional[str] = None
    modified: Optional[str] = None

    @property
    def url(self) -> str:
        """Where a person reads the whole advisory."""
        return OSV_VULNERABILITY_URL + self.id


@dataclass(frozen=True)
class Match:
    """An advisory that affects one package version, and the lowest version that fixes it (None: no fix known)."""

    advisory: Advisory
    fixed: Optional[str] = None


@dataclass(frozen=True)
class Hit:
    """A pinned requirement affected by an advisory."""

    requirement: RequirementRecord
    version: str
    advisory: Advisory
    fixed: Optional[str] = None

    @property
    def fix(self) -> str:
        """The advice in words: `upgrade to >= 2.20.0`, or that no fixed version is known."""
        return f"upgrade to >= {self.fixed}" if self.fixed else "no fixed version is known"


@dataclass(frozen=True)
class NotAudited:
    """A requirement the audit could not match or did not need to, and why (unpinned, a URL, marker false...)."""

    requirement: RequirementRecord
    reason: str


@dataclass(frozen=True)
class ProjectInput:
    """One project (a folder or an archive) to audit: its identity, maintainers and requirements."""

    name: str
    version: str
    source: str  # the project folder or archive, as the user named it
    requirements: tuple[RequirementRecord, ...]
    maintainers: tuple[str, ...] = ()
    python_version: Optional[str] = None


@dataclass(frozen=True)
class ProjectAudit:
    """The audit of one project: its hits, the requirements it could not audit and those not installed."""

    name: str
    version: str
    source: str
    maintainers: tuple[str, ...]
    python_version: Optional[str]
    hits: tuple[Hit, ...] = ()
    not_auditable: tuple[NotAudited, ...] = ()  # unpinned, URL or unparseable versions: the audit cannot vouch
    not_installed: tuple[NotAudited, ...] = field(default=())  # markers false for every targeted environment

    @property
    def affected(self) -> bool:
        """Whether any known advisory affects the project."""
        return bool(self.hits)

    @property
    def advisory_ids(self) -> tuple[str, ...]:
        """Distinct advisory ids, sorted."""
        return tuple(sorted({hit.advisory.id for hit in self.hits}))
