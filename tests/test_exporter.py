"""exporter.py under hostile trees and faults: what a package needs is never left out, a file swapped or changed
mid-export is never packed, odd trees are findings (never exit 70), writers of one folder take turns, and every
archive export writes is one its own verify accepts. Races are driven by pause points (faults.py), not sleeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from helpers import ARCHIVE, REPO, bake, cli_json, codes, findings_of, run_cli


def start_export(project, out, points: str, *args):
    """An export paused at a named point (PACKFLOW_EXPORT_TEST_POINTS), as a process the test controls."""
    env = dict(os.environ, PYTHONPATH=str(REPO), PACKFLOW_EXPORT_TEST_POINTS=points)
    return subprocess.Popen([sys.executable, "-m", "packflow_export", "export", str(project), "-o", str(out), "--json",
                             *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(marker: Path, process) -> None:
    """Until the process reaches its pause point (it creates the marker there) or ends."""
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists(), process.communicate()


# What the package needs (item 4) --------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["packflowignore packflow.yaml", "packflowignore requirements.txt",
                                  "backend links outside", "backend under build/", "samples ignored"])
def test_export_refuses_to_leave_out_what_the_package_needs(tmp_path, case):
    project = bake(tmp_path / "bake", inference_backend="build.model:Backend" if "build" in case else "inference:Backend")
    if case.startswith("packflowignore"):
        (project / ".packflowignore").write_text(f"# keep it private\n{case.split()[1]}\n")
        expected, words = case.split()[1], f".packflowignore:2: {case.split()[1]}"
    elif case == "backend links outside":
        outside = tmp_path / "shared" / "inference.py"
        outside.parent.mkdir()
        (project / "inference.py").rename(outside)
        (project / "inference.py").symlink_to(outside)
        expected, words = "inference.py", "a link whose target is not packed"
    elif case == "backend under build/":
        expected, words = "build/model.py", "built-in exclusion"
    else:
        (project / ".gitignore").write_text((project / ".gitignore").read_text() + "*.json\n")
        expected, words = "sample_inputs.json", ".gitignore"
    code, result = cli_json("export", project, "-o", tmp_path / "out")
    required = findings_of(result, "PF806")
    assert code == 1 and result["archive"] is None
    assert any(f["path"] == expected and words in f["message"] for f in required), required
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# Export and verify agree (item 5) --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, code", [("a\\b.txt", "x\n", "PF805"), ("NOTES.txt", "twin\n", "PF805")])
def test_names_verify_would_refuse_are_refused_at_export(project, tmp_path, name, content, code):
    (project / "Notes.txt").write_text("original\n")
    (project / name).write_text(content)
    status, result = cli_json("export", project, "-o", tmp_path)
    assert status == 1 and code in codes(result) and result["archive"] is None


def test_an_allowed_certificate_exports_and_verifies(project, tmp_path):
    (project / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert cli_json("export", project, "-o", tmp_path)[0] == 1
    code, result = cli_json("export", project, "-o", tmp_path, "--allow-secret", "ca.pem")
    assert code == 0
    # The verifier does not take the archive's word for it: the allowance is shown (PF909), applied only on request.
    code, verified = cli_json("verify", tmp_path / ARCHIVE)
    assert code == 1 and {"PF801", "PF909"} <= codes(verified), verified["findings"]
    code, verified = cli_json("verify", tmp_path / ARCHIVE, "--accept-recorded-policy")
    assert code == 0 and "PF803" in codes(verified) and "PF801" not in codes(verified), verified["findings"]


# Odd trees (item 7) ----------------------------------------------------------------------------------------------

def test_odd_trees_are_findings_never_internal_errors(project, tmp_path):
    with open(os.fsencode(project) + b"/bad\xff.txt", "wb") as handle:
        handle.write(b"x\n")
    (project / "loop").mkdir()
    (project / "loop" / "self").symlink_to("self")
    deep_levels = make_deep_tree(project / "deep", 1100)  # deeper than Python's recursion limit
    try:
        for args in ((), ("--dry-run",)):
            result = run_cli("export", project, "-o", tmp_path, "--json", *args)
            assert result.returncode == 1, result.stderr
            data = json.loads(result.stdout)
            assert "PF805" in codes(data) and "Traceback" not in result.stderr
        (project / os.fsdecode(b"bad\xff.txt")).unlink()
        code, data = cli_json("export", project, "-o", tmp_path)
        assert code in (0, 1) and "internal error" not in json.dumps(data)
        assert any(f["path"] == "loop/self" and "loops" in f["message"] for f in findings_of(data, "PF802"))
    finally:
        remove_deep_tree(project / "deep", deep_levels)


def make_deep_tree(top: Path, levels: int) -> int:
    """top/d/d/…/d, made one level at a time through descriptors (os.makedirs recurses)."""
    top.mkdir()
    descriptor = os.open(top, os.O_RDONLY)
    for _ in range(levels):
        os.mkdir("d", dir_fd=descriptor)
        inner = os.open("d", os.O_RDONLY, dir_fd=descriptor)
        os.close(descriptor)
        descriptor = inner
    os.close(descriptor)
    return levels


def remove_deep_tree(top: Path, levels: int) -> None:
    """Undo make_deep_tree from the bottom up, so that pytest's clean-up (recursive on Python < 3.12) never sees it."""
    descriptors = [os.open(top, os.O_RDONLY)]
    for _ in range(levels - 1):
        descriptors.append(os.open("d", os.O_RDONLY, dir_fd=descriptors[-1]))
    while descriptors:
        descriptor = descriptors.pop()
        os.rmdir("d", dir_fd=descriptor)
        os.close(descriptor)
    top.rmdir()


# A file changed mid-export is never packed (item 3, 17) --------------------------------------------------------------

@pytest.fixture
def big_project(project):
    """A project with a file larger than one block, which the writer reads again after the scan."""
    (project / "weights.bin").write_bytes(os.urandom(3 << 20))
    return project


@pytest.mark.parametrize("swap, words", [
    ("symlink", "was replaced by a symbolic link"),
    ("fifo", "was replaced by a pipe"),
    ("truncate", "was modified"),
    ("delete", "was deleted"),
])
def test_a_file_swapped_while_being_packed_is_never_packed(big_project, tmp_path, swap, words):
    outside = tmp_path / "shadow"
    outside.write_text("root:$6$secret-hash:19000:0:99999:7:::\n")
    barrier = tmp_path / "go"
    process = start_export(big_project, tmp_path / "out", f"open:weights.bin=wait:{barrier}")
    wait_for(Path(str(barrier) + ".reached"), process)
    target = big_project / "weights.bin"
    if swap == "symlink":
        target.unlink()
        target.symlink_to(outside)
    elif swap == "fifo":
        target.unlink()
        os.mkfifo(target)
    elif swap == "truncate":
        with open(target, "r+b") as handle:
            handle.truncate(1 << 20)
    else:
        target.unlink()
    barrier.touch()
    stdout, stderr = process.communicate(timeout=120)
    result = json.loads(stdout)
    assert process.returncode == 1 and "Traceback" not in stderr
    changed = findings_of(result, "PF808")
    assert changed and changed[0]["path"] == "weights.bin" and words in changed[0]["message"], result["findings"]
    assert result["archive"] is None and list((tmp_path / "out").iterdir()) == []


def test_a_writer_ahead_of_the_scan_waits_for_it_and_reads_no_file_twice(project, tmp_path):
    """The writer reaching a small file the scan thread has not read yet waits for its kept bytes: it never opens
    the file itself (one read per file), and the bytes the scan keeps later are never left behind to stall it."""
    (project / "a-weights.bin").write_bytes(os.urandom(33 << 20))  # enough large content for the scan's thread
    (project / "zz-late.txt").write_bytes(b"scanned late\n" * 100)
    barrier = tmp_path / "go"
    process = start_export(project, tmp_path / "out", f"scan:zz-late.txt=wait:{barrier},open:zz-late.txt=fail:EIO")
    wait_for(Path(str(barrier) + ".reached"), process)
    time.sleep(0.5)  # lets the writer catch up with the paused scan (a slow writer only makes the test weaker)
    barrier.touch()
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, (stdout, stderr)
    with zipfile.ZipFile(tmp_path / "out" / ARCHIVE) as archive:
        assert archive.read("zz-late.txt") == b"scanned late\n" * 100


# Writers of one folder take turns (item 6) -------------------------------------------------------------------------

@pytest.mark.slow
def test_concurrent_exports_each_leave_a_complete_archive(project, tmp_path):
    out = tmp_path / "out"
    barrier = tmp_path / "go"
    first = start_export(project, out, f"locked=wait:{barrier}", "--force")
    wait_for(Path(str(barrier) + ".reached"), first)
    second = start_export(project, out, "", "--force")
    third = start_export(project, out, "")
    barrier.touch()
    results = [(p, *p.communicate(timeout=120)) for p in (first, second, third)]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 0, 3], [(p.returncode, e) for p, _, e in results]
    refused = next(e for p, _, e in results if p.returncode == 3)
    assert "already exists" in refused
    assert sorted(p.name for p in out.iterdir()) == [ARCHIVE, ARCHIVE + ".sha256"]
    assert run_cli("verify", out / ARCHIVE).returncode == 0


# Faults at the end of the write (item 17) ---------------------------------------------------------------------------

def test_disk_full_at_the_sidecar_leaves_nothing(project, tmp_path):
    env = {"PACKFLOW_EXPORT_TEST_POINTS": "sidecar-write=fail:ENOSPC"}
    result = run_cli("export", project, "-o", tmp_path / "out", env=env)
    assert result.returncode == 3 and "No space left on device" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_an_interrupt_during_the_commit_keeps_both_files_and_says_so(project, tmp_path, signum, code, word):
    barrier = tmp_path / "go"
    process = start_export(project, tmp_path / "out", f"commit=wait:{barrier}")
    wait_for(Path(str(barrier) + ".reached"), process)
    process.send_signal(signum)  # held until the archive and its checksum are both in place
    barrier.touch()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    assert f"{word} after" in stderr and "both are complete" in stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [ARCHIVE, ARCHIVE + ".sha256"]
    assert run_cli("verify", tmp_path / "out" / ARCHIVE).returncode == 0


def test_a_planted_link_at_the_sidecars_temporary_name_is_not_followed(project, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (shared / f".{ARCHIVE}.sha256.partial").symlink_to(victim)
    assert run_cli("export", project, "-o", shared).returncode == 0
    assert victim.read_text() == "precious\n"
    assert (shared / (ARCHIVE + ".sha256")).read_text().endswith(f"  {ARCHIVE}\n")


# Secrets in places a person would still call text (item 11) -----------------------------------------------------------

def test_secrets_in_a_pickle_and_inside_a_zip_block_the_export(project, tmp_path):
    import pickle

    token = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    (project / "model.pkl").write_bytes(pickle.dumps({"weights": list(range(2000)), "stripe": token}))
    assert {f["path"] for f in findings_of(cli_json("export", project, "-o", tmp_path)[1], "PF801")} == {"model.pkl"}
    (project / "model.pkl").unlink()
    # numpy's .npz (like torch's .pt and Keras's .keras) is a zip archive: the scan looks inside it
    with zipfile.ZipFile(project / "bundle.npz", "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("config/settings.py", f"KEY = '{token}'\n" * 50)
        bundle.writestr("creds/.env", "A=1\n")
    found = findings_of(cli_json("export", project, "-o", tmp_path)[1], "PF801")
    messages = [f["message"] for f in found]
    assert messages.count("bundle.npz contains in config/settings.py (line 1, line 2, line 3 and 47 more) what looks "
                          "like a Stripe secret or restricted key") == 1, messages
    assert any("bundle.npz holds creds/.env" in message for message in messages), messages
    with zipfile.ZipFile(project / "bundle.npz", "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("notes.txt", "nothing to see\n")
    (project / "sealed.npz").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    # Unreadable as a zip: its content is not scanned (PF807, info), and as a model file it cannot be analysed
    # (PF822, an error: whatever loads it may read what zipfile cannot)
    code, result = cli_json("export", project, "-o", tmp_path)
    assert code == 1 and any(f["path"] == "sealed.npz" for f in findings_of(result, "PF807"))
    assert [f["path"] for f in findings_of(result, "PF822")] == ["sealed.npz"]
