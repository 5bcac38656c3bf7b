"""sandbox.py: the load proof's code runs under the real bubblewrap, in the real sealed environment, and every
attack of issue 15 (items 2-5, and the network) is contained; after each run nothing outside it has changed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from helpers import REPO
from hostile import (INODE_MARKER, POISON_MARKER, Listener, attack, connect_out, flood_stdout, fork_and_stay,
                     outcomes, poison_pth, processes_with, shared_inode, snapshot, write_outside)
from packflow_export import envcache, sandbox

pytest_plugins = ["trust_fixtures"]  # the fixtures: bwrap_choice, proof_env, bystanders

pytestmark = pytest.mark.slow
RUNNER = REPO / "packflow_export" / "_load_runner.py"


def prove(project: Path, environment: Path, choice, **limits) -> sandbox.RunResult:
    """The load proof's runner on an unpacked project, as phase 2's load.py will run it."""
    spec = sandbox.proof_spec(environment, project, [str(RUNNER), str(project), sandbox.CHANNEL],
                              sandbox.Limits(**{"timeout": 120, **limits}), read_only=[RUNNER])
    return sandbox.run(spec, choice)


def _seal(environment: Path) -> envcache.Seal:
    seal = envcache.read_seal(environment.with_name(environment.name + envcache.SEAL_SUFFIX))
    assert seal is not None
    return seal


def records(result: sandbox.RunResult) -> list:
    return [json.loads(line) for line in result.channel.decode().splitlines() if line.startswith("{")]


def loaded(result: sandbox.RunResult) -> bool:
    """Whether the runner reached check_io and it passed."""
    return any(r.get("phase") == "check_io" and r.get("event") == "end" and r.get("ok") for r in records(result))


@pytest.fixture
def untouched(bystanders, proof_env):
    """Snapshots of the decoy tree, the unrelated uv environment and its cache, and the sealed environment's
    seal check, compared after the test: none may change."""
    before = snapshot(bystanders)
    yield bystanders
    assert snapshot(bystanders) == before
    assert envcache.check_seal(proof_env, _seal(proof_env)).ok


def test_the_default_bake_loads_in_the_sandbox_and_the_record_says_so(project, proof_env, bwrap_choice, untouched):
    result = prove(project, proof_env, bwrap_choice)
    assert result.returncode == 0 and loaded(result), (result.stderr.text(), records(result))
    record = result.as_dict()
    assert record["sandbox"] == "bwrap" and record["network"] is False and record["mode"] == "require"
    assert record["memory_bytes"] == sandbox.Limits().memory_bytes and record["tmp_bytes"] == 512 << 20


def test_a_planted_pth_cannot_be_written_so_an_innocent_archive_never_runs_it(project, default_bake, proof_env,
                                                                             bwrap_choice, untouched):
    result = prove(poison_pth(project), proof_env, bwrap_choice)
    assert outcomes(result.stdout.text())["poison-pth"] == "OSError errno 30"  # EROFS: the environment is read-only
    assert loaded(result)
    site = next(proof_env.glob("lib/python*/site-packages"))
    assert not (site / "zz_poison.pth").exists()
    assert envcache.check_seal(proof_env, _seal(proof_env), full=True).ok
    innocent = prove(default_bake, proof_env, bwrap_choice)
    assert loaded(innocent) and POISON_MARKER not in innocent.stderr.text() + innocent.stdout.text()


def test_without_the_sandbox_the_pth_is_planted_and_the_seal_catches_it(project, proof_env, tmp_path, untouched):
    """The control: the same recipe unsandboxed poisons a copy of the environment; the seal check sees it."""
    copy = Path(shutil.copytree(proof_env, tmp_path / "env-copy", symlinks=True))
    seal = envcache.seal_environment(copy)
    result = prove(poison_pth(project), copy, sandbox.choose_sandbox("off"))
    assert outcomes(result.stdout.text())["poison-pth"].startswith("written ")
    check = envcache.check_seal(copy, seal)
    assert not check.ok and [path.rsplit("/", 1)[-1] for path in check.added] == ["zz_poison.pth"]
    innocent = prove(project, copy, sandbox.choose_sandbox("off"))
    assert POISON_MARKER in innocent.stderr.text()


def test_the_shared_inode_edit_cannot_happen(project, proof_env, bystanders, bwrap_choice, untouched):
    result = prove(shared_inode(project), proof_env, bwrap_choice)
    assert outcomes(result.stdout.text())["shared-inode"] == "OSError errno 30"
    # Copy mode: no file of the sealed environment shares its inode with anything (uv's cache included) ...
    shared = [path for path in proof_env.rglob("*") if path.is_file() and not path.is_symlink()
              and path.stat().st_nlink > 1]
    assert shared == []
    # ... whereas uv's default hardlinks the bystander's packflow to its cache: the hazard the copy avoids.
    bystander_init = next(bystanders.glob("unrelated-env/lib/python*/site-packages/packflow/__init__.py"))
    assert bystander_init.stat().st_nlink > 1
    assert INODE_MARKER.encode() not in bystander_init.read_bytes()
    assert envcache.check_seal(proof_env, _seal(proof_env), full=True).ok


@pytest.mark.parametrize("setsid", [False, True], ids=["fork", "fork-setsid"])
def test_processes_the_archive_starts_die_with_the_proof(project, proof_env, bwrap_choice, setsid, untouched):
    marker = f"packflow-trust-marker-{os.getpid()}-{time.monotonic_ns()}"
    result = prove(fork_and_stay(project, marker, setsid), proof_env, bwrap_choice)
    assert outcomes(result.stdout.text())["fork"].startswith("forked ") and loaded(result)
    assert processes_with(marker) == []


def test_without_the_sandbox_a_setsid_process_outlives_the_proof(project, proof_env, untouched):
    """The control: unsandboxed, the process-group kill cannot reach a process in a new session."""
    marker = f"packflow-trust-marker-{os.getpid()}-{time.monotonic_ns()}"
    prove(fork_and_stay(project, marker, True), proof_env, sandbox.choose_sandbox("off"))
    survivors = processes_with(marker)
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert survivors


def test_a_hanging_backend_and_its_children_are_killed_at_the_timeout(project, proof_env, bwrap_choice, untouched):
    marker = f"packflow-trust-marker-{os.getpid()}-{time.monotonic_ns()}"
    fork_and_stay(project, marker, True)
    attack(project, "hang", "import time\ntime.sleep(3600)\noutcome = 'woke'")
    result = prove(project, proof_env, bwrap_choice, timeout=2)
    assert result.timed_out and result.returncode is None and result.seconds < 30
    assert processes_with(marker) == []


def test_a_flood_of_output_is_cut_to_its_tail_without_touching_the_disk(project, proof_env, bwrap_choice, untouched):
    total = 3 << 29  # 1.5 GiB
    result = prove(flood_stdout(project, total), proof_env, bwrap_choice)
    assert result.returncode == 0 and loaded(result)
    assert result.stdout.total >= total and len(result.stdout.tail) == sandbox.TAIL_BYTES
    assert result.stdout.dropped == result.stdout.total - sandbox.TAIL_BYTES
    assert set(result.stdout.tail[:1024]) <= set(b"x\n") or b"ATTACK" in result.stdout.tail


def test_a_flood_can_stop_the_run(project, proof_env, bwrap_choice, untouched):
    result = prove(flood_stdout(project, 3 << 29), proof_env, bwrap_choice, stop_after_output_bytes=64 << 20)
    assert result.output_stopped and result.returncode is None
    assert 64 << 20 <= result.stdout.total + result.stderr.total < 1 << 30


def test_no_network_inside(project, proof_env, bwrap_choice, untouched):
    listener = Listener()
    try:
        result = prove(connect_out(project, listener.port), proof_env, bwrap_choice)
        assert outcomes(result.stdout.text())["network"] == "ConnectionRefusedError errno 111"
        assert listener.accepted() == 0
        control = prove(project, proof_env, sandbox.choose_sandbox("off"))  # same recipe, unsandboxed
        assert outcomes(control.stdout.text())["network"] == "connected" and listener.accepted() == 1
    finally:
        listener.close()


def test_nothing_outside_can_be_written(project, proof_env, bystanders, bwrap_choice, untouched):
    result = prove(write_outside(project, bystanders / "victims" / "x.txt"), proof_env, bwrap_choice)
    assert outcomes(result.stdout.text())["write-outside"] == "FileNotFoundError errno 2"  # not even visible
    project_file = project / "sample_inputs.json"
    attack(project, "write-project", f"open({str(project_file)!r}, 'a').write('x')\noutcome = 'written'")
    assert outcomes(prove(project, proof_env, bwrap_choice).stdout.text())["write-project"] == "OSError errno 30"


def test_memory_is_capped(project, proof_env, bwrap_choice, untouched):
    attack(project, "memory", "block = bytearray(3 << 30)\noutcome = 'allocated'")
    result = prove(project, proof_env, bwrap_choice, memory_bytes=2 << 30)
    failed = [r for r in records(result) if r.get("phase") == "initialize" and r.get("event") == "end"]
    assert failed and failed[0]["ok"] is False and failed[0]["error"]["type"] == "MemoryError"


def test_the_child_sees_only_the_variables_it_is_given(project, proof_env, bwrap_choice, monkeypatch, untouched):
    for name in ("UV_CACHE_DIR", "XDG_CACHE_HOME", "PIP_INDEX_URL", "PYTHONPATH", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "/leaked")
    attack(project, "environ", "outcome = ' '.join(sorted(os.environ))")
    result = prove(project, proof_env, bwrap_choice)
    seen = set(outcomes(result.stdout.text())["environ"].split())
    assert seen <= {"HOME", "LANG", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE", "TEMP", "TMP",
                    "TMPDIR", "LC_CTYPE"}, seen
    attack(project, "identity", "outcome = open('/etc/passwd').read() + str(len(os.listdir('/etc')))")
    text = outcomes(prove(project, proof_env, bwrap_choice).stdout.text())["identity"]
    assert text.startswith("sandbox:x:") and "root:" not in text


def test_the_private_tmp_is_capped(project, proof_env, bwrap_choice, untouched):
    attack(project, "tmp", "open('/tmp/big', 'wb').write(b'x' * (64 << 20))\noutcome = 'written'")
    result = prove(project, proof_env, bwrap_choice, tmp_bytes=16 << 20)
    assert outcomes(result.stdout.text())["tmp"] == "OSError errno 28"  # ENOSPC: the tmpfs is full


# The decision: auto, require, off -------------------------------------------------------------------------


@pytest.fixture
def fresh_probe():
    sandbox._probe.cache_clear()
    yield
    sandbox._probe.cache_clear()


def test_require_refuses_and_auto_says_so_when_bwrap_is_missing(monkeypatch, tmp_path, fresh_probe):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sandbox.sandbox_available() == (False, "bwrap is not on PATH (Debian/Ubuntu package: bubblewrap)")
    with pytest.raises(sandbox.SandboxRequired, match="bubblewrap"):
        sandbox.choose_sandbox("require")
    auto = sandbox.choose_sandbox("auto")
    assert auto.kind == "none" and auto.reason.startswith("not sandboxed: bwrap is not on PATH")
    assert sandbox.choose_sandbox("off").as_dict()["sandbox"] == "none"
    with pytest.raises(ValueError, match="auto, require, off"):
        sandbox.choose_sandbox("on")


def test_a_bwrap_that_cannot_build_a_sandbox_is_not_used(monkeypatch, tmp_path, fresh_probe):
    """bwrap present, user namespaces blocked (Ubuntu's AppArmor default): the probe runs it and says why."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'bubblewrap 0.9.0'; exit 0; }\n"
                    "echo 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    available, reason = sandbox.sandbox_available()
    assert not available and "setting up uid map" in reason and "apparmor_restrict_unprivileged_userns" in reason
    assert sandbox.choose_sandbox("auto").kind == "none"


def test_a_mount_that_would_hide_the_system_is_refused(tmp_path, bwrap_choice):
    for place in ("/", "/proc", "/tmp"):
        spec = sandbox.RunSpec(("/bin/true",), tmp_path, read_only=(Path(place),))
        with pytest.raises(ValueError, match="cannot be mounted"):
            sandbox.run(spec, bwrap_choice)


def test_a_sandbox_that_cannot_be_built_is_a_setup_error_not_an_exit_code(tmp_path, bwrap_choice):
    spec = sandbox.RunSpec(("/bin/true",), tmp_path, read_only=(tmp_path / "missing",))
    result = sandbox.run(spec, bwrap_choice)
    assert result.returncode is None and "missing" in (result.setup_error or "")


def test_the_unsandboxed_run_keeps_the_same_caps(tmp_path):
    spec = sandbox.RunSpec((sys.executable, "-c", "import sys; sys.stdout.write('y' * (1 << 22)); sys.exit(3)"),
                           tmp_path, limits=sandbox.Limits(timeout=60, tail_bytes=1000))
    result = sandbox.run(spec, sandbox.choose_sandbox("off"))
    assert result.returncode == 3 and result.stdout.total == 1 << 22 and result.stdout.tail == b"y" * 1000
    assert result.as_dict()["sandbox"] == "none" and result.as_dict()["network"] is True
