"""export: the readiness checks (which read every file once, for secrets and its CRC), then the archive.

Each file is read twice at most: once by the checks, once by the writer, which insists on the same file and
the same bytes (a file replaced or modified in between fails the export with PF808, never packs the other).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, NamedTuple, Optional

from . import __version__, naming, zipformat
from .archive import ArchiveResult, Entry, Member, SourceChanged, choose_method, write_archive
from .errors import CannotWrite, UsageError
from .project import FileChanged, Unreadable, open_regular
from .rules import Inspection, Options, inspect_project
from .rules.contents import CHANGED


class ExportOutcome(NamedTuple):
    inspection: Inspection
    target: Optional[Path]
    listing: list  # Member, for --dry-run
    result: Optional[ArchiveResult]
    phases: list = []  # the load proof's, with --load
    sbom: Optional[Path] = None

    @property
    def report(self):
        return self.inspection.report


def source_date_epoch(git) -> int:
    """SOURCE_DATE_EPOCH; else, in a clean git checkout, the commit time of HEAD; else 1980-01-01."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value:
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds") from None
    if git is not None and git.changes() == []:
        commit_time = git.commit_time()
        if commit_time is not None:
            return commit_time
    from .archive import FIXED_DATE_EPOCH

    return FIXED_DATE_EPOCH


def provenance(epoch: int, git, policy, allowed: list) -> bytes:
    """The zip comment: tool, source date, commit, and the policy and allowances verify must apply again."""
    from .archive import clamp_epoch

    data = {"tool": f"packflow_export {__version__}", "source_date_epoch": clamp_epoch(epoch)}
    commit = git.head() if git is not None else None
    if commit:
        data["git"] = {"commit": commit, "dirty": bool(git.changes())}
    if policy.as_dict() != _bundled_policy().as_dict():
        data["policy"] = policy.as_dict()
    if allowed:
        data["allowed_secrets"] = allowed
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return zipformat.comment_bytes(text)


def _bundled_policy():
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


def export_project(project: Path, policy, output_dir: Path, *, strict: bool = False, options: Options = Options(),
                   force: bool = False, dry_run: bool = False, progress: Optional[Callable[[int], Callable]] = None,
                   load=None, sbom: bool = False) -> ExportOutcome:
    """Check the project and, when nothing blocks, write its archive and checksum into output_dir; with `load`
    (LoadOptions), prove the written archive loads in a clean environment, or take it back; with `sbom`, write
    the CycloneDX SBOM beside it."""
    codec = zipformat.codec()
    crcs: dict = {}

    def read_and_fingerprint(item, chunk_bytes: int = 1 << 20):
        crc = 0
        with open_regular(item.path, item.identity) as stream:
            while chunk := stream.read(chunk_bytes):
                crc = codec.crc32(chunk, crc)
                yield chunk
        crcs[item.name] = crc

    inspection = inspect_project(project, policy, strict=strict, options=options, open_file=read_and_fingerprint)
    report, config, selection = inspection.report, inspection.config, inspection.selection
    if not report.ok or selection is None:
        return ExportOutcome(inspection, None, [], None)
    target_name = naming.archive_name(config.text_field("name"), config.text_field("version"))
    if dry_run:
        listing = []
        for item in selection.files:
            with open_regular(item.path, item.identity) as stream:
                listing.append(Member(item.name, item.size, choose_method(stream, item.name, item.size)))
        target = Path(output_dir).resolve() / target_name
        return ExportOutcome(inspection, target, sorted(listing, key=lambda m: (-m.size, m.name)), None)
    target = prepare_output(output_dir) / target_name
    entries = [Entry(item.name, item.size, crcs[item.name], item.executable, _opener(item)) for item in selection.files]
    allowed = sorted(set(options.allowed_secrets) & selection.names)
    epoch = source_date_epoch(inspection.git)
    comment = provenance(epoch, inspection.git, policy, allowed)
    try:
        result = write_archive(entries, target, comment=comment, epoch=epoch, force=force,
                               progress=progress(selection.total_size) if progress else None)
    except SourceChanged as exc:
        report.add([CHANGED(f"{exc}; nothing was written", exc.name)])
        return ExportOutcome(inspection, target, [], None)
    outcome = ExportOutcome(inspection, target, [], result)
    if load is not None:
        outcome = _prove(inspection, target, result, policy, strict, options, load)
    if sbom and outcome.result is not None:
        outcome = outcome._replace(sbom=_write_sbom(inspection, result, epoch))
    return outcome


def _write_sbom(inspection, result: ArchiveResult, epoch: int) -> Path:
    """The SBOM beside the archive; if it cannot be written, the release is taken back whole."""
    from .archive import clamp_epoch
    from .project import DirectoryView
    from .rules.requirements import read_requirements
    from .sbom import build_sbom, write_sbom

    requirements = read_requirements(DirectoryView(Path(inspection.report.subject)))
    try:
        text = build_sbom(inspection.config, requirements, result.path.name, result.sha256, clamp_epoch(epoch),
                          __version__)
        return write_sbom(result.path, text)
    except OSError as exc:
        for path in (result.sidecar, result.path):
            path.unlink(missing_ok=True)
        raise CannotWrite(f"cannot write the SBOM beside {result.path}: {exc.strerror or exc}; the archive was "
                          f"removed with it") from None


def _prove(inspection, target: Path, result: ArchiveResult, policy, strict: bool, options: Options, load) -> ExportOutcome:
    """Verify the written archive with the load proof; a release that does not load is taken back."""
    from .verify import verify_archive

    verification = verify_archive(target, policy=policy, strict=strict, allowed_secrets=options.allowed_secrets,
                                  load=load)
    new = [f for f in verification.report.findings if f.code.startswith("PF9")]
    inspection.report.add(new)
    if any(f.severity == "error" for f in new):
        for path in (result.sidecar, result.path):
            path.unlink(missing_ok=True)
        return ExportOutcome(inspection, target, [], None, verification.phases)
    return ExportOutcome(inspection, target, [], result, verification.phases)


def _opener(item) -> Callable:
    """Open a selected file for the writer: the same file the checks read, or SourceChanged."""
    def open_item():
        try:
            return open_regular(item.path, item.identity)
        except (FileChanged, Unreadable) as exc:
            raise SourceChanged(item.name, str(exc)) from None
    return open_item
