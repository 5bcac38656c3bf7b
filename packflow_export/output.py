"""What the commands print: linter-style text (grouped, coloured on a terminal), one JSON object, a progress bar."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Optional

SHOWN_LINES = 3


def colour_enabled(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _grouped(findings: tuple, verbose: bool) -> list:
    """(finding, count, lines) per line to print: repeats of one code in one file folded unless verbose."""
    if verbose:
        return [(item, 1, []) for item in findings]
    groups: dict = {}
    order = []
    for item in findings:
        key = (item.code, item.path, item.severity) if item.path else (id(item),)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(item)
    return [(items[0], len(items), [i.line for i in items if i.line]) for items in (groups[k] for k in order)]


def group_message(first, count: int, lines: list) -> str:
    from .findings import RULES

    rule = RULES.get(first.code)
    shown = ", ".join(map(str, lines[:SHOWN_LINES])) + (", …" if len(lines) > SHOWN_LINES else "")
    where = f" (lines {shown})" if lines else ""
    if rule is not None and rule.group:
        return f"{count} {rule.group}{where}"
    return f"{first.message.splitlines()[0]} (and {count - 1} more{where})"


def print_report(report, stream=None, *, verbose: bool = False, quiet: bool = False, label: Optional[str] = None) -> None:
    """`path:line: CODE severity: message`, a hint per rule, then one summary line."""
    stream = stream or sys.stdout
    paint = colour_enabled(stream)
    colours = {"error": "31", "warning": "33", "info": "36"}
    hinted = set()
    findings = tuple(f for f in report.findings if not quiet or f.severity == "error")
    for item, count, lines in _grouped(findings, verbose):
        where = (item.path or ".") + (f":{item.line}" if item.line else "")
        severity = f"\033[{colours[item.severity]}m{item.severity}\033[0m" if paint else item.severity
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
    print(f"{report.subject}: {errors} error(s), {warnings} warning(s), {infos} info: {verdict}", file=stream)


def print_json(data: dict, stream=None) -> None:
    print(json.dumps(data, ensure_ascii=False), file=stream or sys.stdout)


def error_json(exit_code: int, message: str) -> dict:
    return {"ok": False, "error": {"code": exit_code, "message": message}}


def check_json(report) -> dict:
    return {"project": report.subject, **report.as_dict()}


def export_json(outcome) -> dict:
    data = check_json(outcome.report)
    if outcome.result:
        result = outcome.result
        data["archive"] = {"path": str(result.path), "sha256": result.sha256, "size": result.size,
                           "sidecar": str(result.sidecar), "files": [m._asdict() for m in result.members]}
    elif outcome.listing:
        data["archive"] = {"path": str(outcome.target), "sha256": None, "size": None, "sidecar": None,
                           "files": [m._asdict() for m in outcome.listing]}
    else:
        data["archive"] = None
    data["phases"] = outcome.phases
    data["sbom"] = str(outcome.sbom) if outcome.sbom else None
    return data


def print_export(outcome, *, quiet: bool = False, verbose: bool = False) -> None:
    if outcome.phases and not quiet:
        print_phases(outcome.phases)
    print_report(outcome.report, quiet=quiet, verbose=verbose)
    if outcome.phases and outcome.result is None and outcome.listing == []:
        print(f"the archive failed its load proof: {outcome.target} and its .sha256 were removed")
    if outcome.listing:
        total = sum(m.size for m in outcome.listing)
        print(f"\nwould write {outcome.target} with {len(outcome.listing)} file(s), {total:,} bytes before compression:")
        for member in outcome.listing:
            print(f"  {member.size:>14,}  {member.method:<8}  {member.name}")
        stored = sum(m.size for m in outcome.listing if m.method == "stored")
        print(f"  {total:>14,}  total ({stored:,} stored, {total - stored:,} deflated)")
    if outcome.result:
        result = outcome.result
        print(f"wrote {result.path} ({len(result.members)} files, {result.size:,} bytes)")
        print(f"wrote {result.sidecar} (sha256 {result.sha256})")
    if outcome.sbom:
        print(f"wrote {outcome.sbom} (CycloneDX 1.6 SBOM)")


def verify_json(verification) -> dict:
    return {"archive": verification.report.subject, "members": verification.members,
            "provenance": verification.provenance, "phases": verification.phases, **verification.report.as_dict()}


def print_phases(phases: list, stream=None) -> None:
    """One line per phase of the load proof: what ran, for how long, and how it went."""
    stream = stream or sys.stdout
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


def print_verify(verification, *, verbose: bool = False, quiet: bool = False) -> None:
    report = verification.report
    label = f"{verification.members} member(s): " + ("verified" if report.ok else "not verified: fix the errors above")
    if verification.phases and not quiet:
        print_phases(verification.phases)
    print_report(report, verbose=verbose, quiet=quiet, label=label)


def print_bump(bumped) -> None:
    for name, lines in bumped.changed:
        shown = ", ".join(map(str, lines))
        print(f"{name}: {bumped.old} -> {bumped.new} (line{'s' if len(lines) > 1 else ''} {shown})")
    print("\nnext, to release it:")
    for command in bumped.commands:
        print(f"  {command}")


class Progress:
    """A progress bar on stderr, only on a terminal and only once the work takes more than a moment."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.done, self.shown, self.last = 1, 0, False, 0.0
        self.started = time.monotonic()

    def start(self, total: int) -> "Progress":
        self.total, self.started = max(total, 1), time.monotonic()
        return self

    def __call__(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.started < 0.5 or now - self.last < 0.1:
            return
        self.last, self.shown = now, True
        filled = int(30 * self.done / self.total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {100 * self.done // self.total:3d}% "
                          f"{self.done / 2**20:,.0f}/{self.total / 2**20:,.0f} MiB")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
