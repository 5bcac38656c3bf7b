"""release.py and sbom.py: one release command that holds the release rules, bump, and the CycloneDX SBOM."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers import WHEELHOUSE, cli_json, edit, git, git_commit_all, load_yaml, run_cli
from hostile import release_with_hidden_files


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


def _archive(path):
    """(member name -> bytes, provenance) of a written archive."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}, json.loads(archive.comment)


@pytest.mark.slow
def test_issue15_item_8_release_packs_the_tagged_commit_never_what_git_hides(project, tmp_path, wheelhouse):
    """Before: the archive held the excluded file and the assume-unchanged edit, recorded "dirty": false. After: an
    edit git hides is refused by name; once undone, the archive is the commit's files, with commit and tree."""
    committed = (project / "inference.py").read_bytes()
    hidden = release_with_hidden_files(project)
    dist = tmp_path / "dist"
    refused = run_cli("release", project, "--tag", "v0.1.0", "-o", dist, *OFFLINE)
    assert refused.returncode == 1, refused.stderr
    assert "2 tracked file(s) differ from the tagged commit where git status does not look" in refused.stderr
    assert "inference.py (assume-unchanged)" in refused.stderr
    assert "git update-index --no-assume-unchanged inference.py" in refused.stderr and not dist.exists()
    git(project, "update-index", "--no-skip-worktree", "validate.py")
    git(project, "checkout", "--", "validate.py")
    hidden["assume_unchanged"].write_bytes(committed)  # the flag stays, the bytes are the commit's again
    (project / "pulled_in.txt").write_text("excluded by .git/info/exclude\n")
    with open(project / ".git" / "info" / "exclude", "a") as handle:
        handle.write("pulled_in.txt\n")
    code, result = cli_json("release", project, "--tag", "v0.1.0", "-o", dist, *OFFLINE)
    assert code == 0, result
    members, recorded = _archive(dist / "my_analytic-0.1.0.zip")
    tracked = set(git(project, "ls-files").split())
    assert set(members) <= tracked and {"inference.py", "packflow.yaml", "requirements.txt"} <= set(members)
    assert "notes_excluded.txt" not in members and "pulled_in.txt" not in members
    assert members["inference.py"] == committed
    assert recorded["git"] == {"commit": git(project, "rev-parse", "HEAD").strip(),
                               "tree": git(project, "rev-parse", "HEAD^{tree}").strip(), "dirty": False}


def test_issue15_item_8_a_packed_file_that_is_not_the_commits_makes_the_release_dirty(project, tmp_path):
    """dirty is true only when something packed is not what the commit holds (the export of a work tree)."""
    from packflow_export import gittree

    git_commit_all(project, "init")
    repo = gittree.open_repository(project)
    tree = gittree.commit_tree(repo)
    checkout = tmp_path / "checkout"
    written = gittree.materialize(repo, tree, checkout)
    assert (checkout / "inference.py").read_bytes() == (project / "inference.py").read_bytes()
    committed = gittree.CommittedRepo(repo, tree, checkout, written)
    committed.packed = lambda: [("inference.py", str(checkout / "inference.py"))]
    assert committed.changes() == [] and committed.head() == tree.commit
    (checkout / "extra.txt").write_text("added after the checkout\n")
    with open(checkout / "inference.py", "a") as handle:
        handle.write("# edited\n")
    committed.packed = lambda: [("inference.py", str(checkout / "inference.py")),
                                ("extra.txt", str(checkout / "extra.txt"))]
    assert committed.changes() == [" M inference.py", "?? extra.txt"]


def test_issue20_item_8_a_tag_left_behind_gets_the_command_that_works(repository, tmp_path):
    """Before: the hint was `git tag v0.1.0`, which fails (already exists). After: check out the tag, or bump."""
    (repository / "README.md").write_text("a later commit\n")
    git_commit_all(repository, "after the release")
    result = run_cli("release", repository, "--tag", "v0.1.0", "-o", tmp_path / "dist")
    assert result.returncode == 1
    assert "v0.1.0 already exists on commit" in result.stderr and "(git tag v0.1.0)" not in result.stderr
    assert "git checkout v0.1.0" in result.stderr and "bump 0.1.1" in result.stderr and "git tag v0.1.1" in result.stderr
    tagged = subprocess.run(["git", "tag", "v0.1.0"], cwd=repository, capture_output=True, text=True)
    assert tagged.returncode != 0 and "already exists" in tagged.stderr  # the old hint's command fails


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


# issue 15 item 9: bump refuses what it cannot edit safely ----------------------------------------------------------

@pytest.mark.parametrize("written, alias", [
    ('version: &v "0.1.0"', "extra:\n  model_version: *v\n"),
    ('version: *v', None),
    ("version: >-\n  0.1.0", None),
    ("version: |-\n  0.1.0", None),
])
def test_issue15_item_9_bump_refuses_a_version_it_cannot_rewrite_and_changes_nothing(project, written, alias):
    """Before: bump wrote YAML that no longer loads (or holds another version) and exited 0. After: exit 1 naming
    the form, both files unchanged."""
    config = project / "packflow.yaml"
    if written == "version: *v":
        edit(config, 'version: "0.1.0"', 'x_version: &v "0.1.0"\nversion: *v')
    else:
        edit(config, 'version: "0.1.0"', written)
    if alias:
        edit(config, "extra:\n", alias)
    assert str(load_yaml(config)["version"]) == "0.1.0"  # valid before
    before = {name: (project / name).read_bytes() for name in ("packflow.yaml", "MODEL_CARD.md")}
    result = run_cli("bump", "0.2.0", project)
    assert result.returncode == 1 and "cannot be bumped safely" in result.stderr, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert {name: (project / name).read_bytes() for name in before} == before


def test_issue15_item_9_an_anchor_bump_can_rewrite_is_still_written(project):
    """An anchor nobody aliases, or a plain scalar: the edit loads and holds the new version, so it is written."""
    edit(project / "packflow.yaml", 'version: "0.1.0"', 'version: "0.1.0"  # &v in a comment is no anchor')
    assert run_cli("bump", "0.2.0", project).returncode == 0
    assert load_yaml(project / "packflow.yaml")["version"] == "0.2.0"


def test_issue15_item_9_a_latin1_model_card_is_a_clear_refusal(project):
    """Before: exit 70 (internal error). After: exit 1 naming MODEL_CARD.md and its line; nothing written."""
    card = project / "MODEL_CARD.md"
    card.write_bytes(card.read_bytes().replace(b"**Version:**", b"Caf\xe9\n**Version:**", 1))
    before = (project / "packflow.yaml").read_bytes()
    result = run_cli("bump", "0.2.0", project)
    assert result.returncode == 1 and "MODEL_CARD.md line" in result.stderr and "not UTF-8" in result.stderr
    assert (project / "packflow.yaml").read_bytes() == before and b"Caf\xe9" in card.read_bytes()


def test_issue15_item_9_only_the_releases_version_line_moves(project):
    """Before: every **Version:** line was rewritten (history, a dependency's). After: the release's line and the
    date after it; an older entry keeps its version and date."""
    card = project / "MODEL_CARD.md"
    history = "\n## History\n\n**Version:** 0.0.9\n\n**Release Date:** 2026-01-02\n"
    card.write_text(card.read_text() + history)
    result = run_cli("bump", "0.2.0", project, "--date", "2026-11-27")
    assert result.returncode == 0, result.stderr
    text = card.read_text()
    assert text.count("**Version:** 0.2.0") == 1 and text.endswith(history)
    assert "**Release Date:** 2026-11-27" in text and text.count("2026-11-27") == 1
