"""verify.py: an archive proven sound without unpacking it, under the same rules, policy and allowances export used."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import ARCHIVE, cli_json, edit, run_cli


def export(project, out, *args):
    result = run_cli("export", project, "-o", out, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / ARCHIVE


@pytest.fixture
def exported(project, tmp_path) -> Path:
    return export(project, tmp_path)


def codes_of(result) -> set:
    return {f["code"] for f in result["findings"]}


def test_verify_good_archive(exported):
    code, result = cli_json("verify", exported)
    assert code == 0 and result["ok"] and result["members"] == 13 and result["errors"] == 0
    assert result["provenance"]["tool"].startswith("packflow_export ")
    assert codes_of(result) == {"PF301", "PF504"}  # the same warnings check gives the project
    human = run_cli("verify", exported)
    assert human.returncode == 0 and human.stdout.strip().endswith("13 member(s): verified")


def test_export_under_a_policy_verifies_under_it(project, tmp_path):
    """export --policy P exits 0 (P makes PF212 a warning); verify of that archive must exit 0 too."""
    edit(project / "packflow.yaml", "extra:\n", "classification: internal\nextra:\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("severity: {PF212: warning}\n")
    assert run_cli("export", project, "-o", tmp_path / "out").returncode == 1
    archive = export(project, tmp_path / "out", "--policy", policy)
    code, result = cli_json("verify", archive)
    assert code == 0, result["findings"]
    assert "PF909" in codes_of(result)  # says it verified under the recorded policy
    code, result = cli_json("verify", archive, "--policy", tmp_path / "none.yaml")
    assert code == 2 and result["error"]["code"] == 2
    strict = tmp_path / "strict.yaml"
    strict.write_text("severity: {PF212: error}\n")
    assert cli_json("verify", archive, "--policy", strict)[0] == 1


def test_export_with_an_allowed_secret_verifies(project, tmp_path):
    (project / "tls.key").write_text("harmless test fixture\n")
    archive = export(project, tmp_path, "--allow-secret", "tls.key")
    code, result = cli_json("verify", archive)
    assert code == 0, result["findings"]
    assert {"PF803", "PF909"} <= codes_of(result)
    with zipfile.ZipFile(archive) as handle:
        assert json.loads(handle.comment)["allowed_secrets"] == ["tls.key"]


def test_verify_tampered_member_and_checksum(exported):
    data = bytearray(exported.read_bytes())
    offset = data.index(b"requirements.txt") + len("requirements.txt")  # the stored member's data follows its name
    data[offset] ^= 0xFF
    exported.write_bytes(bytes(data))
    code, result = cli_json("verify", exported)
    assert code == 1
    assert {"PF903", "PF907"} <= codes_of(result)


def test_verify_refuses_names_other_systems_mangle(tmp_path, exported):
    evil = tmp_path / "evil" / ARCHIVE
    evil.parent.mkdir()
    with zipfile.ZipFile(exported) as good, zipfile.ZipFile(evil, "w") as bad:
        for info in good.infolist():
            bad.writestr(info, good.read(info))
        bad.writestr("../../escape.sh", "rm -rf ~\n")
        bad.writestr("/etc/passwd", "x\n")
        bad.writestr("dir\\file.txt", "x\n")
        bad.writestr("Readme.md", "case clash\n")
        bad.writestr("creds/.env", "A=1\n")
    code, result = cli_json("verify", evil)
    assert code == 1
    messages = "\n".join(f["message"] for f in result["findings"])
    for words in ("../../escape.sh", "/etc/passwd", "backslash", "differ only in case", "creds/.env looks like a secret"):
        assert words in messages
    assert not (tmp_path / "escape.sh").exists() and not (tmp_path.parent / "escape.sh").exists()


def test_verify_incomplete_archive(exported):
    exported.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    code, result = cli_json("verify", exported)
    assert code == 1 and codes_of(result) == {"PF901"}


def test_verify_name_version_mismatch_and_missing_config(exported, tmp_path):
    renamed = tmp_path / "my_analytic-9.9.9.zip"
    shutil.copy(exported, renamed)
    code, result = cli_json("verify", renamed)
    assert code == 1 and "PF906" in codes_of(result)
    empty = tmp_path / "x-1.0.zip"
    with zipfile.ZipFile(empty, "w") as handle:
        handle.writestr("README.md", "x\n")
    code, result = cli_json("verify", empty)
    assert code == 1 and any(f["code"] == "PF806" and f["path"] == "packflow.yaml" for f in result["findings"])


def test_verify_missing_archive_is_exit_2(tmp_path):
    result = run_cli("verify", tmp_path / "none.zip")
    assert result.returncode == 2 and "no such archive" in result.stderr
