"""One JSON object per command on stdout, every finding listed; a failure is {"ok": false, "error": {...}}.
The keys are the ones the README documents (and nothing else, so that scripts written against them keep working)."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Optional, TextIO

from ..results import (AuditResult, BumpResult, CheckResult, ExportResult, LockCommandResult, ReleaseResult, Result,
                       RulesResult, Status, VerifyResult)

Document = dict[str, Any]


def error_json(exit_code: int, message: str) -> Document:
    return {"ok": False, "error": {"code": exit_code, "message": message}}


def check_json(result: CheckResult) -> Document:
    return {"project": result.report.subject, **result.report.as_dict()}


def export_json(result: ExportResult) -> Document:
    data = {"project": result.report.subject, **result.report.as_dict()}
    if result.archive is not None:
        archive = result.archive
        data["archive"] = {"path": str(archive.path), "sha256": archive.sha256, "size": archive.size,
                           "sidecar": str(archive.sidecar), "files": [m._asdict() for m in archive.members]}
    elif result.status is Status.LISTED:
        data["archive"] = {"path": str(result.target), "sha256": None, "size": None, "sidecar": None,
                           "files": [m._asdict() for m in result.listing]}
    else:
        data["archive"] = None
    data["phases"] = list(result.phases)
    data["sbom"] = str(result.sbom) if result.sbom else None
    return data


def release_json(result: ReleaseResult) -> Document:
    return export_json(result.export)


def verify_json(result: VerifyResult) -> Document:
    return {"archive": result.report.subject, "members": result.members, "provenance": result.provenance,
            "phases": list(result.phases), **result.report.as_dict()}


def bump_json(result: BumpResult) -> Document:
    return {"ok": True, "old": result.old, "new": result.new,
            "changed": [{"file": changed.name, "lines": list(changed.lines)} for changed in result.changed],
            "commands": list(result.commands)}


def rules_json(result: RulesResult) -> Document:
    return {"ok": True, "rules": [rule._asdict() for rule in result.rules]}


def lock_json(result: LockCommandResult) -> Document:
    return {"ok": True, "requirements": str(result.path), "source_sha256": result.digest,
            "python_version": result.python_version, "pins": result.pins}


def audit_json(result: AuditResult) -> Document:
    projects = []
    for project in result.projects:
        audit = project.audit
        projects.append({"project": audit.source, "archive": project.archive, "name": audit.name,
                         "version": audit.version, "maintainers": list(audit.maintainers),
                         "advisories": list(audit.advisory_ids), **project.report.as_dict()})
    notifications = [{"project": item.project, "version": item.version, "sent": item.sent,
                      "recipients": list(item.recipients), "problem": item.problem} for item in result.deliveries]
    alerts = [{"project": alert.project, "recipients": list(alert.recipients), "subject": alert.subject,
               "body": alert.body} for alert in result.alerts]
    issue = None if result.issue is None else {"provider": result.issue.provider, "action": result.issue.action,
                                               "number": result.issue.number, "url": result.issue.url}
    return {"ok": result.ok, "status": result.status.value, "source": result.source, "projects": projects,
            "alerts": alerts, "notifications": notifications, "dry_run": result.dry_run, "issue": issue}


class JsonReporter:
    """One JSON object on stdout, whatever happened."""

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream or sys.stdout

    def render(self, result: Result) -> None:
        documents: dict[type, Callable[[Any], Document]] = {
            CheckResult: check_json, ExportResult: export_json, ReleaseResult: release_json,
            VerifyResult: verify_json, BumpResult: bump_json, RulesResult: rules_json, LockCommandResult: lock_json,
            AuditResult: audit_json}
        self.write(documents[type(result)](result))

    def error(self, code: int, message: str) -> None:
        self.write(error_json(code, message))

    def write(self, document: Document) -> None:
        print(json.dumps(document, ensure_ascii=False), file=self.stream)
