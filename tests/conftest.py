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
BIN = Path(sys.executable).parent
ARCHIVE = "my_analytic-0.1.0.zip"


# What the suite's own tools would leave in a real home (shared caches such as pip's and uv's are isolated too,
# but other users of the machine may write those); the session fails if any of these changes.
WATCHED_IN_HOME = (".cache/packflow-export", ".cache/pre-commit", ".cookiecutters", ".cookiecutter_replay",
                   ".cookiecutterrc", ".gitlab-ci-local", ".gitconfig")


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
    for name, value in {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
                        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    # The test environment's own tools (cookiecutter, uv, pre-commit, actionlint...) come first on PATH.
    monkeypatch.setenv("PATH", str(BIN) + os.pathsep + os.environ.get("PATH", ""))


def bake(output_dir: Path, template: Path = REPO, **context) -> Path:
    """Bake a template with cookiecutter's API (no prompts, no user config) and return the project."""
    from cookiecutter.main import cookiecutter

    output_dir.mkdir(parents=True, exist_ok=True)
    config = output_dir / ".cookiecutterrc"
    config.write_text(yaml.safe_dump({
        "cookiecutters_dir": str(output_dir / ".cc"), "replay_dir": str(output_dir / ".replay")}))
    return Path(cookiecutter(str(template), no_input=True, extra_context=context,
                             output_dir=str(output_dir), config_file=str(config)))


def bake_cli(output_dir: Path, *answers: str, template=REPO, timeout=120) -> subprocess.CompletedProcess:
    """Bake with the cookiecutter command, as a user does; answers are `key=value` strings."""
    output_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", HOME=str(output_dir / ".home"))
    return subprocess.run([str(BIN / "cookiecutter"), "--no-input", "-o", str(output_dir), str(template), *answers],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=output_dir)


@pytest.fixture(scope="session")
def default_bake(tmp_path_factory) -> Path:
    """One default bake for the session; tests copy it before changing anything."""
    return bake(tmp_path_factory.mktemp("default-bake"))


@pytest.fixture
def project(default_bake, tmp_path) -> Path:
    """A private copy of the default bake."""
    return Path(shutil.copytree(default_bake, tmp_path / default_bake.name))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def run_cli(*args, cwd=None, env=None, timeout=120, input=None) -> subprocess.CompletedProcess:
    """Run `python -m packflow_export` for real, as a user would."""
    environment = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "packflow_export", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout, input=input)


def cli_json(*args, cwd=None, env=None, timeout=120) -> tuple:
    """A command with --json: (exit code, the one JSON object it printed); never a traceback."""
    result = run_cli(*args, "--json", cwd=cwd, env=env, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def check_json(project_dir, *args, cwd=None) -> tuple:
    return cli_json("check", project_dir, *args, cwd=cwd)


def inspect(project: Path, policy=None, **options):
    """The check's report, in process (fast): the rule functions without a subprocess."""
    from packflow_export.policy import load_policy
    from packflow_export.rules import Options, inspect_project

    return inspect_project(project, policy or load_policy(), options=Options(**options)).report


def codes(report, severity: str | None = None) -> set:
    findings = report["findings"] if isinstance(report, dict) else [f._asdict() for f in report.findings]
    return {f["code"] for f in findings if severity in (None, f["severity"])}


def findings_of(report, code: str) -> list:
    findings = report["findings"] if isinstance(report, dict) else [f.as_dict() for f in report.findings]
    return [f for f in findings if f["code"] == code]


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


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout


def git_commit_all(folder: Path, message: str) -> None:
    if not (folder / ".git").exists():
        git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", message)


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
