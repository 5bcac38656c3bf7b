"""export: the readiness checks, then the content scan feeding the archive writer.

The scan reads each file once, for secrets and its CRC. A file of one deflate block is packed from the bytes
the scan read; a larger one is read again by the writer, which insists on the same file and the same bytes (a
file replaced or modified in between fails the export with PF808, never packs the other).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import IO, Callable, Iterator, Optional, Sequence

from . import __version__, faults, naming, zipformat
from .archive import ArchiveResult, Entry, Member, SourceChanged, choose_method, write_archive
from .errors import CannotWrite, UsageError
from .findings import Finding, Policy, Report
from .model.context import ProjectContext
from .model.gitinfo import GitRepo
from .model.selection import SelectedFile, Selection
from .model.views import FileChanged, Unreadable, open_regular, read_regular
from .results import ExportResult, Status
from .rules.contents import CHANGED
from .rules.modelfiles import ScanSettings, settings_for, using
from .rules.runner import Command, run_checks

Progress = Callable[[int], Callable[[int], None]]  # (total bytes) -> (bytes done) -> None
ScanResult = tuple[Sequence[Finding], Optional[int]]  # a file's findings, and its CRC-32 when it was read whole


def source_date_epoch(git: Optional[GitRepo]) -> int:
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


def provenance(epoch: int, git: Optional[GitRepo], policy: Policy, allowed: list[str]) -> bytes:
    """The zip comment: tool, source date, commit, and the policy and allowances verify must apply again."""
    from .archive import clamp_epoch

    data: dict[str, object] = {"tool": f"packflow_export {__version__}", "source_date_epoch": clamp_epoch(epoch)}
    commit = git.head() if git is not None else None
    if commit and git is not None:
        data["git"] = {"commit": commit, "dirty": bool(git.changes())}
    if policy.as_dict() != _bundled_policy().as_dict():
        data["policy"] = policy.as_dict()
    if allowed:
        data["allowed_secrets"] = allowed
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
    scanner = _Scanner(selection.files, ctx.options.allowed_secrets, settings_for(ctx))
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
    except _Blocked:
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


KEEP_FILE_BYTES = 1 << 20  # files up to one deflate block are read once, by the scan, and kept for the writer
KEPT_BYTES = 8 << 20  # at most this much kept at a time: the scan waits for the writer beyond it
THREAD_FROM_BYTES = 32 << 20  # files larger than a block, in all, from which the scan runs on its own thread


class _Blocked(Exception):
    """The content scan found something that blocks the export: the writer stops and removes its temporary file."""


class _Scanner:
    """The content scan of the selected files, in order, on its own thread; each file's CRC-32 comes with it."""

    def __init__(self, files: list[SelectedFile], allowed: frozenset[str], model_settings: ScanSettings):
        import threading

        from . import secrets

        self.files, self.allowed, self.model_settings = files, frozenset(allowed), model_settings
        self.finder = secrets.finder_for(sum(item.size for item in files))
        self.codec = zipformat.codec()
        self.results: dict[int, ScanResult] = {}  # file index -> (findings, CRC-32 or None)
        self.kept: dict[int, bytes] = {}  # file index -> the content of a one-block file, handed to the writer
        self.findings: list[Finding] = []
        self.kept_bytes = 0
        self.ready = threading.Condition()
        self.stop = False
        self.thread: Optional[threading.Thread] = None
        self.error: Optional[BaseException] = None

    def scan(self, item: SelectedFile, index: Optional[int] = None) -> ScanResult:
        """(the file's findings, its CRC-32 or None when it could not be read whole). A one-block file is read in
        one piece and, with an index, kept for the writer, which then packs exactly the bytes that were scanned."""
        from .rules.contents import scan_file

        crcs: list[int] = []

        def whole() -> Iterator[bytes]:
            data = read_regular(item.path, item.identity, item.size + 1)
            if len(data) == item.size:
                crcs.append(self.codec.crc32(data))
                if index is not None:
                    self.keep(index, data)
            yield data

        def chunks() -> Iterator[memoryview]:
            crc, buffer = 0, bytearray(1 << 20)
            view = memoryview(buffer)
            with open_regular(item.path, item.identity) as stream:
                while not self.stop and (count := stream.readinto(buffer)):
                    crc = self.codec.crc32(view[:count], crc)
                    yield view[:count]  # the scan copies what it keeps: the buffer is read into again
            if not self.stop:
                crcs.append(crc)
        with using(self.model_settings):  # the model-file analysis in scan_file, with the run's allow-list
            found = scan_file(item.name, whole if item.size <= KEEP_FILE_BYTES else chunks, self.allowed,
                              self.finder, lambda: open_regular(item.path, item.identity))
        return found, (crcs[0] if crcs else None)

    def keep(self, index: int, data: bytes) -> None:
        with self.ready:
            while self.kept_bytes > KEPT_BYTES and not self.stop:  # the writer is behind: wait for it
                self.ready.wait()
            self.kept[index] = data
            self.kept_bytes += len(data)

    def _scan_inline(self, index: int) -> None:
        """Without the scan's own thread, the writer scans each file when it first needs it."""
        if self.thread is None and index not in self.results:
            self.results[index] = self.scan(self.files[index], index)

    def opener(self, index: int, item: SelectedFile) -> Callable[[], IO[bytes]]:
        """Open a file for the writer: the bytes the scan kept, else the file itself (the same one, or an error)."""
        def open_item() -> IO[bytes]:
            self._scan_inline(index)
            with self.ready:
                data = self.kept.pop(index, None)
                if data is not None:
                    self.kept_bytes -= len(data)
                    self.ready.notify_all()
            if data is not None:
                import io

                return io.BytesIO(data)
            faults.point("open", item.name)  # the scan has read the file; the writer opens it again
            return _opener(item)()
        return open_item

    def run_all(self) -> list[Finding]:
        return [finding for item in self.files for finding in self.scan(item)[0]]

    def start(self) -> None:
        import threading

        def work() -> None:
            try:
                for index, item in enumerate(self.files):
                    if self.stop:
                        break
                    result = self.scan(item, index)
                    with self.ready:
                        self.results[index] = result
                        self.ready.notify_all()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the writer's thread
                with self.ready:
                    self.error = exc
                    self.ready.notify_all()

        self.thread = threading.Thread(target=work, name="packflow-export-scan", daemon=True)
        self.thread.start()

    def entries(self, report: Report) -> Iterator[Entry]:
        """The archive's entries; each one's CRC is the scan's, and asking for it waits for the scan of that file
        and stops the writer when the scan found something that blocks."""
        def crc_of(index: int) -> Callable[[], int]:
            def crc() -> int:
                self._scan_inline(index)
                with self.ready:
                    while index not in self.results and self.error is None:
                        self.ready.wait()
                    if self.error is not None:
                        raise self.error
                    found, value = self.results[index]
                    self.findings += found
                    self.results[index] = ((), value)  # the findings move to the report; keep memory flat
                if value is None or report.blocks(found):
                    raise _Blocked()
                return value
            return crc
        return (Entry(item.name, item.size, crc_of(index), item.executable, self.opener(index, item))
                for index, item in enumerate(self.files))

    def finish(self) -> list[Finding]:
        """Every finding of the scan: the rest of the files are scanned too, so the report lists all of them."""
        if self.thread is not None:
            self.thread.join()
            if self.error is not None:
                raise self.error
        for index in range(len(self.files)):  # files the writer never reached: scan them now, for the report
            if self.thread is None and index not in self.results and not self.stop:
                self.results[index] = (self.scan(self.files[index])[0], None)
            self.findings += self.results.get(index, ((), None))[0]
            self.results[index] = ((), None)
        return self.findings

    def cancel(self) -> None:
        with self.ready:
            self.stop = True
            self.ready.notify_all()
        if self.thread is not None:
            self.thread.join()


def _write_sbom(ctx: ProjectContext, result: ArchiveResult, epoch: int) -> Path:
    """The SBOM beside the archive, of the requirements the checks parsed; if it cannot be written, the release is
    taken back whole."""
    from .archive import clamp_epoch
    from .sbom import build_sbom, write_sbom

    try:
        text = build_sbom(ctx.config, ctx.requirements, result.path.name, result.sha256, clamp_epoch(epoch),
                          __version__)
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


def _opener(item: SelectedFile) -> Callable[[], IO[bytes]]:
    """Open a selected file for the writer: the same file the checks read, or SourceChanged."""
    def open_item() -> IO[bytes]:
        try:
            return open_regular(item.path, item.identity)
        except (FileChanged, Unreadable) as exc:
            raise SourceChanged(item.name, str(exc)) from None
    return open_item
