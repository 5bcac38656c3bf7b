"""verify: prove an archive is sound without unpacking it: its records, every member's bytes, and the same
readiness rules export applied, under the verifier's policy. What the archive records about its own verdict (the
policy and allowances of its export) is shown, never applied unless the verifier accepts it, and even then it
cannot relax the rules that keep the archive intact and unpackable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from .errors import UsageError
from .findings import Policy
from .model.context import ArchiveContext, PolicySource
from .model.options import LoadOptions, RunOptions
from .model.records import DEFAULT_MAX_ENTRIES, ArchiveFile, Provenance
from .policy import accept_recorded, load_policy, policy_from_data, recorded_allowlist, relaxations
from .results import Status, VerifyResult
from .rules.runner import Command, run_checks

DEFAULT_MAX_SIZE = 64 << 30  # bytes all members may inflate to


def choose_policy(policy_path: Optional[Path], provenance: Optional[Provenance],
                  accept: bool = False) -> tuple[Policy, PolicySource]:
    """The policy to verify under: --policy's file, else the bundled one. The archive's recorded policy applies
    only with `accept`, never below the verifier's level for an integrity or model-file rule, and never with its
    model_allowlist: the allow-list is the verifier's alone (what the archive's would add is shown)."""
    own = load_policy(policy_path)
    if not provenance or "policy" not in provenance:
        return own, PolicySource()
    try:
        recorded = policy_from_data(provenance["policy"], "the policy recorded in the archive")
    except UsageError as exc:
        return own, PolicySource(refused=str(exc))
    lowered = relaxations(own, recorded)
    shown = tuple(f"{code} {mine}->{theirs}" for code, mine, theirs, _ in lowered)
    kept = tuple(code for code, _, _, keep in lowered if keep)
    widened = recorded_allowlist(own, recorded)
    if not accept:
        return own, PolicySource(recorded=recorded != own, relaxed=shown, allowlist=widened)
    return accept_recorded(own, recorded, lowered), PolicySource(recorded=recorded != own, accepted=True,
                                                                relaxed=shown, kept=kept, allowlist=widened)


def verify_archive(path: Path, *, policy_path: Optional[Path] = None, allowed_secrets: Iterable[str] = (),
                   strict: bool = False, max_size: int = DEFAULT_MAX_SIZE, max_entries: int = DEFAULT_MAX_ENTRIES,
                   load: Optional[LoadOptions] = None, policy: Optional[Policy] = None,
                   accept_recorded_policy: bool = False) -> VerifyResult:
    """Every check verify makes, as one report (the policy: `policy`, else --policy's file, else the bundled one;
    the archive's own only with `accept_recorded_policy`); with `load`, the load proof as well."""
    with ArchiveFile.open(Path(path), max_entries) as archive:
        if policy is None:
            policy, source = choose_policy(policy_path, archive.provenance, accept_recorded_policy)
        else:
            source = PolicySource()
        recorded = (archive.provenance or {}).get("allowed_secrets") or () if accept_recorded_policy else ()
        options = RunOptions(strict=strict, allowed_secrets=frozenset(allowed_secrets) | frozenset(recorded), load=load)
        ctx = ArchiveContext(archive, policy, options, policy_source=source, max_size=max_size)
        report = run_checks(ctx, Command.VERIFY)
        return VerifyResult(Status.VERIFIED if report.ok else Status.BLOCKED, report, len(archive.entries),
                            archive.provenance, tuple(ctx.phases))
