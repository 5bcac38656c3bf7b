"""Shared fixtures: real bakes of the template and real runs of the CLI, isolated from the developer's machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COOKIECUTTER_JSON = json.loads((REPO / "cookiecutter.json").read_text(encoding="utf-8"))


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


def bake(output_dir: Path, **context) -> Path:
    """Bake the template with cookiecutter's API (no prompts, no user config) and return the project."""
    from cookiecutter.main import cookiecutter

    config = output_dir / ".cookiecutterrc"
    config.write_text(yaml.safe_dump({
        "cookiecutters_dir": str(output_dir / ".cc"), "replay_dir": str(output_dir / ".replay")}))
    return Path(cookiecutter(str(REPO), no_input=True, extra_context=context,
                             output_dir=str(output_dir), config_file=str(config)))


@pytest.fixture(scope="session")
def default_bake(tmp_path_factory) -> Path:
    """One default bake for the session; tests copy it before changing anything."""
    return bake(tmp_path_factory.mktemp("default-bake"))


@pytest.fixture
def project(default_bake, tmp_path) -> Path:
    """A private copy of the default bake."""
    return Path(shutil.copytree(default_bake, tmp_path / default_bake.name))


def run_cli(*args, cwd=None, env=None, timeout=120, input=None) -> subprocess.CompletedProcess:
    """Run `python -m packflow_export` for real, as a user would."""
    environment = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "packflow_export", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout, input=input)


def check_json(project_dir, *args, cwd=None) -> tuple[int, dict]:
    """`check --json` on a project: (exit code, parsed report)."""
    result = run_cli("check", project_dir, "--json", *args, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def codes(report: dict, severity: str | None = None) -> set:
    return {f["code"] for f in report["findings"] if severity in (None, f["severity"])}


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))
