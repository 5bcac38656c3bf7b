"""envcache.py: environments are built in the install sandbox with copies (not hardlinks) from a private cache,
sealed, checked before reuse (a planted file or an edit that keeps its mtime is seen, and the environment is
rebuilt), and an install reaches nothing outside the new environment."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import BIN
from hostile import LOCAL_FORMS, local_requirements, local_source, outside_requirements, snapshot
from packflow_export import envcache, sandbox

pytest_plugins = ["trust_fixtures"]  # the fixtures: bwrap_choice, bystanders

VERSION = "{}.{}.{}".format(*sys.version_info[:3])


def record_line(site: Path, path: Path) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()
    return f"{path.relative_to(site).as_posix()},sha256={digest},{path.stat().st_size}"


@pytest.fixture
def small_env(tmp_path) -> Path:
    """A virtual environment's layout with one distribution and its RECORD (no install: the seal's logic)."""
    env = tmp_path / "env"
    site = env / "lib" / "python3.11" / "site-packages"
    (site / "pkg" / "__pycache__").mkdir(parents=True)
    (env / "bin").mkdir()
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (env / "bin" / "python").symlink_to(sys.executable)
    (env / "lib64").symlink_to("lib")
    (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (site / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\x00" * 16)
    (site / "pkg.pth").write_text("pkg\n")
    info = site / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Name: pkg\nVersion: 1.0\n")
    lines = [record_line(site, p) for p in (site / "pkg" / "__init__.py", site / "pkg.pth", info / "METADATA")]
    (info / "RECORD").write_text("\n".join(lines + ["pkg-1.0.dist-info/RECORD,,"]) + "\n")
    return env


def site_of(env: Path) -> Path:
    return next(env.glob("lib/python*/site-packages"))


def test_a_clean_environment_seals_with_nothing_unclaimed(small_env, tmp_path):
    seal = envcache.seal_environment(small_env)
    assert seal.unclaimed == () and seal.mismatched == ()
    assert seal.files["lib64"][:4] == ("link", 0, 0, "lib")
    path = tmp_path / "env.seal.json"
    envcache.write_seal(seal, path)
    again = envcache.read_seal(path)
    recorded = json.loads(seal.as_json())["files"]
    assert again is not None and dict(again.files) == {name: tuple(entry) for name, entry in recorded.items()}
    assert envcache.check_seal(small_env, again).ok


def test_files_no_distribution_installed_and_edited_files_are_named_when_sealing(small_env):
    site = site_of(small_env)
    (site / "zz_poison.pth").write_text("import os\n")
    (site / "pkg" / "__init__.py").write_text("VALUE = 2\n")
    seal = envcache.seal_environment(small_env)
    assert seal.unclaimed == ("lib/python3.11/site-packages/zz_poison.pth",)
    assert seal.mismatched == ("lib/python3.11/site-packages/pkg/__init__.py",)


def test_the_check_sees_every_kind_of_change(small_env):
    site = site_of(small_env)
    seal = envcache.seal_environment(small_env)
    init = site / "pkg" / "__init__.py"
    before = init.stat()
    init.write_text("VALUE = 9\n")  # same size, and the writer puts the mtime back
    os.utime(init, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert init.stat().st_mtime_ns == before.st_mtime_ns and init.stat().st_size == before.st_size
    (site / "zz_poison.pth").write_text("import os\n")
    (site / "pkg.pth").unlink()
    (small_env / "lib64").unlink()
    (small_env / "lib64").symlink_to("/tmp")
    check = envcache.check_seal(small_env, seal)
    assert not check.ok and check.rehashed == 1
    assert check.changed == ("lib/python3.11/site-packages/pkg/__init__.py", "lib64")
    assert check.added == ("lib/python3.11/site-packages/zz_poison.pth",)
    assert check.removed == ("lib/python3.11/site-packages/pkg.pth",)


def test_a_touched_but_identical_file_is_hashed_again_and_passes(small_env):
    seal = envcache.seal_environment(small_env)
    init = site_of(small_env) / "pkg" / "__init__.py"
    os.utime(init)
    check = envcache.check_seal(small_env, seal)
    assert check.ok and check.rehashed == 1
    init.chmod(0o600)
    assert envcache.check_seal(small_env, seal).changed == ("lib/python3.11/site-packages/pkg/__init__.py",)


def test_full_check_hashes_everything_and_a_moved_environment_fails(small_env, tmp_path):
    seal = envcache.seal_environment(small_env)
    check = envcache.check_seal(small_env, seal, full=True)
    assert check.ok and check.rehashed == sum(1 for entry in seal.files.values() if entry[0] == "file")
    moved = small_env.rename(tmp_path / "moved")
    assert not envcache.check_seal(moved, seal).ok


def test_a_fifo_cannot_be_sealed(small_env):
    os.mkfifo(site_of(small_env) / "pipe")
    with pytest.raises(envcache.SealError, match="not a file, folder or link"):
        envcache.seal_environment(small_env)


# Real installs in the install sandbox ----------------------------------------------------------------------


@pytest.fixture
def on_path(monkeypatch):
    monkeypatch.setenv("PATH", str(BIN) + os.pathsep + os.environ.get("PATH", ""))


def request_for(project: Path, wheelhouse: Path, *links: Path, **options) -> envcache.InstallRequest:
    return envcache.InstallRequest(project, sys.executable, VERSION, find_links=(*links, wheelhouse), offline=True,
                                   **options)


LIMITS = sandbox.Limits(timeout=600, memory_bytes=None)


@pytest.mark.slow
def test_an_environment_is_reused_while_sealed_and_rebuilt_when_poisoned(tmp_path, wheelhouse, bwrap_choice,
                                                                         on_path, monkeypatch):
    global_cache = tmp_path / "uv-global-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(global_cache))  # the verifier's own uv cache: never used, never changed
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("pyyaml==6.0.4\n")
    request, envs = request_for(project, wheelhouse), tmp_path / "envs"
    first = envcache.prepare_environment(request, envs, bwrap_choice, LIMITS)
    assert first.ok and not first.reused and first.seal is not None and first.seal.unclaimed == ()
    assert first.install is not None and first.install.sandbox["sandbox"] == "bwrap"
    assert first.install.sandbox["network"] is False  # --offline: the install has no network either
    assert first.path is not None
    files = [p for p in first.path.rglob("*") if p.is_file() and not p.is_symlink()]
    assert files and all(p.stat().st_nlink == 1 for p in files)  # copies, never hardlinks
    assert sorted(p.name for p in envs.iterdir()) == sorted([first.key, first.key + ".seal.json", f".{first.key}.lock"])
    second = envcache.prepare_environment(request, envs, bwrap_choice, LIMITS)
    assert second.reused and second.check is not None and second.check.ok and second.check.rehashed == 0
    poison = site_of(first.path) / "zz_poison.pth"
    poison.write_text("import sys; print('POISON', file=sys.stderr)\n")
    third = envcache.prepare_environment(request, envs, bwrap_choice, LIMITS)
    assert not third.reused and third.check is not None and third.check.added == (
        str(poison.relative_to(first.path)),)
    assert third.ok and not poison.exists()
    assert not global_cache.exists()


def sdist(folder: Path, name: str, setup_py: str) -> Path:
    """A source distribution whose setup.py is the attacker's build script."""
    source = folder / f"{name}-1.0"
    source.mkdir(parents=True)
    (source / "setup.py").write_text(setup_py)
    (source / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    with tarfile.open(folder / f"{name}-1.0.tar.gz", "w:gz") as archive:
        archive.add(source, arcname=source.name)
    shutil.rmtree(source)
    return folder


@pytest.mark.slow
def test_a_build_script_can_write_only_the_new_environment(tmp_path, wheelhouse, bwrap_choice, bystanders, on_path):
    victim = bystanders / "victims" / "x.txt"
    cache_file = next(p for p in (bystanders / "uv-cache").rglob("*") if p.is_file())
    links = sdist(tmp_path / "links", "evilpkg", f"""
import sys
outcome = []
for target in ({str(victim)!r}, {str(cache_file)!r}, "/usr/lib/evil"):
    try:
        open(target, "a").write("owned")
        outcome.append("written")
    except OSError as exc:
        outcome.append(type(exc).__name__ + " errno " + str(exc.errno))
raise SystemExit("ATTACK " + " | ".join(outcome))
""")
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("evilpkg==1.0\n")
    before = snapshot(bystanders)
    built = envcache.prepare_environment(request_for(project, wheelhouse, links), tmp_path / "envs", bwrap_choice,
                                         LIMITS)
    output = built.install.stderr.text() + built.install.stdout.text() if built.install else ""
    assert not built.ok and "ATTACK FileNotFoundError errno 2 | FileNotFoundError errno 2 | OSError errno 30" in output
    assert snapshot(bystanders) == before and list((tmp_path / "envs").glob("[0-9a-f]*")) == []
    wheels_only = envcache.prepare_environment(request_for(project, wheelhouse, links, no_build=True),
                                               tmp_path / "envs", bwrap_choice, LIMITS)
    output = wheels_only.install.stderr.text() if wheels_only.install else ""
    assert not wheels_only.ok and "ATTACK" not in output and "evilpkg" in output  # refused, the script never ran
    assert snapshot(bystanders) == before


@pytest.fixture(scope="module")
def local_sources(tmp_path_factory) -> dict:
    return local_source(tmp_path_factory.mktemp("local-source"))


@pytest.mark.slow
def test_an_include_outside_the_project_cannot_be_read_during_the_install(tmp_path, wheelhouse, bwrap_choice,
                                                                          bystanders, on_path):
    """Item 6, as the last line of defence (phase 2's rules stop it before any install): the outside file is not
    visible in the install sandbox, so nothing of it is read or printed; unsandboxed, its first line leaks."""
    project = outside_requirements(tmp_path / "project", bystanders / "victims" / "id_rsa")
    before = snapshot(bystanders)
    built = envcache.prepare_environment(request_for(project, wheelhouse), tmp_path / "envs", bwrap_choice, LIMITS)
    assert not built.ok and built.install is not None
    output = built.install.stderr.text() + built.install.stdout.text()
    assert "No such file" in output and "PRIVATE KEY" not in output and "Unexpected" not in output, output
    control = envcache.prepare_environment(request_for(project, wheelhouse), tmp_path / "control",
                                           sandbox.choose_sandbox("off"), LIMITS)
    assert control.install is not None and "Unexpected '-'" in control.install.stderr.text()  # it read the key
    assert snapshot(bystanders) == before


@pytest.mark.slow
@pytest.mark.parametrize("form", list(LOCAL_FORMS))
def test_sources_on_the_verifiers_machine_are_invisible_to_the_install(tmp_path, wheelhouse, bwrap_choice,
                                                                        local_sources, on_path, form):
    """Item 7, as the last line of defence: a local index, wheel or repository cannot be installed from inside
    the install sandbox; unsandboxed (the control, run for an index, a path and a wheel) uv installs evilpkg from
    it. (uv itself does not resolve the upper-case FILE://; the git form would need a build.)"""
    project = local_requirements(tmp_path / "project", form, local_sources)
    request = envcache.InstallRequest(project, sys.executable, VERSION)  # no --offline: uv would not read the index
    built = envcache.prepare_environment(request, tmp_path / "envs", bwrap_choice, LIMITS)
    assert not built.ok and built.path is None
    assert list((tmp_path / "envs").glob("[0-9a-f]*")) == []
    if form in ("index-url-file", "i-absolute-path", "file-url"):  # one of each kind is enough for the control
        control = envcache.prepare_environment(request, tmp_path / "control", sandbox.choose_sandbox("off"), LIMITS)
        assert control.ok and control.path is not None and (site_of(control.path) / "evilpkg").is_dir()
