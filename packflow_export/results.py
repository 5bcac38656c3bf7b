"""What each command did, stated by the command that did it (never guessed from which fields are set), for the
reporters to render: check, export, verify, release, bump, rules, lock and audit.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Optional, Union

from .findings import Report, Rule
from .model.options import Phase

if TYPE_CHECKING:
    from .archive.writer import ArchiveResult, Member
    from .deps.issues import IssueOutcome
    from .deps.notify import Alert, Delivery
    from .deps.records import ProjectAudit
    from .model.records import Provenance


class Status(Enum):
    READY = "ready"  # check: nothing blocks a release
    BLOCKED = "blocked"  # findings block: nothing was written (export, release), the archive is not verified
    LISTED = "listed"  # export --dry-run: what would be packed
    WRITTEN = "written"  # export, release: the archive and its .sha256 (and the SBOM when asked) are written
    TAKEN_BACK = "taken back"  # written, then failed its load proof: the archive and its .sha256 were removed
    VERIFIED = "verified"  # verify: the archive is sound
    BUMPED = "bumped"  # bump: packflow.yaml and MODEL_CARD.md moved to the new version
    LISTED_RULES = "rules"  # rules: the rules listed or explained
    LOCKED = "locked"  # lock: requirements.txt compiled from requirements.in, with hashes
    AUDITED = "audited"  # audit: no known vulnerability blocks any project
    AFFECTED = "affected"  # audit: a known vulnerability blocks at least one project


class CheckResult(NamedTuple):
    status: Status
    report: Report

    @property
    def ok(self) -> bool:
        return self.report.ok


class ExportResult(NamedTuple):
    status: Status
    report: Report
    target: Optional[Path] = None  # where the archive is (written), would be (listed) or was (taken back)
    archive: Optional[ArchiveResult] = None  # when written
    listing: tuple[Member, ...] = ()  # --dry-run
    phases: tuple[Phase, ...] = ()  # the load proof's, with --load
    sbom: Optional[Path] = None

    @property
    def ok(self) -> bool:
        return self.report.ok


class ReleaseResult(NamedTuple):
    """A release is an export of the tagged version, with its tests, SBOM and load proof."""

    status: Status
    tag: str
    version: str
    export: ExportResult

    @property
    def report(self) -> Report:
        return self.export.report

    @property
    def ok(self) -> bool:
        return self.report.ok


class VerifyResult(NamedTuple):
    status: Status
    report: Report
    members: int
    provenance: Optional[Provenance]
    phases: tuple[Phase, ...] = ()

    @property
    def ok(self) -> bool:
        return self.report.ok


class ChangedFile(NamedTuple):
    name: str
    lines: tuple[int, ...]


class BumpResult(NamedTuple):
    status: Status
    old: str
    new: str
    changed: tuple[ChangedFile, ...]
    commands: tuple[str, ...]  # the git commands that release the new version

    @property
    def ok(self) -> bool:
        return True


class RulesResult(NamedTuple):
    status: Status
    rules: tuple[Rule, ...]
    explain: bool = False  # one rule asked for by its code: say why and how to fix it
    markdown: bool = False  # the README's table

    @property
    def ok(self) -> bool:
        return True


class LockCommandResult(NamedTuple):
    """lock: which requirements.txt was written, from which requirements.in digest, for which Python."""

    status: Status
    path: Path
    digest: str
    python_version: str
    pins: int

    @property
    def ok(self) -> bool:
        return True


class AuditedProject(NamedTuple):
    """One project or archive of an audit: what matched, and the findings at the policy's severities."""

    audit: ProjectAudit
    report: Report
    archive: bool  # an archive (its requirements read without unpacking it), else a project folder


class AuditResult(NamedTuple):
    """audit: every project's report, and what was sent to whom (emails, an issue)."""

    status: Status
    source: str  # the database path or the OSV API URL
    projects: tuple[AuditedProject, ...]
    alerts: tuple[Alert, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    dry_run: bool = False
    issue: Optional[IssueOutcome] = None

    @property
    def ok(self) -> bool:
        return all(project.report.ok for project in self.projects)


Result = Union[CheckResult, ExportResult, ReleaseResult, VerifyResult, BumpResult, RulesResult, LockCommandResult,
               AuditResult]
