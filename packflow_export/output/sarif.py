"""SARIF 2.1.0 (OASIS), the format code scanning reads: one run whose tool driver lists every rule (its summary,
why and fix, its default level) and whose results are the report's findings at the policy's levels.

Locations: a finding's path is relative to the project folder (check, export, release: the PROJECTROOT base) or
names a member (verify: the ARCHIVE base; the archive's .sha256 beside it is named by its own absolute URI). A
finding about the whole project is placed on its packflow.yaml, and one about a whole archive on the archive
file, because code scanning shows only results with a location.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional, TextIO
from urllib.parse import quote

from .. import __version__
from ..findings import Finding, Report, Rule
from ..model.config import CONFIG
from ..results import AuditResult, CheckResult, ExportResult, ReleaseResult, Result, VerifyResult

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
VERSION = "2.1.0"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
Document = dict[str, Any]


def rule_descriptor(rule: Rule) -> Document:
    return {"id": rule.code, "shortDescription": {"text": rule.summary}, "fullDescription": {"text": rule.why},
            "help": {"text": rule.fix}, "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": {"integrity": rule.integrity}}


def driver() -> Document:
    """The tool, with every rule it has (not only those that fired), so code scanning can explain each one."""
    from ..rules import registry

    return {"name": "packflow_export", "version": __version__, "semanticVersion": __version__,
            "rules": [rule_descriptor(rule) for rule in registry().rules.values()]}


def _location(finding: Finding, base: str, whole: Document, beside: dict[str, Document]) -> Document:
    if finding.path is None:
        return {"physicalLocation": {"artifactLocation": whole}}
    artifact = beside.get(finding.path) or {"uri": quote(finding.path, safe="/"), "uriBaseId": base}
    physical: Document = {"artifactLocation": artifact}
    if finding.line:
        physical["region"] = {"startLine": finding.line}
    return {"physicalLocation": physical}


def result_of(finding: Finding, index: dict[str, int], base: str, whole: Document,
              beside: dict[str, Document]) -> Document:
    message = finding.message if not finding.hint else f"{finding.message}\n{finding.hint}"
    result: Document = {"ruleId": finding.code, "level": LEVELS.get(finding.severity, "none"),
                        "message": {"text": message}, "locations": [_location(finding, base, whole, beside)]}
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    return result


def sarif_log(report: Report, *, folder: Optional[Path] = None, archive: Optional[Path] = None,
              exit_code: Optional[int] = None, notification: Optional[str] = None) -> Document:
    """The SARIF log of one report: of a project folder, or of an archive's members."""
    tool = driver()
    index = {rule["id"]: position for position, rule in enumerate(tool["rules"])}
    beside: dict[str, Document] = {}
    whole: Document
    bases: Document
    if archive is not None:
        path = Path(archive).resolve()
        base, whole = "ARCHIVE", {"uri": path.as_uri()}
        bases = {base: {"description": {"text": f"the members of {path}"}}}
        sidecar = path.with_name(path.name + ".sha256")
        beside[sidecar.name] = {"uri": sidecar.as_uri()}
    else:
        root = Path(folder if folder is not None else report.subject)
        base, whole = "PROJECTROOT", {"uri": CONFIG, "uriBaseId": "PROJECTROOT"}
        bases = {base: {"uri": root.as_uri().rstrip("/") + "/", "description": {"text": "the project folder"}}}
    invocation: Document = {"executionSuccessful": notification is None}
    if exit_code is not None:
        invocation["exitCode"] = exit_code
    if notification is not None:
        invocation["toolExecutionNotifications"] = [{"level": "error", "message": {"text": notification}}]
    run = {"tool": {"driver": tool}, "originalUriBaseIds": bases, "invocations": [invocation],
           "results": [result_of(finding, index, base, whole, beside) for finding in report.findings]}
    return {"$schema": SCHEMA, "version": VERSION, "runs": [run]}


def error_log(code: int, message: str) -> Document:
    """A failure that ended the command before any report: a run with no results, saying why."""
    invocation = {"executionSuccessful": False, "exitCode": code,
                  "toolExecutionNotifications": [{"level": "error", "message": {"text": message}}]}
    return {"$schema": SCHEMA, "version": VERSION, "runs": [{"tool": {"driver": driver()}, "invocations": [invocation],
                                                            "results": []}]}


def audit_log(result: AuditResult, exit_code: int) -> Document:
    """One run per audited project or archive, each placed on its own folder or archive file."""
    runs = []
    for project in result.projects:
        path = Path(project.report.subject)
        log = sarif_log(project.report, archive=path if project.archive else None,
                        folder=None if project.archive else path, exit_code=exit_code)
        runs.extend(log["runs"])
    return {"$schema": SCHEMA, "version": VERSION, "runs": runs}


class SarifReporter:
    """One SARIF log on stdout, for code scanning (check, export, release, verify)."""

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream or sys.stdout

    def render(self, result: Result) -> None:
        code = 0 if result.ok else 1
        if isinstance(result, VerifyResult):
            self.write(sarif_log(result.report, archive=Path(result.report.subject), exit_code=code))
        elif isinstance(result, (CheckResult, ExportResult, ReleaseResult)):
            self.write(sarif_log(result.report, exit_code=code))
        elif isinstance(result, AuditResult):
            self.write(audit_log(result, code))
        else:
            raise TypeError(f"SARIF reports findings; {type(result).__name__} has none")

    def error(self, code: int, message: str) -> None:
        self.write(error_log(code, message))

    def write(self, document: Document) -> None:
        print(json.dumps(document, ensure_ascii=False, indent=2), file=self.stream)
