"""Dependencies you can trust over time: OSV advisories matched against pinned requirements, a hash-checked
lock made with uv, and the maintainers of affected projects alerted by email.

A library without rules or output of its own: it takes plain requirement records and gives immutable
results (records.py); phase 2 maps them to findings (PF410-PF429) and renders them. The names below are
imported on first use, so importing the package costs nothing on paths that do not audit.

    records   RequirementRecord, ProjectInput -> ProjectAudit (Hit, NotAudited), errors
    osv       OSV's semantics: ranges, versions lists, the lowest fix
    database  open_database(PATH): OSV's PyPI all.zip or a folder, indexed once
    api       OsvApi(URL): /v1/querybatch + /v1/vulns/{id}
    audit     audit_projects(projects, source), audit_requirements(requirements, source, python_version)
    reqfile   read_requirements_text(text, path): records with their hashes
    lock      lock(project, python_version, options), lock_status(project, python_version)
    notify    notify_smtp(url, audits, dry_run)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RequirementRecord": "records", "ProjectInput": "records", "ProjectAudit": "records", "Hit": "records",
    "NotAudited": "records", "Advisory": "records", "Match": "records", "Severity": "records",
    "DepsError": "records", "AdvisorySourceError": "records", "normalize_name": "records",
    "AdvisoryDatabase": "database", "AdvisorySource": "database", "open_database": "database",
    "OsvApi": "api", "DEFAULT_OSV_URL": "api",
    "audit_projects": "audit", "audit_requirements": "audit",
    "read_requirements_text": "reqfile", "parse_requirement_line": "reqfile",
    "lock": "lock", "lock_status": "lock", "LockOptions": "lock", "LockResult": "lock", "LockStatus": "lock",
    "LockError": "lock", "find_uv": "lock", "hash_problems": "lock",
    "notify_smtp": "notify", "build_alerts": "notify", "Alert": "notify", "Delivery": "notify",
    "NotifyError": "notify",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name's module when it is first used."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
