"""The SBOM beside an archive (issue 15 item 16, issue 18): a VCS or URL requirement is not the index's package of
that name, so its purl carries `vcs_url` / `download_url` (purl spec) and its component a `vcs` / `distribution`
reference, never a bare `pkg:pypi/name`; the hashes a lock gives are the components'; known vulnerabilities
point at the bom-refs of the components they affect. Every SBOM is validated against CycloneDX 1.6."""

from __future__ import annotations

import json
from pathlib import Path

from deps_support import osv_subset
from helpers import ARCHIVE, cli_json

A, B, C = "a" * 64, "b" * 64, "c" * 64


def exported_sbom(project: Path, out: Path, *args) -> dict:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    code, result = cli_json("export", project, "-o", out, "--sbom", *args)
    assert code == 0, result.get("findings") or result
    text = (out / f"{ARCHIVE}.cdx.json").read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    return json.loads(text)


def test_vcs_and_url_requirements_keep_their_source_in_purl_and_references(project, tmp_path):
    # Before: both were `pkg:pypi/mylib` and `pkg:pypi/helper`, a different package (the index's), no reference.
    (project / "requirements.txt").write_text(
        "packflow==0.4.1\nmylib @ git+https://github.com/org/mylib@main\n"
        f"helper @ https://example.org/helper-1.0.tar.gz#sha256={A}\n", encoding="utf-8")
    sbom = exported_sbom(project, tmp_path)
    components = {item["name"]: item for item in sbom["components"]}
    mylib, helper = components["mylib"], components["helper"]
    assert mylib["purl"] == "pkg:pypi/mylib?vcs_url=git%2Bhttps://github.com/org/mylib%40main"
    assert mylib["externalReferences"] == [{"type": "vcs", "url": "git+https://github.com/org/mylib@main"}]
    assert helper["purl"] == "pkg:pypi/helper?download_url=https://example.org/helper-1.0.tar.gz"
    assert helper["externalReferences"] == [{"type": "distribution",
                                             "url": "https://example.org/helper-1.0.tar.gz"}]
    assert helper["hashes"] == [{"alg": "SHA-256", "content": A}]
    assert components["packflow"]["purl"] == "pkg:pypi/packflow@0.4.1" and "hashes" not in components["packflow"]
    assert not {item["purl"] for item in sbom["components"]} & {"pkg:pypi/mylib", "pkg:pypi/helper"}


def test_component_hashes_come_from_the_lock(project, tmp_path):
    (project / "requirements.txt").write_text(
        f"packflow==0.4.1 --hash=sha256:{A}\nnumpy==2.1.0 --hash=sha256:{C} --hash=sha256:{B}\n", encoding="utf-8")
    sbom = exported_sbom(project, tmp_path)
    hashes = {item["name"]: item.get("hashes") for item in sbom["components"]}
    assert hashes == {"packflow": [{"alg": "SHA-256", "content": A}],
                      "numpy": [{"alg": "SHA-256", "content": B}, {"alg": "SHA-256", "content": C}]}


def test_known_vulnerabilities_affect_the_right_components(project, tmp_path):
    (project / "requirements.txt").write_text("packflow==0.4.1\nrequests==2.19.0\npyyaml==5.3\nnumpy==2.1.0\n",
                                              encoding="utf-8")
    policy = tmp_path / "lenient.yaml"  # PF420 would block the export: lowered to see what the SBOM lists
    policy.write_text("severity: {PF420: warning}\nadvisory_database_max_age_days: 0\n", encoding="utf-8")
    sbom = exported_sbom(project, tmp_path / "out", "--policy", policy, "--db", osv_subset())
    refs = {item["name"]: item["bom-ref"] for item in sbom["components"]}
    affects = {item["id"]: [target["ref"] for target in item["affects"]] for item in sbom["vulnerabilities"]}
    assert affects == {"PYSEC-2018-28": [refs["requests"]], "PYSEC-2023-74": [refs["requests"]],
                       "PYSEC-2020-96": [refs["pyyaml"]], "PYSEC-2021-142": [refs["pyyaml"]]}
    first = next(item for item in sbom["vulnerabilities"] if item["id"] == "PYSEC-2018-28")
    assert first["source"] == {"name": "OSV", "url": "https://osv.dev/vulnerability/PYSEC-2018-28"}
    assert first["recommendation"] == "upgrade to >= 2.20.0"
    assert {item["id"] for item in first["references"]} == {"CVE-2018-18074", "GHSA-x84v-xcm2-53pg"}
    assert first["affects"][0]["versions"] == [{"version": "2.19.0", "status": "affected"}]
    plain = exported_sbom(project, tmp_path / "plain", "--policy", policy)  # no source configured: none listed
    assert "vulnerabilities" not in plain
