""".ci/install_tools.py installs without surprises: it reuses gitlab-ci-local at the pinned version instead of
reinstalling it (and recompiling re2), and says which Debian packages it installs before apt-get runs, with no
apt error shown first. Fake apt-get and gitlab-ci-local on PATH record what the script asks of them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from helpers import REPO


def load_install_tools(root: Path):
    spec = importlib.util.spec_from_file_location("install_tools", REPO / ".ci" / "install_tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.ROOT, module.VENV = root, root / ".venv"
    module.GITLAB_CI_LOCAL = root / ".venv" / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
    return module


def fake(folder: Path, name: str, script: str) -> None:
    (folder / name).write_text("#!/bin/sh\n" + script + "\n")
    (folder / name).chmod(0o755)


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """The script, pointed at a scratch repository, with only fake programs on PATH."""
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("PATH", str(bin_dir))
    bin_dir.mkdir()
    return load_install_tools(tmp_path), bin_dir, tmp_path / "calls"


def test_gitlab_ci_local_of_the_pinned_version_on_path_is_reused_not_reinstalled(tools, capsys):
    module, bin_dir, calls = tools
    fake(bin_dir, "gitlab-ci-local", f"echo {module.GITLAB_CI_LOCAL_VERSION}")
    fake(bin_dir, "npm", f"echo npm >> {calls}; exit 1")
    assert module.gitlab_ci_local() is None  # nothing to wait for: npm never started
    assert not calls.exists()
    assert module.GITLAB_CI_LOCAL.resolve() == (bin_dir / "gitlab-ci-local").resolve()
    assert "reusing" in capsys.readouterr().out
    assert module.gitlab_ci_local() is None and "already in" in capsys.readouterr().out


def test_another_version_on_path_is_not_reused(tools, capsys):
    module, bin_dir, calls = tools
    fake(bin_dir, "gitlab-ci-local", "echo 4.59.0")
    fake(bin_dir, "node", "")
    fake(bin_dir, "npm", f'echo "$@" >> {calls}')
    process = module.gitlab_ci_local()
    assert process is not None and process.wait() == 0
    assert f"gitlab-ci-local@{module.GITLAB_CI_LOCAL_VERSION}" in calls.read_text()


@pytest.mark.parametrize("stale", [False, True])
def test_debian_packages_are_named_before_apt_get_installs_them(tools, capsys, monkeypatch, stale):
    module, bin_dir, calls = tools
    for tool in module.DEBIAN:
        if tool != "bwrap":
            fake(bin_dir, tool, "")
    # A stale list: the dry run fails (unknown package, or a dependency that moved on) until apt-get update ran.
    dry_run = f'if [ ! -e {bin_dir}/updated ]; then echo "E: unmet dependencies" >&2; exit 100; fi; exit 0'
    fake(bin_dir, "apt-get", f'case "$*" in *--dry-run*) {dry_run if stale else "exit 0"};; '
                             f'update*) touch {bin_dir}/updated; echo "apt-get $*" >> {calls};; '
                             f'*) echo "apt-get $*" >> {calls};; esac')
    monkeypatch.setattr(module.os, "geteuid", lambda: 0)
    module.debian_packages()
    out, err = capsys.readouterr()
    first = out.splitlines()[0]
    assert first == "install_tools: installing Debian packages system-wide with apt-get: bubblewrap"
    assert "E:" not in out + err  # the package lists are refreshed first, never failed against
    expected = ["apt-get install -y -q --no-install-recommends bubblewrap"]
    assert calls.read_text().splitlines() == (["apt-get update -q", *expected] if stale else expected)


def test_without_root_the_missing_packages_are_named_and_nothing_runs(tools, monkeypatch):
    module, bin_dir, calls = tools
    fake(bin_dir, "apt-get", f'echo "apt-get $*" >> {calls}')
    monkeypatch.setattr(module.os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as stopped:
        module.debian_packages()
    assert "bubblewrap" in str(stopped.value) and "sudo apt-get install" in str(stopped.value)
    assert not calls.exists()
