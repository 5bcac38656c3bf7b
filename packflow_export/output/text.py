"""Linter-style text: `path:line: CODE severity: message`, repeats of one code in one file folded into one line,
a hint per rule, coloured on a terminal; then one summary line, which counts every finding and, when the lines
above show fewer (repeats folded, or -q), says in how many lines and why. What each command did, in words."""

from __future__ import annotations

import os
import sys
from typing import Callable, Optional, TextIO

from ..findings import Finding, Report
from ..model.options import Phase
from ..results import (AuditResult, BumpResult, CheckResult, ExportResult, LockCommandResult, ReleaseResult, Result,
                       RulesResult, Status, VerifyResult)

SHOWN_LINES = 3
COLOURS = {"error": "31", "warning": "33", "info": "36"}
Group = tuple[Finding, int, list[int]]  # the first finding, how many, their lines


def colour_enabled(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _grouped(findings: tuple[Finding, ...], verbose: bool) -> list[Group]:
    """One entry per line to print: repeats of one code in one file folded unless verbose."""
    if verbose:
        return [(item, 1, []) for item in findings]
    groups: dict[tuple[object, ...], list[Finding]] = {}
    for item in findings:
        key = (item.code, item.path, item.severity) if item.path else (id(item),)
        groups.setdefault(key, []).append(item)
    return [(items[0], len(items), [i.line for i in items if i.line]) for items in groups.values()]


def group_message(first: Finding, count: int, lines: list[int]) -> str:
    from ..rules import registry

    rule = registry().rules.get(first.code)
    shown = ", ".join(map(str, lines[:SHOWN_LINES])) + (", …" if len(lines) > SHOWN_LINES else "")
    where = f" (lines {shown})" if lines else ""
    if rule is not None and rule.group:
        return f"{count} {rule.group}{where}"
    return f"{first.message.splitlines()[0]} (and {count - 1} more{where})"


def print_report(report: Report, stream: Optional[TextIO] = None, *, verbose: bool = False, quiet: bool = False,
                 label: Optional[str] = None) -> None:
    """`path:line: CODE severity: message`, a hint per rule, then one summary line."""
    stream = stream or sys.stdout
    paint = colour_enabled(stream)
    hinted = set()
    findings = tuple(f for f in report.findings if not quiet or f.severity == "error")
    groups = _grouped(findings, verbose)
    for item, count, lines in groups:
        where = (item.path or ".") + (f":{item.line}" if item.line else "")
        severity = f"\033[{COLOURS[item.severity]}m{item.severity}\033[0m" if paint else item.severity
        message = group_message(item, count, lines) if count > 1 else item.message
        first, *rest = message.splitlines() or [""]
        print(f"{where}: {item.code} {severity}: {first}", file=stream)
        for line in rest:
            print(f"    | {line}", file=stream)
        if item.hint and (item.code, item.hint) not in hinted:
            hinted.add((item.code, item.hint))
            print(f"    hint: {item.hint}", file=stream)
    errors, warnings, infos = (report.count(s) for s in ("error", "warning", "info"))
    verdict = label or ("ready for release" if report.ok else "not ready: fix the errors above")
    if not report.ok and report.strict and not errors:
        verdict += " (strict: warnings block too)"
    shown = _shown(len(report.findings), len(findings), len(groups))
    print(f"{report.subject}: {errors} error(s), {warnings} warning(s), {infos} info{shown}: {verdict}", file=stream)


def _shown(total: int, listed: int, lines: int) -> str:
    """What the counts cover when the lines above show fewer: repeats folded into one line, or hidden by -q."""
    notes = []
    if lines < listed:
        notes.append("repeats of a rule in one file folded: -v lists each")
    if listed < total:
        notes.append("-q hides warnings and info")
    return f" in {lines} line(s) ({'; '.join(notes)})" if notes else ""


def print_phases(phases: tuple[Phase, ...], stream: TextIO) -> None:
    """One line per phase of the load proof: what ran, for how long, and how it went."""
    for phase in phases:
        state = "skipped" if phase.get("ok") is None else "ok" if phase.get("ok") else "FAILED"
        extra = []
        if phase.get("phase") == "environment":
            extra.append(f"{phase.get('installer')}, Python {phase.get('python')}, "
                         + ("cached" if phase.get("cached") else "created"))
        if phase.get("records") is not None:
            extra.append(f"{phase['records']} sample records")
        if phase.get("packflow"):
            extra.append(f"packflow {phase['packflow']}")
        if phase.get("skipped"):
            extra.append(phase["skipped"])
        detail = f" ({'; '.join(extra)})" if extra else ""
        print(f"  load: {phase['phase']:<12} {state:<7} {phase.get('seconds', 0):7.2f} s{detail}", file=stream)


class TextReporter:
    """What the commands print for a person."""

    def __init__(self, stream: Optional[TextIO] = None, *, verbose: bool = False, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.verbose, self.quiet = verbose, quiet

    def render(self, result: Result) -> None:
        renderers: dict[type, Callable[..., None]] = {
            CheckResult: self.check, ExportResult: self.export, ReleaseResult: self.release,
            VerifyResult: self.verify, BumpResult: self.bump, RulesResult: self.rules, LockCommandResult: self.lock,
            AuditResult: self.audit}
        renderers[type(result)](result)

    def error(self, code: int, message: str) -> None:
        """Failures go to stderr only (the caller prints them there): nothing on stdout."""

    def _print(self, text: str = "") -> None:
        print(text, file=self.stream)

    def check(self, result: CheckResult) -> None:
        print_report(result.report, self.stream, verbose=self.verbose, quiet=self.quiet)

    def release(self, result: ReleaseResult) -> None:
        self.export(result.export)

    def export(self, result: ExportResult) -> None:
        if result.phases and not self.quiet:
            print_phases(result.phases, self.stream)
        print_report(result.report, self.stream, quiet=self.quiet, verbose=self.verbose)
        if result.status is Status.TAKEN_BACK:
            self._print(f"the archive failed its load proof: {result.target} and its .sha256 were removed")
        if result.status is Status.LISTED:
            self._listing(result)
        if result.archive is not None:
            archive = result.archive
            self._print(f"wrote {archive.path} ({len(archive.members)} files, {archive.size:,} bytes)")
            self._print(f"wrote {archive.sidecar} (sha256 {archive.sha256})")
        if result.sbom:
            self._print(f"wrote {result.sbom} (CycloneDX 1.6 SBOM)")

    def _listing(self, result: ExportResult) -> None:
        listing = result.listing
        total = sum(m.size for m in listing)
        self._print(f"\nwould write {result.target} with {len(listing)} file(s), {total:,} bytes before compression:")
        for member in listing:
            self._print(f"  {member.size:>14,}  {member.method:<8}  {member.name}")
        stored = sum(m.size for m in listing if m.method == "stored")
        self._print(f"  {total:>14,}  total ({stored:,} stored, {total - stored:,} deflated)")

    def verify(self, result: VerifyResult) -> None:
        report = result.report
        label = f"{result.members} member(s): " + ("verified" if report.ok else "not verified: fix the errors above")
        if result.phases and not self.quiet:
            print_phases(result.phases, self.stream)
        print_report(report, self.stream, verbose=self.verbose, quiet=self.quiet, label=label)

    def bump(self, result: BumpResult) -> None:
        for changed in result.changed:
            shown = ", ".join(map(str, changed.lines))
            plural = "s" if len(changed.lines) > 1 else ""
            self._print(f"{changed.name}: {result.old} -> {result.new} (line{plural} {shown})")
        self._print("\nnext, to release it:")
        for command in result.commands:
            self._print(f"  {command}")

    def rules(self, result: RulesResult) -> None:
        if result.markdown:
            self._print("| code | default | what it means | how to fix |\n|---|---|---|---|")
            for rule in result.rules:
                self._print(f"| {rule.code} | {rule.severity} | {rule.summary} | {rule.fix} |")
        elif result.explain:
            rule = result.rules[0]
            self._print(f"{rule.code} ({rule.severity}): {rule.summary}\n\nWhy: {rule.why}\n\nFix: {rule.fix}")
        else:
            for rule in result.rules:
                self._print(f"{rule.code}  {rule.severity:<7}  {rule.summary}")

    def lock(self, result: LockCommandResult) -> None:
        self._print(f"wrote {result.path} ({result.pins} pins with their hashes, for Python {result.python_version} on "
                    f"every platform)")

    def audit(self, result: AuditResult) -> None:
        for project in result.projects:
            audit = project.audit
            kind = "archive" if project.archive else "project"
            advisories = len(audit.advisory_ids)
            label = (f"{audit.name} {audit.version}: {advisories} known advisor{'y' if advisories == 1 else 'ies'}"
                     if advisories else f"{audit.name} {audit.version}: no known vulnerability")
            print_report(project.report, self.stream, verbose=True, quiet=self.quiet, label=f"{kind} {label}")
        for alert in result.alerts if result.dry_run else ():
            self._print(f"\nwould send to {', '.join(alert.recipients)}\nSubject: {alert.subject}\n\n{alert.body}")
        for delivery in result.deliveries:
            if delivery.sent:
                self._print(f"emailed {', '.join(delivery.recipients)} about {delivery.project} {delivery.version}"
                            + (f" ({delivery.problem})" if delivery.problem else ""))
            elif delivery.problem != "dry run":
                self._print(f"no email about {delivery.project} {delivery.version}: {delivery.problem}")
        if result.issue is not None:
            where = f" #{result.issue.number}" if result.issue.number is not None else ""
            self._print(f"{result.issue.provider} issue{where}: {result.issue.action}"
                        + (f" ({result.issue.url})" if result.issue.url else ""))
        affected = sum(1 for project in result.projects if project.audit.hits)
        verdict = "blocked" if not result.ok else "nothing blocks"
        self._print(f"audited {len(result.projects)} project(s) against {result.source}: {affected} affected, "
                    f"{verdict}")
