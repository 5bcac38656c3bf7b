"""Known vulnerabilities in the pinned requirements, matched against OSV advisories (PF42x).

check, export, release and verify audit only when an advisory source is configured (`--db`/`--osv-url`, or
PACKFLOW_EXPORT_OSV_DB / PACKFLOW_EXPORT_OSV_URL): with none, nothing is asked of the network and nothing is
reported. `audit` runs the same mapping over many projects at once with one lookup (audit_command.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterator, Optional

from ..findings import Finding, Policy, define
from ..model.config import CONFIG
from ..model.context import Context
from .check import Check

if TYPE_CHECKING:
    from ..deps.database import AdvisorySource
    from ..deps.records import Hit, ProjectAudit, ProjectInput, RequirementRecord

VULNERABLE = define(
    "PF420", "error", "a pinned requirement has a known vulnerability (an OSV advisory)",
    why="The archive would install a version with a published vulnerability; pipelines that import it audit "
        "it and refuse it, as pip-audit users expect CI to.",
    fix="Upgrade to a fixed version (lock again with `python -m packflow_export lock --upgrade`); if the "
        "advisory does not apply, list its id in the policy's ignore_advisories.")
IGNORED = define(
    "PF421", "info", "a known vulnerability is ignored by the policy's ignore_advisories",
    why="Someone decided the advisory does not apply; the report still says so, so the decision stays visible.",
    fix="Remove the id from ignore_advisories once the requirement is upgraded.")
NOT_AUDITABLE = define(
    "PF422", "warning", "a requirement cannot be audited (not pinned to one version, or a URL)",
    why="Advisories name versions: a requirement that allows several, or a direct URL, may install an affected "
        "version and the audit cannot say.",
    fix="Pin it with == (a lock made by `python -m packflow_export lock` pins everything).")
STALE_DATABASE = define(
    "PF423", "warning", "the offline advisory database is older than the policy's advisory_database_max_age_days",
    why="Advisories are published every day; an old database misses the recent ones and reports clean.",
    fix="Download OSV's PyPI all.zip again (https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip), or "
        "raise advisory_database_max_age_days in the policy.")
BAD_RECORDS = define(
    "PF424", "warning", "some records of the advisory database cannot be read",
    why="An advisory that cannot be read cannot match: the audit may miss a vulnerability.",
    fix="Download the database again; OSV's dump holds one JSON record per <ID>.json.")


def requirement_records(ctx: Context) -> tuple[RequirementRecord, ...]:
    """The project's requirements (requirements.txt and what it includes) as the audit takes them."""
    from ..deps.records import RequirementRecord

    return tuple(RequirementRecord(name=item.name, specifier=item.specifier, marker=item.marker, url=item.url,
                                   path=item.path, line=item.line) for item in ctx.requirements.items)


def project_input(ctx: Context) -> ProjectInput:
    """One project or archive to audit: its identity, maintainers, Python and requirements."""
    from ..deps.records import ProjectInput

    config = ctx.config
    maintainers = tuple(str(item) for item in config.fields.get("maintainers") or () if isinstance(item, str))
    return ProjectInput(name=config.text_field("name") or "", version=config.text_field("version") or "",
                        source=ctx.label, requirements=requirement_records(ctx), maintainers=maintainers,
                        python_version=config.text_field("python_version"))


def ignored(hit: Hit, policy: Policy) -> bool:
    """Whether the policy ignores the advisory, by its id or one of its aliases."""
    names = {hit.advisory.id, *hit.advisory.aliases}
    return any(name in names for name in policy.ignore_advisories)


def hit_message(hit: Hit) -> str:
    """`requests==2.19.0 is affected by PYSEC-2018-28 (CVE-2018-18074): summary; upgrade to >= 2.20.0`."""
    aliases = f" ({', '.join(hit.advisory.aliases)})" if hit.advisory.aliases else ""
    summary = hit.advisory.summary or "no summary given"
    return f"{hit.requirement.display} is affected by {hit.advisory.id}{aliases}: {summary}; {hit.fix}"


def database_age_days(source: AdvisorySource, now: Optional[datetime] = None) -> Optional[int]:
    """Days since the newest record of an offline database was modified (None: a live API, or no dates)."""
    newest = getattr(source, "newest", None)
    if not isinstance(newest, str):
        return None
    try:
        stamp = datetime.fromisoformat(newest.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return ((now or datetime.now(timezone.utc)) - stamp).days


def source_findings(source: AdvisorySource, policy: Policy) -> Iterator[Finding]:
    """What the source itself is worth: stale, or with records it could not read."""
    age = database_age_days(source)
    limit = policy.advisory_database_max_age_days
    if age is not None and limit and age > limit:
        yield STALE_DATABASE(f"the advisory database {source.description} is {age} days old (its newest record was "
                             f"modified {getattr(source, 'newest', '')}); the policy allows {limit}", CONFIG)
    problems = getattr(source, "problems", ())
    if problems:
        first = problems[0]
        yield BAD_RECORDS(f"{len(problems)} record(s) of {source.description} cannot be used, e.g. {first.member}: "
                          f"{first.message}", CONFIG)


def audit_findings(audit: ProjectAudit, source: AdvisorySource, policy: Policy) -> Iterator[Finding]:
    """The findings of one project's audit, in requirement order."""
    for hit in audit.hits:
        rule = IGNORED if ignored(hit, policy) else VULNERABLE
        yield rule(hit_message(hit), hit.requirement.path, hit.requirement.line or None,
                   f"{hit.fix}; details: {hit.advisory.url}")
    for item in audit.not_auditable:
        yield NOT_AUDITABLE(f"{item.requirement.display} cannot be audited: {item.reason}", item.requirement.path,
                            item.requirement.line or None)
    yield from source_findings(source, policy)


def check(ctx: Context) -> Iterator[Finding]:
    """Audit the requirements when an advisory source is configured; else nothing (offline, no network)."""
    from ..deps.source import configured_source, open_source

    spec = configured_source(ctx.options.osv_db, ctx.options.osv_url)
    if spec is None:
        return
    from ..deps.audit import audit_projects  # matching, only when there is a source to match against

    source = open_source(spec)
    audit = audit_projects([project_input(ctx)], source)[0]
    yield from audit_findings(audit, source, ctx.policy)


RULES = (VULNERABLE, IGNORED, NOT_AUDITABLE, STALE_DATABASE, BAD_RECORDS)
CHECKS = (
    Check("advisories", check, raises=RULES),
)
