"""Audit pinned requirements against an advisory source, for one project or an inbox of many.

Which requirements count: a requirement is installed where its environment marker holds, so its marker is
evaluated for the project's `python_version` on every platform a universal lock targets (CPython on Linux
x86_64/aarch64, macOS arm64/x86_64, Windows AMD64/ARM64); it is audited when the marker holds on at least
one of them, because the archive may be installed on any. Without a `python_version`, every CPython from
3.8 to 3.14 is a target. `extra` markers are evaluated as pip does for a requirements file (no extra is
requested). A requirement's own extras (`requests[socks]`) change which other packages install, not its
version, so the package is matched by its name alone. Only `==`/`===` pins name one version: anything else
is reported as not auditable, never silently passed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Optional, Sequence

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

from .database import AdvisorySource, PackageKey
from .records import Hit, Match, NotAudited, ProjectAudit, ProjectInput, RequirementRecord

PLATFORMS = (  # (os_name, sys_platform, platform_system, platform_machine)
    ("posix", "linux", "Linux", "x86_64"),
    ("posix", "linux", "Linux", "aarch64"),
    ("posix", "darwin", "Darwin", "arm64"),
    ("posix", "darwin", "Darwin", "x86_64"),
    ("nt", "win32", "Windows", "AMD64"),
    ("nt", "win32", "Windows", "ARM64"),
)
UNKNOWN_PYTHONS = tuple(f"3.{minor}" for minor in range(8, 15))


def target_environments(python_version: Optional[str]) -> tuple[dict[str, str], ...]:
    """The marker environments a requirement may be installed in: the project's Python on every platform."""
    return _environments(python_version or "")


@lru_cache(maxsize=64)
def _environments(python_version: str) -> tuple[dict[str, str], ...]:
    parts = python_version.split(".")
    if len(parts) >= 2 and all(part.isdigit() for part in parts[:3]):
        minors = [".".join(parts[:2])]
        fulls = {minors[0]: [python_version] if len(parts) >= 3 else [f"{minors[0]}.0", f"{minors[0]}.99"]}
    else:
        minors = list(UNKNOWN_PYTHONS)
        fulls = {minor: [f"{minor}.0", f"{minor}.99"] for minor in minors}
    environments = []
    for minor in minors:
        for full in fulls[minor]:
            for os_name, sys_platform, system, machine in PLATFORMS:
                environments.append({
                    "implementation_name": "cpython", "implementation_version": full, "os_name": os_name,
                    "platform_machine": machine, "platform_python_implementation": "CPython",
                    "platform_release": "", "platform_system": system, "platform_version": "",
                    "python_full_version": full, "python_version": minor, "sys_platform": sys_platform,
                    "extra": ""})
    return tuple(environments)


def installed_somewhere(marker: str, python_version: Optional[str]) -> bool:
    """Whether a marker holds in at least one target environment (an empty marker always does)."""
    if not marker.strip():
        return True
    parsed = Marker(marker)  # InvalidMarker is the caller's to report
    for environment in target_environments(python_version):
        try:
            if parsed.evaluate(dict(environment)):
                return True
        except (UndefinedComparison, UndefinedEnvironmentName):
            continue
    return False


class _Triage:
    """Requirements sorted into the pins to match, the ones not auditable and the ones never installed."""

    def __init__(self) -> None:
        self.pins: list[tuple[RequirementRecord, str]] = []
        self.not_auditable: list[NotAudited] = []
        self.not_installed: list[NotAudited] = []


def triage(requirements: Iterable[RequirementRecord], python_version: Optional[str]) -> _Triage:
    """Sort requirements: pins to match, not auditable (with why), not installed anywhere targeted."""
    result = _Triage()
    for requirement in requirements:
        try:
            installed = installed_somewhere(requirement.marker, python_version)
        except InvalidMarker as exc:
            result.not_auditable.append(NotAudited(requirement, f"its marker cannot be read: {exc}"))
            continue
        if not installed:
            where = f"Python {python_version}" if python_version else "any Python 3.8-3.14"
            result.not_installed.append(NotAudited(
                requirement, f"its marker ({requirement.marker}) is false for {where} on every platform"))
            continue
        version = requirement.pinned_version
        if requirement.url:
            result.not_auditable.append(NotAudited(
                requirement, "a direct URL reference has no version advisories can name; publish it and pin it"))
        elif version is None:
            allowed = requirement.specifier or "any version"
            result.not_auditable.append(NotAudited(
                requirement, f"not pinned to one version ({allowed}); pin it with == (or lock it) to audit it"))
        else:
            result.pins.append((requirement, version))
    return result


def _hits(pins: Sequence[tuple[RequirementRecord, str]], found: dict[PackageKey, tuple[Match, ...]]) -> tuple[Hit, ...]:
    hits = []
    for requirement, version in pins:
        for match in found.get((requirement.key, version), ()):
            hits.append(Hit(requirement, version, match.advisory, match.fixed))
    return tuple(hits)


def audit_requirements(requirements: Iterable[RequirementRecord], source: AdvisorySource,
                       python_version: Optional[str] = None) -> ProjectAudit:
    """Audit one list of requirements; the result is a ProjectAudit without identity (name, version empty)."""
    project = ProjectInput(name="", version="", source="", requirements=tuple(requirements),
                           python_version=python_version)
    return audit_projects([project], source)[0]


def audit_projects(projects: Sequence[ProjectInput], source: AdvisorySource) -> tuple[ProjectAudit, ...]:
    """Audit many projects with one lookup of every distinct pin (one pass over the index, one API batch)."""
    triaged = [triage(project.requirements, project.python_version) for project in projects]
    wanted = {(requirement.key, version) for result in triaged for requirement, version in result.pins}
    found = source.lookup(wanted) if wanted else {}
    audits = []
    for project, result in zip(projects, triaged, strict=True):
        audits.append(ProjectAudit(
            name=project.name, version=project.version, source=project.source, maintainers=project.maintainers,
            python_version=project.python_version, hits=_hits(result.pins, found),
            not_auditable=tuple(result.not_auditable), not_installed=tuple(result.not_installed)))
    return tuple(audits)
