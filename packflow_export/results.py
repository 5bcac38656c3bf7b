"""What each command did, stated by the command that did it (never guessed from which fields are set), for the
reporters to render: check, export, verify, release, bump and rules.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Optional, Union

from .findings import Report, Rule
from .model.options import Phase

if TYPE_CHECKING:
    from .archive.writer import ArchiveResult, Member
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


Result = Union[CheckResult, ExportResult, ReleaseResult, VerifyResult, BumpResult, RulesResult]
