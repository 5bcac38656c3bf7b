"""The suite never touches the developer's home or caches: session fixtures (which build wheels, bakes and runner
venvs) and every tool they start see HOME and each cache variable inside the session's temp folder, and the
session fails at its end if anything appeared in the real home's caches (tests/conftest.py, isolated_session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

@pytest.fixture(scope="session")
def what_a_session_fixture_sees():
    """What a session-scoped fixture's tools inherit: it runs before any per-test isolation does."""
    probe = "import os, json; print(json.dumps({k: os.environ.get(k) for k in os.environ}))"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(output)


def inside(path: str, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def run_folder(tmp_path_factory) -> Path:
    """This run's temp folder: the session's, or under pytest-xdist the one its workers share."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def test_session_fixtures_run_their_tools_with_the_isolated_home_and_caches(what_a_session_fixture_sees,
                                                                           isolated_session, tmp_path_factory):
    base = run_folder(tmp_path_factory)
    for name in ("HOME", "XDG_CACHE_HOME", "PACKFLOW_EXPORT_CACHE", "UV_CACHE_DIR", "PIP_CACHE_DIR", "PRE_COMMIT_HOME",
                 "npm_config_cache", "COOKIECUTTER_CONFIG"):
        assert inside(what_a_session_fixture_sees[name], base), (name, what_a_session_fixture_sees[name])
    assert what_a_session_fixture_sees["GIT_CONFIG_GLOBAL"] == os.devnull
    assert set(isolated_session) >= {"HOME", "XDG_CACHE_HOME", "PACKFLOW_EXPORT_CACHE"}


def test_the_load_proof_cache_stays_in_the_session_without_its_own_override(tmp_path_factory):
    """A tool started without PACKFLOW_EXPORT_CACHE (as CI jobs and hooks start the CLI) still caches inside."""
    env = {k: v for k, v in os.environ.items() if k != "PACKFLOW_EXPORT_CACHE"}
    env["PYTHONPATH"] = str(REPO)
    script = "from packflow_export.load import cache_root; print(cache_root())"
    root = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert inside(root.stdout.strip(), run_folder(tmp_path_factory)), root.stdout
