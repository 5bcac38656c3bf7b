"""Shared fixtures: real bakes of the template and real runs of the CLI, isolated from the developer's machine.

Helpers that tests import by name are in helpers.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import BIN, REPO, WHEELHOUSE, bake, build_wheel


# What the suite's own tools would leave in a real home (shared caches such as pip's and uv's are isolated too,
# but other users of the machine may write those); the session fails if any of these changes.
WATCHED_IN_HOME = (".cache/packflow-export", ".cache/pre-commit", ".cookiecutters", ".cookiecutter_replay",
                   ".cookiecutterrc", ".gitlab-ci-local", ".gitconfig")

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
                "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org"}


def _snapshot(home: Path) -> dict:
    """Each watched path's entries (name, mtime): enough to see anything created, removed or rewritten there."""
    state = {}
    for name in WATCHED_IN_HOME:
        path = home / name
        try:
            entries = [path, *path.iterdir()] if path.is_dir() else [path]
            state[name] = sorted((p.name, p.stat().st_mtime_ns) for p in entries if p.exists())
        except OSError:
            state[name] = None
    return state


@pytest.fixture(scope="session", autouse=True)
def isolated_session(tmp_path_factory, request):
    """Before any fixture runs a tool: HOME and every cache and config variable point into the session's temp
    folder, shared by its tests (caches built once are reused), and the real home is checked untouched at the end."""
    real_home = Path(os.environ.get("HOME") or Path.home())
    before = _snapshot(real_home)
    base = tmp_path_factory.getbasetemp()
    # pytest-xdist's workers share their run's folder: a cache built by one (a load proof environment, a pre-commit
    # hook environment, pip's and uv's caches) serves the other; each tool locks its own cache.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    home = base / "home"
    config = base / "cookiecutter.yaml"
    config.write_text(yaml.safe_dump({"cookiecutters_dir": str(base / "cookiecutters"),
                                      "replay_dir": str(base / "cookiecutter-replay")}), encoding="utf-8")
    values = {"HOME": home, "XDG_CACHE_HOME": home / ".cache", "XDG_CONFIG_HOME": home / ".config",
              "XDG_DATA_HOME": home / ".local" / "share", "XDG_STATE_HOME": home / ".local" / "state",
              "PACKFLOW_EXPORT_CACHE": shared / "export-cache", "UV_CACHE_DIR": shared / "uv-cache",
              "PIP_CACHE_DIR": shared / "pip-cache", "PRE_COMMIT_HOME": shared / "pre-commit", "npm_config_cache":
              shared / "npm-cache", "COOKIECUTTER_CONFIG": config, "GIT_CONFIG_GLOBAL": os.devnull}
    home.mkdir(exist_ok=True)
    request.config.option.template = str(REPO)  # pytest-cookies' `cookies` bakes this template wherever pytest runs
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, str(value))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for name in ("PACKFLOW_EXPORT_OSV_DB", "PACKFLOW_EXPORT_OSV_URL"):  # session fixtures audit nothing either
            patch.delenv(name, raising=False)
        for name, value in GIT_IDENTITY.items():  # session fixtures commit too, before any test's fixture runs
            patch.setenv(name, value)
        yield values
    after = _snapshot(real_home)
    changed = {name: sorted(set(after[name] or []) - set(before[name] or [])) for name in WATCHED_IN_HOME
               if before[name] != after[name]}
    assert not changed, f"the suite wrote into the real home {real_home} (name, mtime): {changed}"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path_factory, isolated_session):
    """No test sees the developer's git config, home directory, timezone or umask: each gets a HOME of its own and
    the session's caches."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for name, value in isolated_session.items():
        if name != "HOME":
            monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for name in ("PACKFLOW_EXPORT_OSV_DB", "PACKFLOW_EXPORT_OSV_URL"):  # no test audits unless it says so
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    # The test environment's own tools (cookiecutter, uv, pre-commit, actionlint...) come first on PATH.
    monkeypatch.setenv("PATH", str(BIN) + os.pathsep + os.environ.get("PATH", ""))


@pytest.fixture(scope="session")
def default_bake(tmp_path_factory) -> Path:
    """One default bake for the session; tests copy it before changing anything."""
    return bake(tmp_path_factory.mktemp("default-bake"))


@pytest.fixture
def project(default_bake, tmp_path) -> Path:
    """A private copy of the default bake."""
    return Path(shutil.copytree(default_bake, tmp_path / default_bake.name))


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Runtime dependencies as wheels, downloaded by the README's test command, so installs here need no network."""
    assert list(WHEELHOUSE.glob("PyYAML-*.whl")) or list(WHEELHOUSE.glob("pyyaml-*.whl")), (
        f"no wheelhouse at {WHEELHOUSE}: run the README's test command, which downloads it")
    return WHEELHOUSE


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(REPO, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def pristine_runner(tmp_path_factory) -> Path:
    """A CI runner's Python as a fresh image has it: a venv with pip and nothing else (made once per session;
    tests run jobs in copies of it)."""
    folder = tmp_path_factory.mktemp("runner") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    return folder


def pytest_collection_modifyitems(items):
    """Slow tests first: pytest-xdist hands out tests in this order (see pytest_configure), so the long journeys
    start at once instead of leaving one worker busy after the other has finished (the wall time on two cores)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config):
    """With pytest-xdist, hand tests out one or two at a time (--maxschedchunk 1) rather than in initial chunks of a
    quarter of the suite: the slow tests, sorted first, then spread over the workers instead of queueing on one."""
    if getattr(config.option, "dist", "no") == "load" and getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1
    # Collection runs before the session's isolated HOME: modules that load the secret rules at import (to
    # parametrize their examples) must not cache them in the developer's ~/.cache either.
    import tempfile

    os.environ["PACKFLOW_EXPORT_CACHE"] = config.collection_cache = tempfile.mkdtemp(prefix="packflow-collection-")


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "collection_cache", ""), ignore_errors=True)
