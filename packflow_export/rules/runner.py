"""The one place that decides which checks run, for check, export and verify, from what each check declares (its
needs and stage) and never from a rule's code; and that runs them into one report under the policy.
"""

from __future__ import annotations

from enum import Enum

from ..findings import Report
from ..model.context import Context, Subject
from . import registry
from .check import Check, Need, Stage
from .modelfiles import refuses_load


class Command(Enum):
    CHECK = "check"  # a project folder: every check, the content scan included
    EXPORT = "export"  # a project folder: as check, but the content scan runs beside the archive writer
    VERIFY = "verify"  # an archive: its records, then the same readiness checks on its members
    COMMIT = "commit"  # a project folder at commit time (the hook): no release-time git facts, and the content
    # scan reads the files being committed, whatever the archive would hold


SUBJECTS = {Command.CHECK: Subject.FOLDER, Command.EXPORT: Subject.FOLDER, Command.VERIFY: Subject.ARCHIVE,
            Command.COMMIT: Subject.FOLDER}
RELEASE_ONLY = Need.GIT | Need.STREAM  # what a commit does not need: the release's git state, the archive's scan


def selected(check: Check, ctx: Context, command: Command) -> bool:
    """Whether a check runs in this command on this subject with these options."""
    if ctx.subject not in check.subjects:
        return False
    if Need.COMMIT in check.needs and command is not Command.COMMIT:
        return False
    if command is Command.COMMIT and check.needs & RELEASE_ONLY:
        return False
    if Need.STREAM in check.needs and command is Command.EXPORT:
        return False  # export's writer runs the scan as it packs (exporter.py)
    if Need.TESTS in check.needs and not ctx.options.run_tests:
        return False
    return not (Need.LOAD in check.needs and ctx.options.load is None)


def intact(report: Report) -> bool:
    """No rule that guards the archive's integrity is an error: unpacking it is safe."""
    rules = registry().rules
    return not any(item.severity == "error" and item.code in rules and rules[item.code].integrity
                   for item in report.findings)


def run_checks(ctx: Context, command: Command) -> Report:
    """Every selected check, stage by stage, into one report. An archive whose records are not where they must be
    is read no further; one whose records have errors gets no member read, but its .sha256 is still compared."""
    if SUBJECTS[command] is not ctx.subject:
        raise ValueError(f"{command.value} runs on a {SUBJECTS[command].value}, not on {ctx.label}")
    report = Report(ctx.label, ctx.policy, ctx.strict)
    planned = [check for check in registry().checks if selected(check, ctx, command)]
    skipped: set[Stage] = set()
    for stage in Stage:
        if stage in skipped:
            continue
        found = 0
        for check in (check for check in planned if check.stage is stage):
            if Need.LOAD in check.needs and (not intact(report) or refuses_load(report)):
                continue
            findings = list(check.run(ctx))
            found += len(findings)
            report.add(findings)
        if stage is Stage.LOCATE and found:
            break
        if stage is Stage.RECORDS and report.count("error"):
            skipped |= {Stage.FILES, Stage.RUN}
    return report
