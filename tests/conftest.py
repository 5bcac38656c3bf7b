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


WHEELHOUSE = Path(os.environ.get("PACKFLOW_TEST_WHEELHOUSE", Path(sys.prefix) / "wheelhouse"))
OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Runtime dependencies as wheels, downloaded by the README's test command, so installs here need no network."""
    assert list(WHEELHOUSE.glob("PyYAML-*.whl")) or list(WHEELHOUSE.glob("pyyaml-*.whl")), (
        f"no wheelhouse at {WHEELHOUSE}: run the README's test command, which downloads it")
    return WHEELHOUSE


def build_wheel(source: Path, out: Path) -> Path:
    """`python -m build --wheel` of a source tree (no isolation: setuptools comes from the test venv)."""
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
                            capture_output=True, text=True, timeout=300, cwd=out)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = out.glob("packflow_export-*.whl")
    return wheel


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(REPO, tmp_path_factory.mktemp("wheel"))


def clean_venv(path: Path, *requirements, wheelhouse: Path) -> Path:
    """A virtualenv holding only `requirements` and their dependencies, installed offline; returns its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                             "--find-links", str(wheelhouse), *map(str, requirements)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return path / "bin"


def template_copy(destination: Path) -> Path:
    """The template's files (tracked, or new and not ignored) copied as a fresh git repository."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git_commit_all(destination, "template")
    return destination


def git_commit_all(folder: Path, message: str) -> None:
    if not (folder / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "commit", "-qm", message], cwd=folder, check=True, capture_output=True)
