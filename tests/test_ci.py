"""The generated CI, proven by running it: GitLab CI by gitlab-ci-local (shell executor, uploads to a registry on
127.0.0.1), GitHub Actions by actionlint, zizmor and its commands run with the GitHub environment set."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import BIN, COOKIECUTTER_JSON, WHEELHOUSE, bake, git, git_commit_all, load_yaml, run, valid_sarif

CI_FILES = {"github": {".github/workflows/packflow.yml", ".github/dependabot.yml"}, "gitlab": {".gitlab-ci.yml"},
            "none": set()}
SCHEMAS = {".github/workflows/packflow.yml": "vendor.github-workflows", ".gitlab-ci.yml": "vendor.gitlab-ci",
           ".github/dependabot.yml": "vendor.dependabot"}
GITLAB_CI_LOCAL = Path(os.environ.get("GITLAB_CI_LOCAL", Path(sys.prefix) / "node" / "node_modules" / ".bin" /
                                      "gitlab-ci-local"))


@pytest.mark.parametrize("ci", COOKIECUTTER_JSON["ci"])
def test_generated_ci_files_match_their_schemas(tmp_path, ci):
    project = bake(tmp_path, ci=ci)
    present = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()
               and (".github" in p.parts or p.name == ".gitlab-ci.yml")}
    assert present == CI_FILES[ci]
    for name in CI_FILES[ci]:
        text = (project / name).read_text()
        assert not re.search(r"(?<!\$){{|{%|%}|cookiecutter\.", text)
        validated = run([BIN / "check-jsonschema", "--builtin-schema", SCHEMAS[name], project / name], project)
        assert validated.returncode == 0, validated.stdout + validated.stderr


# GitHub Actions -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loader", COOKIECUTTER_JSON["loader"])
def test_github_workflow_passes_actionlint_and_zizmor(tmp_path, loader):
    project = bake(tmp_path, ci="github", loader=loader)
    linted = run([BIN / "actionlint", "-no-color", ".github/workflows/packflow.yml"], project)
    assert linted.returncode == 0 and linted.stdout == "", linted.stdout + linted.stderr
    for persona in ("regular", "pedantic"):
        audited = run([BIN / "zizmor", "--offline", "--no-progress", f"--persona={persona}", ".github/"], project)
        assert audited.returncode == 0 and "No findings to report" in audited.stdout, audited.stdout + audited.stderr


def test_github_workflow_pins_actions_and_limits_permissions(tmp_path):
    project = bake(tmp_path, ci="github")
    workflow = load_yaml(project / ".github/workflows/packflow.yml")
    text = (project / ".github/workflows/packflow.yml").read_text()
    uses = re.findall(r"uses: (\S+)@(\S+)\s+# (v\S+)", text)
    assert {name for name, _, _ in uses} == {"actions/checkout", "actions/setup-python", "actions/attest-build-provenance",
                                             "github/codeql-action/upload-sarif"}
    assert all(re.fullmatch(r"[0-9a-f]{40}", sha) for _, sha, _ in uses)
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["release"]["permissions"] == {"contents": "write", "id-token": "write", "attestations": "write"}
    assert "permissions" not in workflow["jobs"]["test"]
    assert workflow["jobs"]["code-scanning"]["permissions"] == {"contents": "read", "actions": "read",
                                                                "security-events": "write"}
    assert [job for job, spec in workflow["jobs"].items() if "security-events" in spec.get("permissions", {})] == [
        "code-scanning"]
    checkouts = [step for job in workflow["jobs"].values() for step in job["steps"]
                 if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all(step["with"]["persist-credentials"] is False for step in checkouts)
    dependabot = load_yaml(project / ".github/dependabot.yml")
    assert {u["package-ecosystem"] for u in dependabot["updates"]} == {"github-actions", "pip"}


@pytest.fixture(scope="session")
def runner_venv(tmp_path_factory, wheel):
    """A CI runner's Python: a fresh venv (with pip) where the jobs install what they need, offline."""
    folder = tmp_path_factory.mktemp("runner") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    return folder / "bin"


def runner_environment(runner_bin: Path, home: Path, **extra) -> dict:
    """What a CI job sees here: the runner's Python first on PATH (no uv, no test venv), pip offline."""
    system = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
    return {"PATH": f"{runner_bin}{os.pathsep}{system}", "HOME": str(home), "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(WHEELHOUSE), "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def steps_by_name(workflow: dict, job: str) -> dict:
    return {step.get("name"): step for step in workflow["jobs"][job]["steps"]}


def tagged_project(tmp_path, ci: str, tag: str = "v0.1.0") -> Path:
    project = bake(tmp_path / "bake", ci=ci)
    git_commit_all(project, "init")
    git(project, "tag", tag)
    return project


@pytest.mark.slow
def test_github_release_job_runs_with_the_github_environment(tmp_path, runner_venv, wheel, wheelhouse):
    project = tagged_project(tmp_path, "github")
    workflow = load_yaml(project / ".github/workflows/packflow.yml")
    steps = steps_by_name(workflow, "release")
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "gh").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path / 'gh-args'}\n"
                                 f"for f in \"$@\"; do case \"$f\" in dist/*) test -s \"$f\" || exit 9;; esac; done\n")
    (fake_bin / "gh").chmod(0o755)
    env = runner_environment(runner_venv, tmp_path / "home", GITHUB_ACTIONS="true", CI="true", GITHUB_REF="refs/tags/v0.1.0",
                             GITHUB_REF_NAME="v0.1.0", GITHUB_REF_TYPE="tag", GITHUB_WORKSPACE=str(project),
                             GH_TOKEN="test-token", PACKFLOW_EXPORT=str(wheel),
                             PACKFLOW_EXPORT_CACHE=str(tmp_path / "cache"))
    env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
    for name in ("Install", "Release", "Publish"):
        result = run(["bash", "-e", "-c", steps[name]["run"]], project, env)
        assert result.returncode == 0, f"{name}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    arguments = (tmp_path / "gh-args").read_text().split()
    assert arguments[:3] == ["release", "create", "v0.1.0"] and "--verify-tag" in arguments
    assert {a for a in arguments if a.startswith("dist/")} == {
        "dist/my_analytic-0.1.0.zip", "dist/my_analytic-0.1.0.zip.sha256", "dist/my_analytic-0.1.0.zip.cdx.json"}
    attest = next(step for step in workflow["jobs"]["release"]["steps"] if "attest-build-provenance" in step.get("uses", ""))
    assert attest["with"]["subject-path"] == "dist/*.zip"
    env["GITHUB_REF_NAME"] = "v9.9.9"
    refused = run(["bash", "-e", "-c", steps["Release"]["run"]], project, env)
    assert refused.returncode == 1 and "tag 'v9.9.9' does not match packflow.yaml's version 0.1.0" in refused.stderr


@pytest.mark.slow
def test_github_code_scanning_job_writes_sarif_that_code_scanning_accepts(tmp_path, runner_venv, wheel, wheelhouse):
    project = bake(tmp_path / "bake", ci="github")
    workflow = load_yaml(project / ".github/workflows/packflow.yml")
    steps = steps_by_name(workflow, "code-scanning")
    upload = next(step for step in workflow["jobs"]["code-scanning"]["steps"] if "upload-sarif" in step.get("uses", ""))
    assert upload["with"]["sarif_file"] == "packflow.sarif"
    env = runner_environment(runner_venv, tmp_path / "home", GITHUB_ACTIONS="true", CI="true",
                             GITHUB_REF="refs/heads/main", GITHUB_WORKSPACE=str(project), PACKFLOW_EXPORT=str(wheel))
    installed = run(["bash", "-e", "-c", steps["Install"]["run"]], project, env)
    assert installed.returncode == 0, installed.stderr[-3000:]
    scan = steps["Readiness check as SARIF"]["run"]
    assert run(["bash", "-e", "-c", scan], project, env).returncode == 0
    results = valid_sarif(json.loads((project / "packflow.sarif").read_text()))["results"]
    assert {result["ruleId"] for result in results} == {"PF301", "PF504"}
    (project / "requirements.txt").unlink()  # findings that block a release: shown, not a failed job
    assert run(["bash", "-e", "-c", scan], project, env).returncode == 0
    results = valid_sarif(json.loads((project / "packflow.sarif").read_text()))["results"]
    assert {"ruleId": "PF101", "level": "error"}.items() <= next(r for r in results if r["ruleId"] == "PF101").items()
    (project / "packflow.yaml").unlink()  # not a project: the check itself fails, and so does the job
    assert run(["bash", "-e", "-c", scan], project, env).returncode != 0


# GitLab CI ------------------------------------------------------------------------------------------------------------

class Registry(http.server.BaseHTTPRequestHandler):
    """Stands in for GitLab's API on 127.0.0.1: records what the release job sends."""

    received: list = []

    def do_PUT(self):
        self._record()

    def do_POST(self):
        self._record()

    def _record(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append({"method": self.command, "path": self.path, "token": self.headers.get("JOB-TOKEN"),
                              "body": body})
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def registry():
    Registry.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v4", Registry.received
    server.shutdown()
    server.server_close()


def gitlab_ci_local(project, runner_venv, home, *arguments, variables=()):
    assert GITLAB_CI_LOCAL.exists(), f"{GITLAB_CI_LOCAL}: .ci/run installs gitlab-ci-local with npm"
    command = [GITLAB_CI_LOCAL, "--force-shell-executor", "--no-color"]
    for variable in variables:
        command += ["--variable", variable]
    return run([*command, *arguments], project, runner_environment(runner_venv, home), timeout=900)


@pytest.mark.slow
def test_gitlab_pipeline_runs_tests_and_releases_to_the_registry(tmp_path, runner_venv, wheel, wheelhouse, registry):
    api, received = registry
    project = tagged_project(tmp_path, "gitlab")
    common = [f"PACKFLOW_EXPORT={wheel}", f"PIP_FIND_LINKS={WHEELHOUSE}", "PIP_NO_INDEX=1",
              f"PACKFLOW_EXPORT_CACHE={tmp_path / 'cache'}"]
    tested = gitlab_ci_local(project, runner_venv, tmp_path / "home", "test", variables=common)
    assert tested.returncode == 0 and "PASS" in tested.stdout, tested.stdout[-4000:] + tested.stderr[-2000:]
    release_variables = common + ["CI_COMMIT_TAG=v0.1.0", f"CI_API_V4_URL={api}", "CI_JOB_TOKEN=job-token-42",
                                  "CI_PROJECT_ID=42"]
    released = gitlab_ci_local(project, runner_venv, tmp_path / "home", "release", variables=release_variables)
    assert released.returncode == 0 and "PASS" in released.stdout, released.stdout[-4000:] + released.stderr[-2000:]
    dist = project / "dist"
    files = sorted(p.name for p in dist.iterdir())
    assert files == ["my_analytic-0.1.0.zip", "my_analytic-0.1.0.zip.cdx.json", "my_analytic-0.1.0.zip.sha256"]
    base = "/api/v4/projects/42/packages/generic/my-analytic/0.1.0"
    uploads = {r["path"]: r for r in received if r["method"] == "PUT"}
    assert set(uploads) == {f"{base}/{name}" for name in files}
    for name in files:
        assert uploads[f"{base}/{name}"]["body"] == (dist / name).read_bytes()
    assert {r["token"] for r in received} == {"job-token-42"}
    (release,) = [r for r in received if r["method"] == "POST"]
    assert release["path"] == "/api/v4/projects/42/releases"
    payload = json.loads(release["body"])
    assert payload["tag_name"] == "v0.1.0"
    assert sorted(link["url"] for link in payload["assets"]["links"]) == sorted(f"{api}/projects/42/packages/generic/"
                                                                                f"my-analytic/0.1.0/{n}" for n in files)
    pipeline = load_yaml(project / ".gitlab-ci.yml")
    assert pipeline["release"]["artifacts"]["expire_in"] == "never"


@pytest.mark.slow
def test_gitlab_release_on_a_tag_that_does_not_match_fails_with_the_message(tmp_path, runner_venv, wheel, wheelhouse,
                                                                         registry):
    api, received = registry
    project = tagged_project(tmp_path, "gitlab", tag="v9.9.9")
    variables = [f"PACKFLOW_EXPORT={wheel}", f"PIP_FIND_LINKS={WHEELHOUSE}", "PIP_NO_INDEX=1", "CI_COMMIT_TAG=v9.9.9",
                 f"CI_API_V4_URL={api}", "CI_JOB_TOKEN=job-token-42", "CI_PROJECT_ID=42"]
    released = gitlab_ci_local(project, runner_venv, tmp_path / "home", "release", variables=variables)
    assert released.returncode != 0
    assert "tag 'v9.9.9' does not match packflow.yaml's version 0.1.0" in released.stdout + released.stderr
    assert received == [] and not (project / "dist").exists()
