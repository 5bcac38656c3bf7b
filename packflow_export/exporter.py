"""The export pipeline: readiness checks, file selection, secret scan, then the archive."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .archive import (ArchiveResult, Member, archive_name, archive_stem, choose_method, create_archive, provenance,
                      source_date_epoch)
from .checks import Report, git, in_git, run_checks
from .config import Policy
from .files import Selection, select_files
from .findings import finding


class ExportPlan:
    """The export as it progresses: the report, then the file selection and target, then the result."""

    def __init__(self, report: Report):
        self.report = report
        self.selection: Optional[Selection] = None
        self.target: Optional[Path] = None
        self.members: list = []  # Member, for --dry-run
        self.result: Optional[ArchiveResult] = None


def scan_for_secrets(selection: Selection, allowed: set) -> list:
    """PF801 findings for files that look like secrets, unless explicitly allowed."""
    from .secret_scan import name_rule, scan_stream

    found = []
    for item in selection.files:
        if item.name in allowed:
            continue
        rule = name_rule(item.name)
        if rule:
            found.append(finding("PF801", f"{item.name} looks like a secret ({rule})", item.name, None,
                                 f"Add {item.name} to .packflowignore, or pass --allow-secret {item.name} if it holds no secret."))
            continue
        try:
            with item.path.open("rb") as stream:
                for rule, line in scan_stream(stream):
                    found.append(finding("PF801", f"{item.name} contains what looks like a {rule}", item.name, line,
                                         f"Remove it (use an environment variable), add the file to .packflowignore, "
                                         f"or pass --allow-secret {item.name}."))
        except OSError as exc:
            found.append(finding("PF104", f"{item.name} cannot be read: {exc.strerror}", item.name))
    return found


def plan_export(project: Path, policy: Policy, output_dir: Path, *, strict: bool = False, allowed_secrets=(),
                run_tests: bool = False, test_timeout: float = 600.0) -> ExportPlan:
    """Everything short of writing: the checks, the file list and the secret scan."""
    report = run_checks(project, policy, strict=strict, run_tests=run_tests, test_timeout=test_timeout)
    plan = ExportPlan(report)
    if not report.ok:
        return plan
    data = report.config_data
    if not (isinstance(data.get("name"), str) and isinstance(data.get("version"), str)):
        item = finding("PF204", "the archive cannot be named without a valid name and version", "packflow.yaml")
        item.severity = "error"
        report.findings.append(item)
        return plan
    target = Path(output_dir).resolve() / archive_name(data["name"], data["version"])
    plan.target = target
    plan.selection = select_files(project, archive_stem(data["name"]), output=target)
    report.add(plan.selection.findings + scan_for_secrets(plan.selection, set(allowed_secrets)), policy)
    return plan


def describe_members(selection: Selection) -> list:
    """What --dry-run shows: each file with the method it would get, largest first."""
    members = [Member(f.name, f.size, choose_method(f.path, f.size)) for f in selection.files]
    return sorted(members, key=lambda m: (-m.size, m.name))


def write_plan(plan: ExportPlan, project: Path, *, force: bool = False, progress=None) -> ArchiveResult:
    epoch = source_date_epoch()
    commit = git(project, "rev-parse", "HEAD") if in_git(project) else None
    dirty = bool(git(project, "status", "--porcelain", "--", ".")) if commit else None
    comment = provenance(epoch, commit.strip() if commit else None, dirty)
    plan.result = create_archive(plan.selection.files, plan.target, comment=comment, epoch=epoch, force=force,
                                 progress=progress)
    return plan.result
