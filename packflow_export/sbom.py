"""The SBOM beside the archive: `<archive>.cdx.json`, CycloneDX 1.6 JSON written with CycloneDX's own library.

The project is the main component (name, version, description, license, maintainers, the archive's sha256);
each requirements.txt requirement is a component with its purl and the hashes its lock gives (`--hash`, or a
URL's `#sha256=`). A VCS or URL requirement is not the index's package of that name: its purl carries the
`vcs_url` or `download_url` qualifier (purl spec) and the component a `vcs` or `distribution` reference. When
an advisory source is configured (as for check), known vulnerabilities are listed, each `affects` naming the
bom-refs of the affected components. It is reproducible: the serial number derives from the archive's sha256
and the timestamp is the archive's source date.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .deps.records import ProjectAudit
    from .model.config import ProjectConfig
    from .model.requirements import Requirement, Requirements

VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
HASH_ALGORITHMS = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


def sbom_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".cdx.json")


def build_sbom(config: ProjectConfig, requirements: Requirements, archive_name: str, sha256: str, epoch: int,
               tool_version: str, audit: Optional[ProjectAudit] = None) -> str:
    """The SBOM as CycloneDX 1.6 JSON text."""
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib before 11.x: the only location then, deprecated since
        from cyclonedx.factory.license import LicenseFactory
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalContact, OrganizationalEntity
    from cyclonedx.output.json import JsonV1Dot6

    fields, extra = config.fields, config.extra
    name, version = config.text_field("name") or "", config.text_field("version")
    licenses = [LicenseFactory().make_from_string(extra["license"])] if isinstance(extra.get("license"), str) else []
    maintainers = [OrganizationalContact(email=m) for m in fields.get("maintainers") or [] if isinstance(m, str)]
    organization = extra.get("organization")
    main = Component(
        type=ComponentType.APPLICATION, name=name, version=version, bom_ref=f"packflow:{name}@{version}",
        description=config.text_field("description"), licenses=licenses, authors=maintainers,
        supplier=OrganizationalEntity(name=organization) if isinstance(organization, str) else None,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)],
        properties=[Property(name="packflow:archive", value=archive_name),
                    Property(name="packflow:inference_backend", value=str(fields.get("inference_backend"))),
                    Property(name="packflow:python_version", value=str(fields.get("python_version", "")))])
    tool = Component(type=ComponentType.APPLICATION, name="packflow-export", version=tool_version)
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"sha256:{sha256}"),
              metadata=BomMetaData(component=main, timestamp=datetime.fromtimestamp(epoch, timezone.utc)))
    bom.metadata.tools.components.add(tool)
    components = [_component(item) for item in requirements.items]
    for component in components:
        bom.components.add(component)
    if audit is not None:
        _add_vulnerabilities(bom, requirements, components, audit)
    bom.register_dependency(main, components)
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def _hashes(item: Requirement) -> list[Any]:
    """The requirement's `--hash` values and its URL's `#sha256=` fragment, as CycloneDX hashes (sorted, once)."""
    from cyclonedx.model import HashAlgorithm, HashType

    found = {value.partition(":")[::2] for value in item.hashes if ":" in value}
    fragment = (item.url or "").partition("#")[2]
    for part in fragment.split("&"):
        algorithm, _, digest = part.partition("=")
        if algorithm in HASH_ALGORITHMS and digest:
            found.add((algorithm, digest))
    return [HashType(alg=HashAlgorithm(HASH_ALGORITHMS[alg]), content=digest.lower())
            for alg, digest in sorted(found) if alg in HASH_ALGORITHMS and digest]


def _component(item: Requirement) -> Any:
    """One requirement as a library component: its purl (with vcs_url/download_url when it is a URL), references,
    hashes and where it was listed."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, Property, XsUri
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    from .model.requirements import normalized_name

    normal = normalized_name(item.name)
    qualifiers: dict[str, str] = {}
    references = []
    if item.url:
        location = item.url.partition("#")[0]
        vcs = item.url.startswith(VCS_PREFIXES)
        qualifiers["vcs_url" if vcs else "download_url"] = location
        kind = ExternalReferenceType.VCS if vcs else ExternalReferenceType.DISTRIBUTION
        references.append(ExternalReference(type=kind, url=XsUri(location)))
    purl = PackageURL(type="pypi", name=normal, version=item.version, qualifiers=qualifiers or None)
    properties = [Property(name="packflow:requirement", value=f"{item.path}:{item.line}")]
    if item.marker:
        properties.append(Property(name="packflow:marker", value=item.marker))
    if not item.version and item.specifier:
        properties.append(Property(name="packflow:specifier", value=item.specifier))
    return Component(type=ComponentType.LIBRARY, name=normal, version=item.version, purl=purl,
                     bom_ref=f"pkg:pypi/{normal}{'@' + item.version if item.version else ''}#{item.path}:{item.line}",
                     external_references=references, properties=properties, hashes=_hashes(item))


def _add_vulnerabilities(bom: Any, requirements: Requirements, components: list[Any], audit: ProjectAudit) -> None:
    """One vulnerability per advisory, its `affects` the bom-refs of the components its hits name."""
    from cyclonedx.model import XsUri
    from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
    from cyclonedx.model.vulnerability import (BomTarget, BomTargetVersionRange, Vulnerability,
                                               VulnerabilityReference, VulnerabilitySource)

    by_place = {(item.path, item.line): component for item, component in zip(requirements.items, components,
                                                                             strict=True)}
    advisories: dict[str, list[Any]] = {}
    for hit in audit.hits:
        advisories.setdefault(hit.advisory.id, []).append(hit)
    for identifier in sorted(advisories):
        hits = advisories[identifier]
        advisory = hits[0].advisory
        source = VulnerabilitySource(name="OSV", url=XsUri(advisory.url))
        affects = []
        for hit in hits:
            component = by_place.get((hit.requirement.path, hit.requirement.line))
            if component is not None:
                affects.append(BomTarget(ref=component.bom_ref.value, versions=[BomTargetVersionRange(
                    version=hit.version, status=ImpactAnalysisAffectedStatus.AFFECTED)]))
        fixes = sorted({hit.fix for hit in hits})
        bom.vulnerabilities.add(Vulnerability(
            bom_ref=identifier, id=identifier, source=source, description=advisory.summary or None,
            recommendation="; ".join(fixes), affects=affects,
            references=[VulnerabilityReference(id=alias, source=VulnerabilitySource(
                url=XsUri(f"https://osv.dev/vulnerability/{alias}"))) for alias in advisory.aliases]))


def sbom_audit(requirements: Requirements, python_version: Optional[str], db: Optional[Path] = None,
               osv_url: Optional[str] = None) -> Optional[ProjectAudit]:
    """The audit the SBOM lists, when an advisory source is configured (the options', else the environment's)."""
    from .deps.audit import audit_requirements
    from .deps.records import RequirementRecord
    from .deps.source import configured_source, open_source

    spec = configured_source(db, osv_url)
    if spec is None:
        return None
    records = [RequirementRecord(name=item.name, specifier=item.specifier, marker=item.marker, url=item.url,
                                 path=item.path, line=item.line) for item in requirements.items]
    return audit_requirements(records, open_source(spec), python_version)


def write_sbom(archive: Path, text: str) -> Path:
    """Write the SBOM beside the archive, atomically (a random temporary name, then a rename)."""
    from .fsutil import atomic_write

    return atomic_write(sbom_path(archive), text)
