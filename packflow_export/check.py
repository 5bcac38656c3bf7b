"""check: every readiness rule over a project folder, as one report; nothing is written and, unless asked to run
the project's tests, nothing of the project runs."""

from __future__ import annotations

from .model.context import ProjectContext
from .results import CheckResult, Status
from .rules.runner import Command, run_checks


def check_project(ctx: ProjectContext) -> CheckResult:
    """The report of every check a project folder gets, and whether a release is ready."""
    report = run_checks(ctx, Command.CHECK)
    return CheckResult(Status.READY if report.ok else Status.BLOCKED, report)


def check_commit(ctx: ProjectContext) -> CheckResult:
    """The pre-commit hook's report: the readiness rules that make sense at commit time (no release-time git state)
    and the secret scan over the files being committed (ctx.options.committed), whatever the archive would hold."""
    report = run_checks(ctx, Command.COMMIT)
    return CheckResult(Status.READY if report.ok else Status.BLOCKED, report)
