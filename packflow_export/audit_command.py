"""`audit` and `lock`: the dependency capabilities (deps/) as commands, over many projects and archives at once.

audit reads each project folder's or archive's packflow.yaml and requirements (an archive's without unpacking
it), matches every pin with one lookup in the advisory source, reports each project at the policy's severities
(rules/advisories.py), then alerts: one email per affected project, and one issue in the tracker.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, NamedTuple, Optional, Sequence

from .errors import NotAProject, UsageError
from .findings import Policy, Report
from .model.config import CONFIG
from .model.options import RunOptions
from .results import AuditedProject, AuditResult, LockCommandResult, Status

if TYPE_CHECKING:
    from .deps.records import ProjectInput

LOCK_SOURCE = "requirements.in"


class Alerting(NamedTuple):
    """Whom audit tells: an SMTP server to email maintainers through, an issue tracker, or only print (dry run)."""

    smtp_url: Optional[str] = None
    sender: str = "packflow-export@localhost"
    username: Optional[str] = None
    password_env: str = "PACKFLOW_SMTP_PASSWORD"
    starttls: Optional[bool] = None
    issue: Optional[str] = None  # "github" or "gitlab"
    dry_run: bool = False


def _project_input(path: Path, policy: Policy) -> tuple[ProjectInput, bool]:
    """(the ProjectInput of a project folder or an archive, whether it is an archive); read, never unpacked."""
    from .model.context import ArchiveContext, ProjectContext
    from .model.records import ArchiveFile
    from .rules.advisories import project_input

    if path.is_dir():
        if not (path / CONFIG).is_file():
            raise NotAProject(f"{path}: not a Packflow project (no {CONFIG})")
        return project_input(ProjectContext(path.resolve(), policy, RunOptions())), False
    if not path.is_file():
        raise UsageError(f"{path}: no such project folder or archive")
    with ArchiveFile.open(path) as archive:
        if not archive.located:
            why = archive.unreadable or "its records are not where they must be"
            raise UsageError(f"{path}: not a readable zip archive ({why}); `verify` says more")
        return project_input(ArchiveContext(archive, policy, RunOptions())), True


def audit_paths(paths: Sequence[Path], policy: Policy, *, db: Optional[Path] = None, osv_url: Optional[str] = None,
                strict: bool = False, alerting: Optional[Alerting] = None,
                environ: Optional[Mapping[str, str]] = None) -> AuditResult:
    """Audit every project and archive against one source (indexed once), then alert as asked."""
    from .deps.api import DEFAULT_OSV_URL
    from .deps.audit import audit_projects
    from .deps.source import SourceSpec, configured_source, open_source
    from .rules.advisories import audit_findings

    environ = os.environ if environ is None else environ
    alerting = alerting or Alerting()
    read = [_project_input(Path(path), policy) for path in paths]
    spec = configured_source(db, osv_url, environ) or SourceSpec(url=DEFAULT_OSV_URL)
    source = open_source(spec)
    audits = audit_projects([item for item, _ in read], source)
    projects = []
    for audit, (_, archive) in zip(audits, read, strict=True):
        report = Report(audit.source, policy, strict)
        report.add(audit_findings(audit, source, policy))
        projects.append(AuditedProject(audit, report, archive))
    status = Status.AUDITED if all(item.report.ok for item in projects) else Status.AFFECTED
    result = AuditResult(status, source.description, tuple(projects), dry_run=alerting.dry_run)
    return _alert(result, policy, alerting, environ)


def _alert(result: AuditResult, policy: Policy, alerting: Alerting, environ: Mapping[str, str]) -> AuditResult:
    """Email the maintainers and sync the issue, about the advisories the policy does not ignore."""
    from .rules.advisories import ignored

    audits = tuple(replace(item.audit, hits=tuple(hit for hit in item.audit.hits if not ignored(hit, policy)))
                   for item in result.projects)
    if alerting.smtp_url:
        from .deps.notify import notify_smtp

        alerts, deliveries = notify_smtp(alerting.smtp_url, audits, alerting.dry_run, sender=alerting.sender,
                                         starttls=alerting.starttls, username=alerting.username,
                                         password_env=alerting.password_env)
        result = result._replace(alerts=alerts, deliveries=deliveries)
    if alerting.issue and not alerting.dry_run:
        from .deps.issues import sync_issue

        result = result._replace(issue=sync_issue(alerting.issue, audits, environ))
    return result


def lock_project(project: Path, python_version: Optional[str], *, index_url: Optional[str] = None,
                 find_links: Sequence[str] = (), offline: bool = False, upgrade: bool = False) -> LockCommandResult:
    """Compile requirements.in into requirements.txt with hashes for the project's python_version (or the given one)."""
    from .deps.lock import LockOptions, lock
    from .model.config import load_config
    from .model.views import DirectoryView

    if not (project / LOCK_SOURCE).is_file():
        raise UsageError(f"{project / LOCK_SOURCE}: no such file; list the project's direct requirements there "
                         f"(one per line, as in requirements.txt), then lock. Without it, requirements.txt is used "
                         f"as it is")
    version = python_version or load_config(DirectoryView(project)).text_field("python_version")
    if not version:
        raise UsageError(f"{project / CONFIG}: python_version is not set; set it (e.g. \"3.11\") or pass "
                         f"--python-version")
    for folder in find_links:
        if "://" not in folder and not Path(folder).is_dir():
            raise UsageError(f"--find-links {folder}: no such folder")
    made = lock(project, version, LockOptions(index_url, tuple(find_links), offline, upgrade))
    return LockCommandResult(Status.LOCKED, made.path, made.digest, made.python_version, made.pins)
