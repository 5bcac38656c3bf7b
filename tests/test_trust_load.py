"""Issue 15 items 1-5 end to end: `verify --load` of hostile archives built from a default bake, through the real
CLI, the real bubblewrap and uv; each is refused or contained, and nothing outside the proof's folders changes
(a decoy tree, an unrelated uv environment and its cache, the sealed environment the proofs share)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from helpers import BIN, WHEELHOUSE, cli_json, codes, exported_archive, findings_of
from hostile import (INODE_MARKER, POISON_MARKER, flood_stdout, fork_and_stay, outcomes, poison_pth,
                     policy_override_archive, processes_with, shared_inode, snapshot)

pytest_plugins = ["trust_fixtures"]  # bystanders: a decoy tree and an unrelated uv environment with its cache
pytestmark = pytest.mark.slow


def verify_load(archive: Path, *args, env=None):
    """verify --load from the offline wheelhouse, in the session's shared environment cache."""
    on_path = {"PATH": str(BIN) + os.pathsep + os.environ["PATH"], **(env or {})}
    return cli_json("verify", archive, "--load", "--offline", "--find-links", WHEELHOUSE, *args, env=on_path,
                    timeout=600)


def phase(result, name) -> dict:
    return next(p for p in result["phases"] if p["phase"] == name)


@pytest.fixture(scope="session")
def innocent(default_bake, tmp_path_factory) -> Path:
    """The default bake's archive: the innocent one a poisoned environment would attack next."""
    return exported_archive(default_bake, tmp_path_factory.mktemp("innocent"))


@pytest.fixture
def untouched(bystanders):
    """The decoy tree, the unrelated uv environment and its uv cache: compared after the test, none may change."""
    before = snapshot(bystanders)
    yield bystanders
    assert snapshot(bystanders) == before


def test_the_recorded_policy_cannot_let_the_load_proof_write_outside(exported_hostile, tmp_path):
    """Item 1: the archive with `../../../victims/x.txt` and a comment switching off the rules that catch it."""
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    for accept in ((), ("--accept-recorded-policy",)):
        code, result = verify_load(exported_hostile, *accept, env={"TMPDIR": str(deep)})
        assert code == 1 and "PF805" in codes(result) and result["phases"] == []
    assert not (tmp_path / "a" / "victims").exists() and list(deep.iterdir()) == []


@pytest.fixture
def exported_hostile(project, tmp_path) -> Path:
    clean = exported_archive(project, tmp_path / "clean")
    (tmp_path / "hostile").mkdir()
    return policy_override_archive(clean, tmp_path / "hostile" / clean.name)


def test_a_file_and_folder_clash_is_a_finding_not_an_internal_error(innocent, tmp_path):
    """Item 10 as the load proof sees it: `notes` and `notes/a.txt` in one archive; unpack.py refuses it."""
    clash = tmp_path / innocent.name
    with zipfile.ZipFile(innocent) as source, zipfile.ZipFile(clash, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("notes", "a file\n")
        target.writestr("notes/a.txt", "in a folder of the same name\n")
        target.comment = source.comment
    code, result = verify_load(clash)
    (refused,) = findings_of(result, "PF959")
    assert code == 1 and refused["path"] == "notes" and "both a file and a folder" in refused["message"]
    assert [p["phase"] for p in result["phases"]] == ["extract"] and phase(result, "extract")["ok"] is False
