"""Fixtures of the trust tests (a pytest plugin: `pytest_plugins = ["trust_fixtures"]` in a test module): the
sandbox, the sealed environment of the default bake, and the bystanders no hostile archive may change."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from helpers import BIN
from hostile import PEM, uv_venv


@pytest.fixture(scope="session")
def bwrap_choice():
    """The sandbox the trust tests run in: bubblewrap must work here (.ci/install_tools.py installs it)."""
    from packflow_export import sandbox

    available, reason = sandbox.sandbox_available()
    assert available, f"bubblewrap must work for these tests: {reason}"
    return sandbox.choose_sandbox("require")


@pytest.fixture(scope="session")
def proof_env(default_bake, tmp_path_factory, wheelhouse, bwrap_choice) -> Path:
    """The default bake's environment (packflow, numpy, pydantic...), installed in the install sandbox with
    uv --link-mode=copy from the offline wheelhouse, and sealed."""
    from packflow_export import envcache, sandbox

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(BIN) + os.pathsep + os.environ.get("PATH", ""))
        request = envcache.InstallRequest(default_bake, sys.executable, "{}.{}.{}".format(*sys.version_info[:3]),
                                          find_links=(wheelhouse,), offline=True)
        prepared = envcache.prepare_environment(request, tmp_path_factory.mktemp("envs"), bwrap_choice,
                                                sandbox.Limits(timeout=900, memory_bytes=None))
    assert prepared.ok, (prepared.problem, prepared.install and prepared.install.stderr.text())
    assert prepared.path is not None
    return prepared.path


@pytest.fixture(scope="session")
def bystanders(tmp_path_factory, wheelhouse) -> Path:
    """What a hostile archive must never change: a decoy tree (`victims/`) and an unrelated uv environment
    (packflow hardlinked from its own uv cache), all under one folder."""
    root = tmp_path_factory.mktemp("bystanders")
    victims = root / "victims"
    victims.mkdir()
    (victims / "x.txt").write_text("the original\n", encoding="utf-8")
    (victims / "id_rsa").write_text(PEM, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(BIN) + os.pathsep + os.environ.get("PATH", ""))
        uv_venv(root / "unrelated-env", ["packflow==0.4.1"], wheelhouse, root / "uv-cache", "--no-deps")
    return root
