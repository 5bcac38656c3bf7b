"""The SBOM beside the archive: `<archive>.cdx.json`, CycloneDX 1.6 JSON written with CycloneDX's own library.

The project is the main component (name, version, description, license, maintainers, the archive's sha256);
each requirements.txt requirement is a component with its purl. It is reproducible: the serial number derives
from the archive's sha256 and the timestamp is the archive's source date.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model.config import ProjectConfig
    from .model.requirements import Requirements


def sbom_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".cdx.json")


def build_sbom(config: ProjectConfig, requirements: Requirements, archive_name: str, sha256: str, epoch: int,
               tool_version: str) -> str:
    """The SBOM as CycloneDX 1.6 JSON text."""
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib before 11.x: the only location then, deprecated since
        from cyclonedx.factory.license import LicenseFactory
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalContact, OrganizationalEntity
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    from .model.requirements import normalized_name

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
    components = []
    for item in requirements.items:
        normal = normalized_name(item.name)
        purl = PackageURL(type="pypi", name=normal, version=item.version)
        references = ([ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(item.url))]
                      if item.url else [])
        properties = [Property(name="packflow:requirement", value=f"{item.path}:{item.line}")]
        if item.marker:
            properties.append(Property(name="packflow:marker", value=item.marker))
        if not item.version and item.specifier:
            properties.append(Property(name="packflow:specifier", value=item.specifier))
        component = Component(type=ComponentType.LIBRARY, name=normal, version=item.version, purl=purl,
                              bom_ref=f"{purl.to_string()}#{item.path}:{item.line}", external_references=references,
                              properties=properties)
        bom.components.add(component)
        components.append(component)
    bom.register_dependency(main, components)
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def write_sbom(archive: Path, text: str) -> Path:
    """Write the SBOM beside the archive, atomically (a random temporary name, then a rename)."""
    from .fsutil import atomic_write

    return atomic_write(sbom_path(archive), text)
