"""Issue 15 items 1-5 end to end: `verify --load` of hostile archives built from a default bake, through the real
CLI, the real bubblewrap and uv; each is refused or contained, and nothing outside the proof's folders changes
(a decoy tree, an unrelated uv environment and its cache, the sealed environment the proofs share)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import BIN, WHEELHOUSE, cli_json, codes, exported_archive, findings_of
from hostile import (INODE_MARKER, LOCAL_FORMS, POISON_MARKER, archive_of, flood_stdout, fork_and_stay,
                     local_requirements, local_source, outside_requirements, poison_pth, policy_override_archive,
                     processes_with, shared_inode, snapshot)

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


def test_a_file_and_folder_clash_stays_an_integrity_error_whatever_the_archive_records(innocent, tmp_path):
    """Item 10 as the load proof sees it: `notes` and `notes/a.txt`, with a recorded policy switching PF910 off.
    Integrity rules ignore recorded policy even when accepted: PF910, exit 1, nothing unpacked or installed."""
    clash = tmp_path / innocent.name
    with zipfile.ZipFile(innocent) as source, zipfile.ZipFile(clash, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("notes", "a file\n")
        target.writestr("notes/a.txt", "in a folder of the same name\n")
        recorded = json.loads(source.comment)
        recorded["policy"] = {"severity": {"PF910": "off"}}
        target.comment = json.dumps(recorded).encode()
    for accept in ((), ("--accept-recorded-policy",)):
        code, result = verify_load(clash, *accept)
        (refused,) = findings_of(result, "PF910")
        assert code == 1 and refused["severity"] == "error" and "notes" in refused["message"], result["findings"]
        assert result["phases"] == []


def site_packages(cache: Path) -> list[Path]:
    return sorted(cache.glob("envs/*/lib/python*/site-packages"))


def test_archive_code_cannot_poison_the_environment_the_next_archive_uses(project, innocent, untouched, tmp_path):
    """Items 2 and 3: a backend that plants a .pth and appends to packflow/__init__.py. Unsandboxed, it changes
    only its own copy of the environment (never uv's cache or another uv environment: --link-mode=copy), and the
    seal sees it: the innocent archive's proof rebuilds and never runs the payload. Sandboxed, it changes nothing."""
    hostile = exported_archive(poison_pth(shared_inode(project)), tmp_path / "hostile")
    cache = tmp_path / "cache"
    env = {"PACKFLOW_EXPORT_CACHE": str(cache), "UV_CACHE_DIR": str(untouched / "uv-cache")}
    code, result = verify_load(hostile, "--sandbox", "off", env=env)
    assert code == 0 and "PF960" in codes(result), result["findings"]
    (site,) = site_packages(cache)
    assert (site / "zz_poison.pth").is_file() and INODE_MARKER in (site / "packflow" / "__init__.py").read_text()
    code, result = verify_load(innocent, env=env)
    (rebuilt,) = findings_of(result, "PF961")
    assert code == 0 and phase(result, "environment")["cached"] is False and phase(result, "check_io")["ok"]
    assert "zz_poison.pth" in rebuilt["message"] and "packflow/__init__.py" in rebuilt["message"]
    assert not (site / "zz_poison.pth").exists() and INODE_MARKER not in (site / "packflow" / "__init__.py").read_text()
    code, result = verify_load(hostile, "--sandbox", "require", env=env)
    assert code == 0 and phase(result, "environment")["cached"] is True
    assert phase(result, "configure")["sandbox"]["sandbox"] == "bwrap"
    code, result = verify_load(innocent, env=env)
    assert code == 0 and phase(result, "environment")["cached"] is True and "PF961" not in codes(result)
    assert not (site / "zz_poison.pth").exists() and POISON_MARKER not in json.dumps(result)


@pytest.mark.parametrize("setsid", [False, True], ids=["fork", "setsid"])
def test_processes_the_archive_starts_die_with_the_proof(project, tmp_path, untouched, setsid):
    """Item 4: a backend that forks a sleeper (in a new session or not); after verify returns none is left."""
    marker = f"packflow-leftover-{tmp_path.name}"
    archive = exported_archive(fork_and_stay(project, marker, setsid), tmp_path / "out")
    code, result = verify_load(archive, "--sandbox", "require")
    assert code == 0 and phase(result, "configure")["sandbox"]["stdout_bytes"] > 0, result["findings"]
    assert processes_with(marker) == []


def test_a_flood_of_output_is_capped_to_its_tail(project, tmp_path, untouched):
    """Item 5: initialize() writes 1.5 GiB to stdout; the proof keeps the tail, writes nothing to disk, and loads."""
    archive = exported_archive(flood_stdout(project), tmp_path / "out")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    code, result = verify_load(archive, "--sandbox", "require", env={"TMPDIR": str(private_tmp)})
    run = phase(result, "configure")["sandbox"]
    assert code == 0 and run["stdout_bytes"] >= 3 << 29 and phase(result, "check_io")["ok"], result["findings"]
    assert len(json.dumps(result)) < 100_000 and list(private_tmp.iterdir()) == []


def test_an_include_outside_the_archive_stops_the_proof_and_is_never_printed(project, tmp_path):
    """Item 6: `-r /outside/file`: PF407, and the proof installs nothing (PF416); the outside file's first line
    appears nowhere in the report."""
    outside = tmp_path / "outside" / "secrets.txt"
    outside.parent.mkdir()
    outside.write_text("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    archive = archive_of(outside_requirements(project, outside), tmp_path / "my_analytic-0.1.0.zip")
    code, result = verify_load(archive)
    assert code == 1 and {"PF407", "PF416"} <= codes(result) and "PF951" not in codes(result)
    assert result["phases"] == [] and "wJalrXUtnFEMI" not in json.dumps(result)


@pytest.mark.parametrize("form", sorted(LOCAL_FORMS))
def test_requirements_from_the_local_machine_stop_the_proof_before_any_install(project, tmp_path, form):
    """Item 7: each local index or URL form is PF405 and the proof installs nothing: evilpkg never imports."""
    source = local_source(tmp_path / "local")
    archive = archive_of(local_requirements(project, form, source), tmp_path / "my_analytic-0.1.0.zip")
    code, result = verify_load(archive)
    (refused,) = findings_of(result, "PF416")
    assert code == 1 and "PF405" in codes(result) and refused["line"] in (1, 2) and result["phases"] == []


def test_the_installers_explanation_is_in_the_install_failure(project, tmp_path):
    """Issue 20 item 7: not only uv's "No solution found" but its reason: which package, which version."""
    (project / "requirements.txt").write_text("packflow==0.4.1\nno-such-distribution-anywhere==1.0\n")
    code, result = verify_load(exported_archive(project, tmp_path))
    (failed,) = findings_of(result, "PF951")
    assert code == 1 and "No solution found" in failed["message"], failed
    assert "Because no-such-distribution-anywhere was not found" in failed["message"], failed


def tampered_copy(wheelhouse: Path, folder: Path, name: str) -> Path:
    """A copy of the wheelhouse whose wheel `name`-* holds one more file (its name and version unchanged)."""
    shutil.copytree(wheelhouse, folder)
    (wheel,) = folder.glob(f"{name}-*.whl")
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("annotated_types/backdoor.py", "print('tampered')\n")
    return folder


def test_hashes_are_required_and_a_tampered_wheel_fails_the_proof(project, tmp_path):
    """Issue 18: requirements.txt locked with hashes (uv pip compile --generate-hashes against the wheelhouse)
    installs with --require-hashes; the same wheelhouse with one wheel changed fails the proof with PF417."""
    lock = subprocess.run([str(BIN / "uv"), "pip", "compile", "-", "--generate-hashes", "--offline", "--no-index",
                           "--find-links", str(WHEELHOUSE), "--python-version", "{}.{}".format(*sys.version_info[:2]),
                           "--no-header", "-q"], input="packflow==0.4.1\n", capture_output=True, text=True,
                          check=True, timeout=120).stdout
    assert "annotated-types==" in lock and "--hash=sha256:" in lock
    (project / "requirements.txt").write_text(lock)
    archive = exported_archive(project, tmp_path / "out")
    tampered = tampered_copy(WHEELHOUSE, tmp_path / "tampered", "annotated_types")
    code, result = cli_json("verify", archive, "--load", "--offline", "--find-links", tampered, "--no-cache",
                            timeout=600)
    (mismatch,) = findings_of(result, "PF417")
    assert code == 1 and "annotated" in mismatch["message"] and "--require-hashes" in mismatch["message"], mismatch
    assert phase(result, "environment")["require_hashes"] is True
    code, result = cli_json("verify", archive, "--load", "--offline", "--find-links", WHEELHOUSE, "--no-cache",
                            timeout=600)
    assert code == 0 and phase(result, "environment")["require_hashes"] is True, result["findings"]
