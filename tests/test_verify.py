"""verify.py: an archive proven sound without unpacking it, under the same rules, policy and allowances export used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import ARCHIVE, REPO, cli_json, codes, edit, exported_archive, findings_of, run_cli


@pytest.fixture
def exported(project, tmp_path) -> Path:
    return exported_archive(project, tmp_path)


def test_verify_good_archive(exported):
    code, result = cli_json("verify", exported)
    assert code == 0 and result["ok"] and result["members"] == 10 and result["errors"] == 0
    assert result["provenance"]["tool"].startswith("packflow_export ")
    assert codes(result) == {"PF301", "PF504", "PF411"}  # the same warnings check gives the project
    human = run_cli("verify", exported)
    assert human.returncode == 0 and human.stdout.strip().endswith("10 member(s): verified")


def test_the_verifier_applies_its_own_policy_and_the_recorded_one_only_when_accepted(project, tmp_path):
    """export --policy P exits 0 (P makes PF212 a warning); verify applies the verifier's policy (PF212 stays an
    error, PF909 shows what the archive asks for) unless --accept-recorded-policy or the same --policy."""
    edit(project / "packflow.yaml", "extra:\n", "classification: internal\nextra:\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("severity: {PF212: warning}\n")
    assert run_cli("export", project, "-o", tmp_path / "out").returncode == 1
    archive = exported_archive(project, tmp_path / "out", "--policy", policy)
    code, result = cli_json("verify", archive)
    (shown,) = findings_of(result, "PF909")
    assert code == 1 and findings_of(result, "PF212")[0]["severity"] == "error"
    assert "PF212 error->warning" in shown["message"] and "--accept-recorded-policy" in shown["message"]
    code, result = cli_json("verify", archive, "--accept-recorded-policy")
    assert code == 0, result["findings"]
    assert cli_json("verify", archive, "--policy", policy)[0] == 0
    code, result = cli_json("verify", archive, "--policy", tmp_path / "none.yaml")
    assert code == 2 and result["error"]["code"] == 2


def test_export_with_an_allowed_secret_verifies_only_when_the_verifier_accepts_it(project, tmp_path):
    (project / "tls.key").write_text("harmless test fixture\n")
    archive = exported_archive(project, tmp_path, "--allow-secret", "tls.key")
    code, result = cli_json("verify", archive)
    assert code == 1 and findings_of(result, "PF801")[0]["path"] == "tls.key"
    assert "not applied" in findings_of(result, "PF909")[0]["message"]
    for accept in (("--accept-recorded-policy",), ("--allow-secret", "tls.key")):
        code, result = cli_json("verify", archive, *accept)
        assert code == 0, result["findings"]
        assert {"PF803", "PF909"} <= codes(result)
    with zipfile.ZipFile(archive) as handle:
        assert json.loads(handle.comment)["allowed_secrets"] == ["tls.key"]


def test_an_archive_cannot_switch_off_the_rules_that_would_catch_it(exported, tmp_path):
    """Issue 15 item 1: a member three folders up, a private key, and a comment turning off PF805/801/902/904."""
    from hostile import policy_override_archive

    (tmp_path / "hostile").mkdir()
    hostile = policy_override_archive(exported, tmp_path / "hostile" / exported.name)
    code, result = cli_json("verify", hostile)
    assert code == 1 and {"PF805", "PF801", "PF909"} <= codes(result)
    assert "PF805 error->off" in findings_of(result, "PF909")[0]["message"]
    code, result = cli_json("verify", hostile, "--accept-recorded-policy")
    assert code == 1 and "PF805" in codes(result) and "PF801" not in codes(result)
    assert "the integrity rules PF805" in findings_of(result, "PF909")[0]["message"]


def test_verify_tampered_member_and_checksum(exported):
    data = bytearray(exported.read_bytes())
    offset = data.index(b"requirements.txt") + len("requirements.txt")  # the stored member's data follows its name
    data[offset] ^= 0xFF
    exported.write_bytes(bytes(data))
    code, result = cli_json("verify", exported)
    assert code == 1
    assert {"PF903", "PF907"} <= codes(result)


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
    assert code == 1 and codes(result) == {"PF901"}


def test_verify_name_version_mismatch_and_missing_config(exported, tmp_path):
    renamed = tmp_path / "my_analytic-9.9.9.zip"
    shutil.copy(exported, renamed)
    code, result = cli_json("verify", renamed)
    assert code == 1 and "PF906" in codes(result)
    empty = tmp_path / "x-1.0.zip"
    with zipfile.ZipFile(empty, "w") as handle:
        handle.writestr("README.md", "x\n")
    code, result = cli_json("verify", empty)
    assert code == 1 and any(f["code"] == "PF806" and f["path"] == "packflow.yaml" for f in result["findings"])


def test_verify_missing_archive_is_exit_2(tmp_path):
    result = run_cli("verify", tmp_path / "none.zip")
    assert result.returncode == 2 and "no such archive" in result.stderr


# Crafted archives: what other readers would see differently, or what costs unbounded memory and time -----------

import stat  # noqa: E402
import zlib  # noqa: E402

from packflow_export.archive import zipformat  # noqa: E402

GOOD_YAML = (b'name: "x"\nversion: "1.0"\ndescription: "d"\nmaintainers: ["a@example.org"]\n'
             b'inference_backend: "inference:Backend"\nloader: "local"\npython_version: "3.11"\n')


def member(name, data, method="stored", payload=None, crc=None, size=None, mode=0o644, flags=0, offset=None):
    if payload is None:
        payload = data if method == "stored" else zlib.compress(data, 1)[2:-4]
    return {"name": name.encode(), "payload": payload, "method": 8 if method == "deflated" else 0,
            "crc": zlib.crc32(data) if crc is None else crc, "size": len(data) if size is None else size,
            "mode": stat.S_IFREG | mode if mode < 0o10000 else mode, "flags": flags, "offset": offset}


def craft(path: Path, members: list, prefix: bytes = b"", gap: bytes = b"") -> Path:
    """A zip written record by record, so each field can be wrong on purpose."""
    body, central = bytearray(), []
    for item in members:
        offset = len(body) if item["offset"] is None else item["offset"]
        body += zipformat.local_header(item["name"], item["flags"], item["method"], 0, 33, item["crc"],
                                       len(item["payload"]), item["size"], False)
        body += item["payload"]
        central.append(zipformat.central_entry(item["name"], item["flags"], item["method"], 0, 33, item["crc"],
                                               len(item["payload"]), item["size"], item["mode"], offset))
    body += gap
    directory = b"".join(central)
    path.write_bytes(prefix + bytes(body) + directory +
                     zipformat.end_records(len(central), len(body), len(directory), b""))
    return path


def base_members():
    return [member("packflow.yaml", GOOD_YAML, "deflated"), member("requirements.txt", b"packflow==0.4.1\n"),
            member("inference.py", b"from packflow import InferenceBackend\n\nclass Backend(InferenceBackend):\n"
                                   b"    def execute(self, inputs):\n        return inputs\n", "deflated")]


CRAFTED = {
    "a wrong CRC on packflow.yaml": (lambda m: m[0].update(crc=m[0]["crc"] ^ 1), "PF903"),
    "a stored member whose method says deflate": (lambda m: m[1].update(method=8), "PF903"),
    "an encrypted member": (lambda m: m[1].update(flags=1), "PF904"),
    "a character device": (lambda m: m[1].update(mode=stat.S_IFCHR | 0o644), "PF904"),
    "a setuid member": (lambda m: m[1].update(mode=stat.S_IFREG | 0o4755), "PF904"),
    "a symbolic link": (lambda m: m[1].update(mode=stat.S_IFLNK | 0o777), "PF904"),
    "a hidden tail after a deflate stream": (
        lambda m: m[0].update(payload=zlib.compress(GOOD_YAML, 1)[2:-4] + b"import os; os.system('x')"), "PF903"),
    "a declared size deflate cannot reach": (lambda m: m[0].update(size=(1 << 30)), "PF905"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_archives_are_findings_never_internal_errors(tmp_path, case):
    change, code = CRAFTED[case]
    members = base_members()
    change(members)
    archive = craft(tmp_path / "x-1.0.zip", members)
    status, result = cli_json("verify", archive)
    assert status == 1 and code in codes(result), result["findings"]


def test_a_shell_script_polyglot_is_refused(tmp_path):
    archive = craft(tmp_path / "x-1.0.zip", base_members(), prefix=b"#!/bin/sh\necho run me\nexit 0\n")
    assert subprocess_readable(archive)
    status, result = cli_json("verify", archive)
    assert status == 1 and codes(result) == {"PF902"}
    assert "bytes its records do not account for" in result["findings"][0]["message"]


def subprocess_readable(archive: Path) -> bool:
    """Python's own zipfile accepts it (it adjusts for prepended bytes): verify must not."""
    with zipfile.ZipFile(archive) as handle:
        return handle.testzip() is None


def test_directory_entries_pointing_at_one_member_are_refused_before_inflating(tmp_path):
    big = zlib.compressobj(1, zlib.DEFLATED, -15)
    payload = big.compress(bytes(64 << 20)) + big.flush()
    members = base_members() + [member(f"copy{i}.bin", b"", "deflated", payload=payload, crc=0, size=64 << 20,
                                       offset=0) for i in range(40)]
    archive = craft(tmp_path / "x-1.0.zip", members)
    status, result = cli_json("verify", archive)
    assert status == 1 and "PF902" in codes(result)
    assert "overlaps the one before" in " ".join(f["message"] for f in result["findings"])


@pytest.mark.slow
def test_a_zip_bomb_is_bounded_in_memory_and_refused_past_the_size_cap(tmp_path):
    """packflow.yaml that inflates to 1 GiB: verify reads it in bounded memory; --max-size refuses it outright."""
    from isal import isal_zlib

    compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    payload = b"".join(compressor.compress(zeros) for _ in range(1024)) + compressor.flush()
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    members = [member("packflow.yaml", b"", "deflated", payload=payload, crc=crc, size=1 << 30)] + base_members()[1:]
    archive = craft(tmp_path / "x-1.0.zip", members)
    assert archive.stat().st_size < 4 << 20
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rss = tmp_path / "rss"
    process = subprocess.run([sys.executable, REPO / "benchmarks" / "peak_rss.py", rss, "--", sys.executable, "-m",
                              "packflow_export", "verify", archive, "--json"], env=env, capture_output=True, text=True)
    result = json.loads(process.stdout)
    peak_kib = int(rss.read_text().split()[0])  # the verify process's own peak, not this worker's
    assert process.returncode == 1 and peak_kib < 128 * 1024, peak_kib
    assert any(f["path"] == "packflow.yaml" and "over the 1,048,576-byte limit" in f["message"]
               for f in findings_of(result, "PF104"))
    status, capped = cli_json("verify", archive, "--max-size", "100M")
    assert status == 1 and {f["code"] for f in capped["findings"] if f["severity"] == "error"} == {"PF905"}


# issue 15 item 10: a file that is also a folder ------------------------------------------------------------------

@pytest.mark.parametrize("extra, clash", [
    ([("notes", b"a file\n"), ("notes/a.txt", b"in the folder\n")], "notes is a file and also the folder of notes/a.txt"),
    ([("NOTES", b"a file\n"), ("notes/a.txt", b"in the folder\n")], "(as notes/ on a case-insensitive system)"),
    ([("inference.py/x", b"under a module\n")], "inference.py is a file and also the folder of inference.py/x"),
])
def test_issue15_item_10_a_file_that_is_also_a_folder_is_an_integrity_error(exported, tmp_path, wheelhouse, extra,
                                                                           clash):
    """Before: verify exited 0 and verify --load 70. After: PF910 (an integrity error), exit 1, no load attempted."""
    from hostile import archive_of

    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(exported) as archive:
        archive.extractall(unpacked)
    hostile = archive_of(unpacked, tmp_path / ARCHIVE.replace(".zip", "-x.zip"), extra=extra)
    hostile = hostile.rename(tmp_path / "out" / ARCHIVE) if (tmp_path / "out").mkdir() is None else hostile
    code, result = cli_json("verify", hostile)
    (finding,) = findings_of(result, "PF910")
    assert code == 1 and finding["severity"] == "error" and clash in finding["message"], result["findings"]
    code, result = cli_json("verify", hostile, "--load", "--offline", "--find-links", wheelhouse)
    assert code == 1 and "PF910" in codes(result) and not result.get("phases"), result
