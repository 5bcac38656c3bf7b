"""Shared fixtures: real bakes of the template and real runs of the CLI, isolated from the developer's machine.

Helpers that tests import by name are in helpers.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import BIN, REPO, WHEELHOUSE, bake, build_wheel


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path_factory):
    """No test sees the developer's git config, home directory, timezone or umask."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name, value in {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
                        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    # The test environment's own tools (cookiecutter, uv, pre-commit, actionlint...) come first on PATH.
    monkeypatch.setenv("PATH", str(BIN) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("PACKFLOW_EXPORT_CACHE", str(tmp_path_factory.getbasetemp() / "export-cache"))


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
