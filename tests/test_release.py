"""release.py and sbom.py: one release command that holds the release rules, bump, and the CycloneDX SBOM."""

from __future__ import annotations

import json

import pytest

from helpers import WHEELHOUSE, cli_json, edit, git, git_commit_all, load_yaml, run_cli


@pytest.fixture
def repository(project):
    """The default bake as a clean git checkout tagged v0.1.0."""
    git_commit_all(project, "init")
    git(project, "tag", "v0.1.0")
    return project


OFFLINE = ("--offline", "--find-links", WHEELHOUSE)


# release -----------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_release_writes_archive_checksum_and_sbom_and_proves_the_load(repository, tmp_path, wheelhouse):
    code, result = cli_json("release", repository, "--tag", "v0.1.0", "-o", tmp_path / "dist", *OFFLINE)
    assert code == 0, result["findings"]
    archive = tmp_path / "dist" / "my_analytic-0.1.0.zip"
    assert result["archive"]["path"] == str(archive) and result["sbom"] == str(archive) + ".cdx.json"
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [
        "my_analytic-0.1.0.zip", "my_analytic-0.1.0.zip.cdx.json", "my_analytic-0.1.0.zip.sha256"]
    assert [p["phase"] for p in result["phases"]][-1] == "check_io"
    text = run_cli("release", repository, "--tag", "v0.1.0", "-o", tmp_path / "dist", "--force", *OFFLINE)
    assert text.returncode == 0
    for name in ("my_analytic-0.1.0.zip", "my_analytic-0.1.0.zip.sha256", "my_analytic-0.1.0.zip.cdx.json"):
        assert str(tmp_path / "dist" / name) in text.stdout


@pytest.mark.parametrize("prepare, tag, words", [
    (None, "v0.2.0", "tag 'v0.2.0' does not match packflow.yaml's version 0.1.0: the release tag must be v0.1.0"),
    (None, "0.1.0", "the release tag must be v0.1.0"),
    ("untag", "v0.1.0", "HEAD is not tagged v0.1.0"),
    ("dirty", "v0.1.0", "the work tree has 1 uncommitted change(s), e.g. README.md"),
    ("untracked", "v0.1.0", "e.g. notes.txt"),
    ("no git", "v0.1.0", "is not in a git checkout with a commit"),
    ("fsmonitor", "v0.1.0", "sets core.fsmonitor, which can make git run a program"),
])
def test_release_refuses_the_wrong_tag_or_tree_with_a_clear_message(repository, tmp_path, prepare, tag, words):
    import shutil

    if prepare == "untag":
        git(repository, "tag", "-d", "v0.1.0")
    elif prepare == "dirty":
        (repository / "README.md").write_text("changed after the tag\n")
    elif prepare == "untracked":
        (repository / "notes.txt").write_text("new\n")
    elif prepare == "no git":
        shutil.rmtree(repository / ".git")
    elif prepare == "fsmonitor":
        git(repository, "config", "core.fsmonitor", "true")
    result = run_cli("release", repository, "--tag", tag, "-o", tmp_path / "dist")
    assert result.returncode == 1 and words in result.stderr, result.stderr
    assert not (tmp_path / "dist").exists()
    code, data = cli_json("release", repository, "--tag", tag, "-o", tmp_path / "dist")
    assert code == 1 and words in data["error"]["message"]


# bump ---------------------------------------------------------------------------------------------------------------

def test_bump_keeps_comments_and_quoting_and_updates_the_model_card(project):
    before = (project / "packflow.yaml").read_text()
    result = run_cli("bump", "0.2.0", project, "--date", "2026-11-27")
    assert result.returncode == 0, result.stderr
    after = (project / "packflow.yaml").read_text()
    assert after == before.replace('version: "0.1.0"', 'version: "0.2.0"')
    card = (project / "MODEL_CARD.md").read_text()
    assert "**Version:** 0.2.0" in card and "**Release Date:** 2026-11-27" in card
    assert "git tag v0.2.0" in result.stdout and 'git commit -m "Release 0.2.0"' in result.stdout
    code, report = cli_json("check", project)
    assert "PF302" not in {f["code"] for f in report["findings"]}


@pytest.mark.parametrize("written, expected", [("version: '0.1.0'  # quoted once", "version: '1.0'  # quoted once"),
                                               ("version: 0.1.0", 'version: "1.0"'),
                                               ("version: 0.1.0", None)])
def test_bump_writes_the_version_as_it_was_written(project, written, expected):
    edit(project / "packflow.yaml", 'version: "0.1.0"', written)
    new = "1.0" if expected else "2.0.0"
    assert run_cli("bump", new, project).returncode == 0
    assert (expected or "version: 2.0.0") in (project / "packflow.yaml").read_text()
    assert load_yaml(project / "packflow.yaml")["version"] == new


@pytest.mark.parametrize("version, code, words", [
    ("0.1.0", 1, "0.1.0 is not greater than the current version 0.1.0"),
    ("0.0.9", 1, "is not greater"),
    ("one", 2, "is not a PEP 440 version"),
    ("v0.2", 2, "normal form; write it as '0.2'"),
])
def test_bump_refuses_and_writes_nothing(project, version, code, words):
    before = {name: (project / name).read_bytes() for name in ("packflow.yaml", "MODEL_CARD.md")}
    result = run_cli("bump", version, project)
    assert result.returncode == code and words in result.stderr
    assert {name: (project / name).read_bytes() for name in before} == before
    assert not list(project.glob(".*.partial"))


# SBOM ---------------------------------------------------------------------------------------------------------------

def test_sbom_is_valid_cyclonedx_1_6_and_describes_the_release(project, tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    (project / "requirements.txt").write_text("packflow==0.4.1\nnumpy==2.1.0 ; python_version >= '3.10'\n"
                                              "helper @ https://example.org/helper-1.0.tar.gz\n")
    code, result = cli_json("export", project, "-o", tmp_path, "--sbom")
    assert code == 0, result["findings"]
    text = (tmp_path / "my_analytic-0.1.0.zip.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    sbom = json.loads(text)
    main = sbom["metadata"]["component"]
    assert sbom["specVersion"] == "1.6" and main["name"] == "my-analytic" and main["version"] == "0.1.0"
    assert main["hashes"] == [{"alg": "SHA-256", "content": result["archive"]["sha256"]}]
    config = load_yaml(project / "packflow.yaml")  # the template's defaults
    assert main["licenses"] == [{"license": {"id": config["extra"]["license"]}}]
    assert main["authors"] == [{"email": address} for address in config["maintainers"]]
    purls = sorted(c.get("purl") for c in sbom["components"])
    assert purls == ["pkg:pypi/helper?download_url=https://example.org/helper-1.0.tar.gz", "pkg:pypi/numpy@2.1.0",
                     "pkg:pypi/packflow@0.4.1"]  # a URL requirement is not the index's package (issue 15 item 16)
    again = tmp_path / "again"
    assert run_cli("export", project, "-o", again, "--sbom").returncode == 0
    assert (again / "my_analytic-0.1.0.zip.cdx.json").read_text() == text  # reproducible


def test_proprietary_license_is_named_not_an_spdx_id(tmp_path):
    from helpers import bake

    project = bake(tmp_path / "bake", license="Proprietary")
    assert run_cli("export", project, "-o", tmp_path / "out", "--sbom").returncode == 0
    sbom = json.loads((tmp_path / "out" / "my_analytic-0.1.0.zip.cdx.json").read_text())
    assert sbom["metadata"]["component"]["licenses"] == [{"license": {"name": "Proprietary"}}]
