"""verify: prove an archive is sound without unpacking it: its records, every member's bytes, and the same
readiness rules export applied (under the policy and allowances export recorded, unless told otherwise).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import NamedTuple, Optional

from . import naming, zipformat
from .findings import Report
from .policy import load_policy, policy_from_data
from .errors import UsageError
from .project import ArchiveView, Unreadable

DEFAULT_MAX_SIZE = 64 << 30  # bytes all members may inflate to
DEFAULT_MAX_ENTRIES = 1_000_000


class Verification(NamedTuple):
    report: Report
    members: int
    provenance: Optional[dict]
    phases: list = []  # the load proof's phases, with their times


def read_provenance(comment: bytes) -> Optional[dict]:
    try:
        data = json.loads(comment.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and str(data.get("tool", "")).startswith("packflow_export") else None


def verify_archive(path: Path, *, policy_path: Optional[Path] = None, allowed_secrets=frozenset(), strict: bool = False,
                   max_size: int = DEFAULT_MAX_SIZE, max_entries: int = DEFAULT_MAX_ENTRIES,
                   load=None, policy=None) -> Verification:
    """Every check verify makes, as one report (the policy: `policy`, else --policy's file, else the one export
    recorded, else the bundled one); with `load` (LoadOptions), the load proof as well."""
    from .rules import archive as archive_rules, contents, static_checks
    from .rules.backend import find_backend_module
    from .rules.config import load_config

    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path}: not a regular file")
        try:
            end = zipformat.read_end_record(handle, info.st_size)
            misplaced = list(archive_rules.check_end(end))
            entries = [] if misplaced else zipformat.read_central_directory(handle, end, max_entries)
        except zipformat.ZipFormatError as exc:
            misplaced = [archive_rules.NOT_A_ZIP(f"not a complete zip archive: {exc}", None)]
        if misplaced:
            report = Report(str(path), policy or load_policy(policy_path), strict)
            report.add(misplaced)
            return Verification(report, 0, None)
        provenance = read_provenance(end.comment)
        policy, recorded = (policy, []) if policy is not None else _policy(policy_path, provenance)
        report = Report(str(path), policy, strict)
        allowed = frozenset(allowed_secrets) | frozenset((provenance or {}).get("allowed_secrets") or ())
        report.add(recorded)
        if provenance is None:
            report.add([archive_rules.PROVENANCE("the zip comment is not the provenance packflow_export records", None)])
        elif (provenance or {}).get("allowed_secrets"):
            report.add([archive_rules.RECORDED(f"export allowed these files that look like secrets: "
                                               f"{', '.join(provenance['allowed_secrets'])}", None)])
        report.add(archive_rules.check_entries(entries, max_size))
        report.add(archive_rules.check_layout(handle, entries, end))
        if report.count("error"):
            return Verification(report, len(entries), provenance)
        codec = zipformat.codec()
        offsets = {}
        for entry in entries:
            offsets[entry.name] = (entry, zipformat.read_local_header(handle, entry.header_offset).data_offset)

        def chunks(name):
            entry, data_offset = offsets[name]
            return archive_rules.member_chunks(handle, entry, data_offset, codec)

        def readable_chunks(name):
            try:
                yield from chunks(name)
            except archive_rules.CorruptMember as exc:
                raise Unreadable(f"does not read back intact: {exc}") from None

        view = ArchiveView(str(path), {e.name: e.file_size for e in entries}, readable_chunks)
        report.add(contents.check_names(view.members))
        report.add(contents.scan_contents([(name, size, lambda name=name: chunks(name), None)
                                           for name, size in view.members.items()], allowed))
        config = load_config(view)
        report.add(static_checks(view, config, policy))
        needed = contents.required_files(view, config, find_backend_module(view, config))
        report.add(contents.check_members_hold(view.members, needed))
        name, version = config.text_field("name"), config.text_field("version")
        if name and version and not naming.name_problem(name) and path.name != naming.archive_name(name, version):
            report.add([archive_rules.NAME_MISMATCH(
                f"file name {path.name!r} does not match packflow.yaml (expected {naming.archive_name(name, version)!r})",
                None)])
        phases = []
        if load is not None:
            intact = not any(f.code in ("PF903", "PF805") and f.severity == "error" for f in report.findings)
            if intact and config.data is not None:
                phases = _prove_load(view, chunks, config, load, report)
    report.add(_check_sidecar(path))
    return Verification(report, len(entries), provenance, phases)


def _prove_load(view, chunks, config, options, report) -> list:
    """Unpack the members into a private folder and run the load proof there; the folder goes away afterwards."""
    import shutil
    import tempfile
    import time

    from .load import prove_load

    folder = Path(tempfile.mkdtemp(prefix="packflow-verify-"))
    try:
        started = time.perf_counter()
        project = folder / "project"
        for name in sorted(view.members):
            target = project.joinpath(*name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            with os.fdopen(descriptor, "wb") as handle:
                for piece in chunks(name):
                    handle.write(piece)
        phases = [{"phase": "extract", "ok": True, "seconds": time.perf_counter() - started,
                   "files": len(view.members)}]
        result = prove_load(project, config.text_field("python_version"), options)
        report.add(result.findings)
        return phases + result.phases
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _policy(policy_path: Optional[Path], provenance: Optional[dict]) -> tuple:
    """The policy to verify under, and the findings that say which recorded one applies."""
    from .rules.archive import PROVENANCE, RECORDED

    if policy_path is not None or not provenance or "policy" not in provenance:
        return load_policy(policy_path), []
    try:
        policy = policy_from_data(provenance["policy"], "the policy recorded in the archive")
    except UsageError as exc:
        return load_policy(), [PROVENANCE(f"{exc}; verifying under the bundled policy", None)]
    if policy != load_policy():
        return policy, [RECORDED("verified under the policy recorded at export (pass --policy to use another)", None)]
    return policy, []


def _check_sidecar(path: Path) -> list:
    from .rules.archive import CHECKSUM

    sidecar = path.with_name(path.name + ".sha256")
    if not os.path.lexists(sidecar):
        return []
    try:
        fields = sidecar.read_text(encoding="utf-8").split()
        expected = fields[0].lower()
    except (OSError, UnicodeDecodeError, IndexError):
        return [CHECKSUM(f"{sidecar.name} cannot be read as a sha256sum line", sidecar.name)]
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        return [CHECKSUM(f"sha256 {digest.hexdigest()} does not match {sidecar.name} ({expected})", sidecar.name)]
    if len(fields) > 1 and fields[1].lstrip("*") != path.name:
        return [CHECKSUM(f"{sidecar.name} names {fields[1]!r}, not {path.name!r}", sidecar.name)]
    return []
