"""verify: prove an archive is sound without unpacking it: its records, every member's bytes, and the same
readiness rules export applied (under the policy and allowances export recorded, unless told otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from .errors import UsageError
from .findings import Policy
from .model.context import ArchiveContext, PolicySource
from .model.options import LoadOptions, RunOptions
from .model.records import DEFAULT_MAX_ENTRIES, ArchiveFile, Provenance
from .policy import load_policy, policy_from_data
from .results import Status, VerifyResult
from .rules.runner import Command, run_checks

DEFAULT_MAX_SIZE = 64 << 30  # bytes all members may inflate to


def choose_policy(policy_path: Optional[Path], provenance: Optional[Provenance]) -> tuple[Policy, PolicySource]:
    """The policy to verify under: --policy's file; else the one export recorded (unless it is refused, then the
    bundled one); else the bundled one."""
    if policy_path is not None or not provenance or "policy" not in provenance:
        return load_policy(policy_path), PolicySource()
    try:
        policy = policy_from_data(provenance["policy"], "the policy recorded in the archive")
    except UsageError as exc:
        return load_policy(), PolicySource(refused=str(exc))
    return policy, PolicySource(recorded=policy != load_policy())


def verify_archive(path: Path, *, policy_path: Optional[Path] = None, allowed_secrets: Iterable[str] = (),
                   strict: bool = False, max_size: int = DEFAULT_MAX_SIZE, max_entries: int = DEFAULT_MAX_ENTRIES,
                   load: Optional[LoadOptions] = None, policy: Optional[Policy] = None) -> VerifyResult:
    """Every check verify makes, as one report (the policy: `policy`, else --policy's file, else the one export
    recorded, else the bundled one); with `load`, the load proof as well."""
    with ArchiveFile.open(Path(path), max_entries) as archive:
        if policy is None:
            policy, source = choose_policy(policy_path, archive.provenance)
        else:
            source = PolicySource()
        recorded = (archive.provenance or {}).get("allowed_secrets") or ()
        options = RunOptions(strict=strict, allowed_secrets=frozenset(allowed_secrets) | frozenset(recorded), load=load)
        ctx = ArchiveContext(archive, policy, options, policy_source=source, max_size=max_size)
        report = run_checks(ctx, Command.VERIFY)
        return VerifyResult(Status.VERIFIED if report.ok else Status.BLOCKED, report, len(archive.entries),
                            archive.provenance, tuple(ctx.phases))
