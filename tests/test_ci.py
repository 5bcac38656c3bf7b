"""The generated CI, proven by running it: GitLab CI by gitlab-ci-local (shell executor, uploads to a registry on
127.0.0.1), GitHub Actions by actionlint, zizmor and its commands run with the GitHub environment set."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest

from helpers import (BIN, COOKIECUTTER_JSON, REPO, WHEELHOUSE, bake, git, git_commit_all, load_yaml, run,
                     template_copy, valid_sarif)

TEMPLATE = REPO / "{{cookiecutter.__project_folder}}"
# check-jsonschema's schema of each CI file the template's providers write (a file without one is parsed as YAML).
SCHEMAS = {".github/workflows/packflow.yml": "vendor.github-workflows", ".gitlab-ci.yml": "vendor.gitlab-ci",
           ".github/dependabot.yml": "vendor.dependabot"}
GITHUB = [ci for ci in COOKIECUTTER_JSON["ci"] if (TEMPLATE / "ci" / ci / "files" / ".github" / "workflows").is_dir()]
GITLAB_CI_LOCAL = Path(os.environ.get("GITLAB_CI_LOCAL", Path(sys.prefix) / "node" / "node_modules" / ".bin" /
                                      "gitlab-ci-local"))


def provider_files(template: Path, ci: str) -> set:
    """What a CI provider's folder, ci/<choice>/files/ in the template, puts at the project's root."""
    files = template / "{{cookiecutter.__project_folder}}" / "ci" / ci / "files"
    return {p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file()}


def ci_files_of(project: Path) -> set:
    """Every file of the baked project that no provider-neutral part of the template writes."""
    neutral = {"ci"} | {p.name for p in TEMPLATE.iterdir()} - {"_inference_backend.py"}
    return {p.relative_to(project).as_posix() for p in project.rglob("*")
            if p.is_file() and p.relative_to(project).parts[0] not in neutral and p.suffix != ".py"}


@pytest.mark.parametrize("ci", COOKIECUTTER_JSON["ci"])
def test_generated_ci_files_match_their_schemas(cookies, ci):
    result = cookies.bake(extra_context={"ci": ci})
    assert result.exit_code == 0, result.exception
    project = result.project_path
    assert ci_files_of(project) == provider_files(REPO, ci) and not (project / "ci").exists()
    for name in sorted(provider_files(REPO, ci)):
        text = (project / name).read_text()
        assert not re.search(r"(?<!\$){{|{%|%}|cookiecutter\.", text)
        load_yaml(project / name)
        if name in SCHEMAS:
            validated = run([BIN / "check-jsonschema", "--builtin-schema", SCHEMAS[name], project / name], project)
            assert validated.returncode == 0, validated.stdout + validated.stderr


def test_a_ci_provider_is_one_folder_and_one_choice(cookies, tmp_path):
    """Add a throwaway provider the way the README says (its folder, its choice) to a copy of the template: it
    bakes with its files at the root, its README section and .gitignore lines, and touches nothing else."""
    template = template_copy(tmp_path / "template")
    provider = template / "{{cookiecutter.__project_folder}}" / "ci" / "woodpecker"
    (provider / "files" / ".woodpecker").mkdir(parents=True)
    (provider / "files" / ".woodpecker" / "packflow.yml").write_text(
        'steps:\n  test:\n    image: "python:{{ cookiecutter.python_version }}"\n'
        '    commands: ["pip install \'{{ (cookiecutter | template_source).requirement }}\'", "python -m pytest"]\n')
    (provider / "README.md").write_text("## Continuous integration\n\n`.woodpecker/packflow.yml` runs the tests.\n")
    (provider / "gitignore").write_text(".woodpecker-cache/\n")
    settings = json.loads((template / "cookiecutter.json").read_text())
    settings["ci"].append("woodpecker")
    settings["__prompts__"]["ci"]["woodpecker"] = "Woodpecker CI"
    (template / "cookiecutter.json").write_text(json.dumps(settings, indent=2) + "\n")
    changed = git(template, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(line[3:] for line in changed) == ["cookiecutter.json", *sorted(
        f"{{{{cookiecutter.__project_folder}}}}/ci/woodpecker/{name}" for name in
        ("README.md", "files/.woodpecker/packflow.yml", "gitignore"))]
    git_commit_all(template, "woodpecker")
    result = cookies.bake(template=str(template), extra_context={"ci": "woodpecker"})
    assert result.exit_code == 0, result.exception
    project = result.project_path
    assert ci_files_of(project) == provider_files(template, "woodpecker") == {".woodpecker/packflow.yml"}
    pipeline = load_yaml(project / ".woodpecker" / "packflow.yml")
    assert pipeline["steps"]["test"]["image"] == f"python:{result.context['python_version']}"
    assert "packflow-export @ git+" in pipeline["steps"]["test"]["commands"][0]
    readme = (project / "README.md").read_text()
    assert "## Continuous integration\n\n`.woodpecker/packflow.yml` runs the tests.\n\n## License" in readme
    assert (project / ".gitignore").read_text().endswith("\n\n.woodpecker-cache/\n")
    assert not (project / "ci").exists() and not (project / ".github").exists()


# GitHub Actions -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ci", GITHUB)
def test_github_workflow_passes_actionlint_and_zizmor(cookies, ci):
    project = cookies.bake(extra_context={"ci": ci}).project_path
    linted = run([BIN / "actionlint", "-no-color", ".github/workflows/packflow.yml"], project)
    assert linted.returncode == 0 and linted.stdout == "", linted.stdout + linted.stderr
    for persona in ("regular", "pedantic"):
        audited = run([BIN / "zizmor", "--offline", "--no-progress", f"--persona={persona}", ".github/"], project)
        assert audited.returncode == 0 and "No findings to report" in audited.stdout, audited.stdout + audited.stderr


@pytest.mark.parametrize("ci", GITHUB)
def test_github_workflow_pins_actions_and_limits_permissions(cookies, ci):
    project = cookies.bake(extra_context={"ci": ci}).project_path
    workflow = load_yaml(project / ".github/workflows/packflow.yml")
    text = (project / ".github/workflows/packflow.yml").read_text()
    uses = re.findall(r"uses: (\S+)@(\S+)\s+# (v\S+)", text)
    assert {name for name, _, _ in uses} == {"actions/checkout", "actions/setup-python", "actions/upload-artifact",
                                             "actions/download-artifact", "actions/attest-build-provenance",
                                             "github/codeql-action/upload-sarif"}
    assert all(re.fullmatch(r"[0-9a-f]{40}", sha) for _, sha, _ in uses)
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["publish"]["permissions"] == {"contents": "write", "id-token": "write",
                                                          "attestations": "write"}
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


WRITE_PERMISSIONS = {"contents", "id-token", "attestations", "packages", "security-events"}


def writes(job: dict, workflow: dict) -> set:
    """The write permissions (id-token included) a job's token holds: its own, else the workflow's."""
    permissions = job.get("permissions", workflow.get("permissions", {}))
    return {scope for scope, level in permissions.items() if level == "write" and scope in WRITE_PERMISSIONS}


@pytest.mark.parametrize("ci", GITHUB)
def test_github_release_builds_read_only_and_publishes_only_the_artifact(cookies, ci):
    """A job that installs requirements or runs project code holds no token that can write, sign or attest; the
    job that can only downloads the build's artifact, attests and publishes it."""
    project = cookies.bake(extra_context={"ci": ci}).project_path
    workflow = load_yaml(project / ".github/workflows/packflow.yml")
    jobs = workflow["jobs"]
    build, publish = jobs["build"], jobs["publish"]
    assert writes(build, workflow) == set() and build["permissions"] == {"contents": "read"}
    assert writes(publish, workflow) == {"contents", "id-token", "attestations"} and publish["needs"] == "build"
    for name, job in jobs.items():
        runs = " ".join(step.get("run", "") for step in job["steps"])
        if "-r requirements.txt" in runs or "pytest" in runs or "packflow_export release" in runs:
            assert writes(job, workflow) == set(), name
    actions = [step["uses"].split("@")[0] for step in publish["steps"] if "uses" in step]
    assert actions == ["actions/download-artifact", "actions/attest-build-provenance"]
    assert [step["name"] for step in publish["steps"] if "run" in step] == ["Publish"]
    assert steps_by_name(workflow, "publish")["Publish"]["run"].startswith("gh release create ")
    (upload,) = [step for step in build["steps"] if step.get("uses", "").startswith("actions/upload-artifact@")]
    download = publish["steps"][0]
    assert upload["with"]["name"] == download["with"]["name"] and upload["with"]["if-no-files-found"] == "error"
    assert upload["with"]["path"].rstrip("/") == download["with"]["path"] == "dist"
    assert "--output-dir dist" in steps_by_name(workflow, "build")["Release"]["run"]


def runner_copy(pristine: Path, destination: Path) -> Path:
    """A private copy of the pristine runner (jobs run `python -m ...`, which works from a copied venv)."""
    return Path(shutil.copytree(pristine, destination, symlinks=True)) / "bin"


@pytest.fixture(scope="session")
def runner_venv(pristine_runner, tmp_path_factory, wheel) -> Path:
    """The runner the release jobs share; each installs what it needs, offline (the same wheel every time)."""
    return runner_copy(pristine_runner, tmp_path_factory.mktemp("release-runner") / "venv")


def runner_environment(runner_bin: Path, home: Path, **extra) -> dict:
    """What a CI job sees here: the runner's Python first on PATH (no uv, no test venv), pip offline."""
    system = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN)
    return {"PATH": f"{runner_bin}{os.pathsep}{system}", "HOME": str(home), "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(WHEELHOUSE), "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def steps_by_name(workflow: dict, job: str) -> dict:
    return {step.get("name"): step for step in workflow["jobs"][job]["steps"]}


def tagged_project(cookies, ci: str, *other_tags: str) -> tuple:
    """A default bake committed and tagged v<version> (and other_tags): (project, version, the archive's name)."""
    result = cookies.bake(extra_context={"ci": ci})
    assert result.exit_code == 0, result.exception
    project, version = result.project_path, result.context["version"]
    git_commit_all(project, "init")
    for tag in (f"v{version}", *other_tags):
        git(project, "tag", tag)
    return project, version, f"{result.context['project_slug'].replace('-', '_')}-{version}.zip"


@pytest.mark.slow
def test_github_release_job_runs_with_the_github_environment(cookies, tmp_path, runner_venv, wheel, wheelhouse):
    project, version, archive = tagged_project(cookies, "github")
    workflow = load_yaml(project / ".github/workflows/packflow.yml")
    steps = {**steps_by_name(workflow, "build"), **steps_by_name(workflow, "publish")}
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "gh").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path / 'gh-args'}\n"
                                 f"for f in \"$@\"; do case \"$f\" in dist/*) test -s \"$f\" || exit 9;; esac; done\n")
    (fake_bin / "gh").chmod(0o755)
    # The load proof's environment lands in the session's cache (PACKFLOW_EXPORT_CACHE), shared with the GitLab job.
    env = runner_environment(runner_venv, tmp_path / "home", GITHUB_ACTIONS="true", CI="true",
                             GITHUB_REF=f"refs/tags/v{version}", GITHUB_REF_NAME=f"v{version}", GITHUB_REF_TYPE="tag",
                             GITHUB_WORKSPACE=str(project), GH_TOKEN="test-token", PACKFLOW_EXPORT=str(wheel))
    env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
    for name in ("Install", "Release", "Publish"):
        result = run(["bash", "-e", "-c", steps[name]["run"]], project, env)
        assert result.returncode == 0, f"{name}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    arguments = (tmp_path / "gh-args").read_text().split()
    assert arguments[:3] == ["release", "create", f"v{version}"] and "--verify-tag" in arguments
    assert {a for a in arguments if a.startswith("dist/")} == {
        f"dist/{archive}", f"dist/{archive}.sha256", f"dist/{archive}.cdx.json"}
    attest = next(step for step in workflow["jobs"]["publish"]["steps"]
                  if "attest-build-provenance" in step.get("uses", ""))
    assert attest["with"]["subject-path"] == "dist/*.zip"
    env["GITHUB_REF_NAME"] = "v9.9.9"
    refused = run(["bash", "-e", "-c", steps["Release"]["run"]], project, env)
    assert refused.returncode == 1
    assert f"tag 'v9.9.9' does not match packflow.yaml's version {version}" in refused.stderr


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
    assert {result["ruleId"] for result in results} == {"PF301", "PF411", "PF504"}
    (project / "requirements.txt").unlink()  # findings that block a release: shown, not a failed job
    assert run(["bash", "-e", "-c", scan], project, env).returncode == 0
    results = valid_sarif(json.loads((project / "packflow.sarif").read_text()))["results"]
    assert {"ruleId": "PF101", "level": "error"}.items() <= next(r for r in results if r["ruleId"] == "PF101").items()
    (project / "packflow.yaml").unlink()  # not a project: the check itself fails, and so does the job
    assert run(["bash", "-e", "-c", scan], project, env).returncode != 0


# GitLab CI ------------------------------------------------------------------------------------------------------------

def test_gitlab_uses_the_job_token_only_in_the_release_jobs_publish_step(cookies):
    """GitLab gives every job a CI_JOB_TOKEN (nothing withholds it), so the pipeline keeps its use in one place:
    the release job's last script step, after the release command has written and checked the files."""
    project = cookies.bake(extra_context={"ci": "gitlab"}).project_path
    pipeline = load_yaml(project / ".gitlab-ci.yml")
    using = [(name, index) for name, job in pipeline.items() if isinstance(job, dict)
             for index, step in enumerate(job.get("script", []) + job.get("before_script", []))
             if "CI_JOB_TOKEN" in step]
    assert using == [("release", len(pipeline["release"]["script"]) - 1)]
    assert "CI_JOB_TOKEN" not in json.dumps(pipeline["default"]) + json.dumps(pipeline.get("variables", {}))
    assert pipeline["release"]["script"][0].startswith("python -m packflow_export release ")


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
def test_gitlab_release_job_refuses_a_wrong_tag_then_publishes_to_the_registry(cookies, tmp_path, runner_venv, wheel,
                                                                              wheelhouse, registry):
    """The release job under gitlab-ci-local (its `test` job runs in test_ecosystem's clone journey, installing
    packflow-export from the pinned clone): a tag that does not match is refused before anything is sent or
    written; the matching tag uploads the three files to the registry on 127.0.0.1 and creates the Release."""
    api, received = registry
    project, version, archive = tagged_project(cookies, "gitlab", "v9.9.9")
    variables = [f"PACKFLOW_EXPORT={wheel}", f"PIP_FIND_LINKS={WHEELHOUSE}", "PIP_NO_INDEX=1", f"CI_API_V4_URL={api}",
                 "CI_JOB_TOKEN=job-token-42", "CI_PROJECT_ID=42"]
    refused = gitlab_ci_local(project, runner_venv, tmp_path / "home", "release",
                              variables=[*variables, "CI_COMMIT_TAG=v9.9.9"])
    assert refused.returncode != 0
    assert f"tag 'v9.9.9' does not match packflow.yaml's version {version}" in refused.stdout + refused.stderr
    assert received == [] and not (project / "dist").exists()
    released = gitlab_ci_local(project, runner_venv, tmp_path / "home", "release",
                               variables=[*variables, f"CI_COMMIT_TAG=v{version}"])
    assert released.returncode == 0 and "PASS" in released.stdout, released.stdout[-4000:] + released.stderr[-2000:]
    dist = project / "dist"
    files = sorted(p.name for p in dist.iterdir())
    assert files == sorted([archive, f"{archive}.cdx.json", f"{archive}.sha256"])
    name = load_yaml(project / "packflow.yaml")["name"]
    base = f"/api/v4/projects/42/packages/generic/{name}/{version}"
    uploads = {r["path"]: r for r in received if r["method"] == "PUT"}
    assert set(uploads) == {f"{base}/{file}" for file in files}
    for file in files:
        assert uploads[f"{base}/{file}"]["body"] == (dist / file).read_bytes()
    assert {r["token"] for r in received} == {"job-token-42"}
    (release,) = [r for r in received if r["method"] == "POST"]
    assert release["path"] == "/api/v4/projects/42/releases"
    payload = json.loads(release["body"])
    assert payload["tag_name"] == f"v{version}"
    assert sorted(link["url"] for link in payload["assets"]["links"]) == sorted(
        f"{api}/projects/42/packages/generic/{name}/{version}/{file}" for file in files)
    pipeline = load_yaml(project / ".gitlab-ci.yml")
    assert pipeline["release"]["artifacts"]["expire_in"] == "never"
