"""export: the readiness checks, then the content scan (scanfeed.py) feeding the archive writer.

The scan reads each file once, for secrets and its CRC. A file of one deflate block is packed from the bytes
the scan read; a larger one is read again by the writer, which insists on the same file and the same bytes (a
file replaced or modified in between fails the export with PF808, never packs the other).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional

from . import __version__, naming
from .archive import reproducible, zipformat
from .archive.method import choose_method
from .archive.writer import ArchiveResult, Member, SourceChanged, write_archive
from .errors import CannotWrite, UsageError
from .findings import Policy
from .model.context import ProjectContext
from .model.gitinfo import GitRepo
from .model.selection import Selection
from .model.views import open_regular
from .results import ExportResult, Status
from .rules.contents import CHANGED, rules_of
from .rules.modelfiles import settings_for
from .rules.runner import Command, run_checks
from .scanfeed import KEEP_FILE_BYTES, THREAD_FROM_BYTES, Blocked, Scanner

Progress = Callable[[int], Callable[[int], None]]  # (total bytes) -> (bytes done) -> None


def source_date_epoch(git: Optional[GitRepo]) -> int:
    """SOURCE_DATE_EPOCH; else, in a clean git checkout, the commit time of HEAD; else 1980-01-01."""
    try:
        return reproducible.source_date_epoch(os.environ, lambda: _clean_commit_time(git))
    except reproducible.BadSourceDate as exc:
        raise UsageError(str(exc)) from None


def _clean_commit_time(git: Optional[GitRepo]) -> Optional[int]:
    return git.commit_time() if git is not None and git.changes() == [] else None


def provenance(epoch: int, git: Optional[GitRepo], policy: Policy, allowed: list[str]) -> bytes:
    """The zip comment: tool, source date, commit, and the policy and allowances verify must apply again."""
    data: dict[str, object] = {"tool": f"packflow_export {__version__}",
                               "source_date_epoch": reproducible.clamp_epoch(epoch)}
    commit = git.head() if git is not None else None
    if commit and git is not None:
        from .gittree import tree_hash

        data["git"] = {"commit": commit, "tree": tree_hash(git), "dirty": bool(git.changes())}
    if policy.as_dict() != _bundled_policy().as_dict():
        data["policy"] = policy.as_dict()
    if allowed:
        data["allowed_secrets"] = allowed
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > zipformat.MAX_COMMENT and policy.model_allowlist:
        # A fork's long allow-list would not fit the comment; verify never applies a recorded one, so say its size
        entries = sum(len(item.globals) for item in policy.model_allowlist if not isinstance(item, str))
        data["policy"] = {**policy.as_dict(), "model_allowlist": [
            f"{entries} allow-list entries, too many to record in the zip comment"]}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return zipformat.comment_bytes(text)


def _bundled_policy() -> Policy:
    from .policy import load_policy

    return load_policy()


def prepare_output(output_dir: Path) -> Path:
    """The output folder, created when missing (as python -m build --outdir does); refused when it is not a folder."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise CannotWrite(f"output directory {output_dir} exists and is not a folder")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CannotWrite(f"output directory {output_dir} cannot be created: {exc.strerror or exc}") from None
    return output_dir.resolve()


def export_project(ctx: ProjectContext, output_dir: Path, *, force: bool = False, dry_run: bool = False,
                   progress: Optional[Progress] = None, sbom: bool = False) -> ExportResult:
    """Check the project and, when nothing blocks, write its archive and checksum into output_dir; with the run's
    load options, prove the written archive loads in a clean environment, or take it back; with `sbom`, write
    the CycloneDX SBOM beside it.

    The content scan (secrets, and each file's CRC-32) runs on a thread of its own, a file or more ahead of the
    writer: the writer packs a file only once the scan has read it, found nothing blocking and given its CRC, and
    commits the archive only once every file has been scanned. A blocking finding stops the writer: nothing is
    left under the archive's name.
    """
    report = run_checks(ctx, Command.CHECK if dry_run else Command.EXPORT)
    selection = ctx.selection
    if selection is None:
        return ExportResult(Status.BLOCKED, report)
    if not report.ok and dry_run:
        return ExportResult(Status.BLOCKED, report)
    target_name = naming.archive_name(ctx.config.text_field("name") or "", ctx.config.text_field("version") or "")
    if dry_run:
        return ExportResult(Status.LISTED, report, Path(output_dir).resolve() / target_name,
                            listing=_listing(selection))
    scanner = Scanner(selection.files, ctx.options.allowed_secrets, settings_for(ctx), rules_of(ctx.policy))
    if not report.ok:  # nothing will be written, but the report still lists every secret
        report.add(scanner.run_all())
        return ExportResult(Status.BLOCKED, report)
    target = prepare_output(output_dir) / target_name
    git = ctx.git.repo
    epoch = source_date_epoch(git)
    allowed = sorted(set(ctx.options.allowed_secrets) & selection.names)
    comment = provenance(epoch, git, ctx.policy, allowed)
    if sum(item.size for item in selection.files if item.size > KEEP_FILE_BYTES) >= THREAD_FROM_BYTES:
        scanner.start()  # large files: scanning beside the writer pays; small ones: thread hand-offs cost more
    try:
        result = write_archive(scanner.entries(report), target, comment=comment, epoch=epoch, force=force,
                               progress=progress(selection.total_size) if progress else None)
    except Blocked:
        report.add(scanner.finish())
        return ExportResult(Status.BLOCKED, report, target)
    except SourceChanged as exc:
        report.add(scanner.finish())
        report.add([CHANGED(f"{exc}; nothing was written", exc.name)])
        return ExportResult(Status.BLOCKED, report, target)
    except BaseException:
        scanner.cancel()
        raise
    report.add(scanner.finish())
    outcome = ExportResult(Status.WRITTEN, report, target, result)
    if ctx.options.load is not None:
        outcome = _prove(ctx, outcome, result)
    if sbom and outcome.archive is not None:
        outcome = outcome._replace(sbom=_write_sbom(ctx, result, epoch))
    return outcome


def _listing(selection: Selection) -> tuple[Member, ...]:
    """What --dry-run prints: each file with how it would be packed, largest first."""
    listing = []
    for item in selection.files:
        with open_regular(item.path, item.identity) as stream:
            listing.append(Member(item.name, item.size, choose_method(stream, item.name, item.size)))
    return tuple(sorted(listing, key=lambda m: (-m.size, m.name)))


def _write_sbom(ctx: ProjectContext, result: ArchiveResult, epoch: int) -> Path:
    """The SBOM beside the archive, of the requirements the checks parsed; if it cannot be written, the release is
    taken back whole."""
    from .sbom import build_sbom, sbom_audit, write_sbom

    audit = sbom_audit(ctx.requirements, ctx.config.text_field("python_version"), ctx.options.osv_db,
                       ctx.options.osv_url)
    try:
        text = build_sbom(ctx.config, ctx.requirements, result.path.name, result.sha256,
                          reproducible.clamp_epoch(epoch), __version__, audit)
        return write_sbom(result.path, text)
    except OSError as exc:
        for path in (result.sidecar, result.path):
            path.unlink(missing_ok=True)
        raise CannotWrite(f"cannot write the SBOM beside {result.path}: {exc.strerror or exc}; the archive was "
                          f"removed with it") from None


def _prove(ctx: ProjectContext, outcome: ExportResult, result: ArchiveResult) -> ExportResult:
    """Verify the written archive with the load proof; a release that does not load is taken back. What verify
    adds to the report is what only an archive's checks find (its records, the load proof)."""
    from .model.context import Subject
    from .rules import registry
    from .verify import verify_archive

    verification = verify_archive(result.path, policy=ctx.policy, strict=ctx.options.strict,
                                  allowed_secrets=ctx.options.allowed_secrets, load=ctx.options.load)
    archive_codes = registry().codes_only_on(Subject.ARCHIVE)
    new = [f for f in verification.report.findings if f.code in archive_codes]
    outcome.report.add(new)
    if any(f.severity == "error" for f in new):
        for path in (result.sidecar, result.path):
            path.unlink(missing_ok=True)
        return outcome._replace(status=Status.TAKEN_BACK, archive=None, phases=verification.phases)
    return outcome._replace(phases=verification.phases)
