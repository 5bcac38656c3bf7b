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
from deps_support import osv_subset, subset_records
from test_deps_api import StandIn

from helpers import (BIN, COOKIECUTTER_JSON, REPO, WHEELHOUSE, bake, git, git_commit_all, load_yaml, reply_json, run,
                     template_copy, valid_sarif)
from packflow_export.deps.issues import TITLE

TEMPLATE = REPO / "{{cookiecutter.__project_folder}}"
# check-jsonschema's schema of each CI file the template's providers write (a file without one is parsed as YAML).
SCHEMAS = {".github/workflows/packflow.yml": "vendor.github-workflows", ".gitlab-ci.yml": "vendor.gitlab-ci",
           ".github/workflows/audit.yml": "vendor.github-workflows", ".github/dependabot.yml": "vendor.dependabot"}
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
    linted = run([BIN / "actionlint", "-no-color", ".github/workflows/packflow.yml", ".github/workflows/audit.yml"],
                 project)
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


WRITE_PERMISSIONS = {"contents", "id-token", "attestations", "packages", "security-events", "issues"}


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


# The scheduled audit ---------------------------------------------------------------------------------------------------

VULNERABLE = "packflow==0.4.1\npyyaml==5.3\n"  # pyyaml 5.3: PYSEC-2020-96 (fixed 5.3.1) and PYSEC-2021-142 (5.4)
ADVISORIES = ("PYSEC-2020-96", "PYSEC-2021-142")
FIXED = "packflow==0.4.1\npyyaml==6.0.1\n"  # past every fix in the subset


def triggers(workflow: dict) -> dict:
    """A workflow's `on:` (YAML 1.1 reads the bare key as true)."""
    return workflow["on"] if "on" in workflow else workflow[True]


@pytest.mark.parametrize("ci", GITHUB)
def test_github_audit_is_weekly_pinned_like_packflow_yml_and_can_only_write_issues(cookies, ci):
    """Weekly and on demand; the same action commits as packflow.yml; a token that reads the code and writes issues
    only, reaching the command through the step's env (never the script's text); nothing of the project installed."""
    project = cookies.bake(extra_context={"ci": ci}).project_path
    text = (project / ".github/workflows/audit.yml").read_text()
    workflow = load_yaml(project / ".github/workflows/audit.yml")
    on = triggers(workflow)
    assert set(on) == {"schedule", "workflow_dispatch"} and len(on["schedule"]) == 1
    minute, hour, day, month, weekday = on["schedule"][0]["cron"].split()
    assert day == month == "*" and re.fullmatch(r"[0-6]", weekday) and minute.isdigit() and hour.isdigit()
    assert workflow["permissions"] == {} and list(workflow["jobs"]) == ["audit"]
    job = workflow["jobs"]["audit"]
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    uses = re.findall(r"uses: (\S+)@(\S+)\s+# (v\S+)", text)
    packflow_uses = re.findall(r"uses: (\S+)@(\S+)\s+# (v\S+)", (project / ".github/workflows/packflow.yml").read_text())
    assert [name for name, _, _ in uses] == ["actions/checkout", "actions/setup-python"]
    assert set(uses) <= set(packflow_uses)  # the same SHAs and versions: one place for dependabot to move them
    assert all(step["with"]["persist-credentials"] is False for step in job["steps"]
               if step.get("uses", "").startswith("actions/checkout@"))
    steps = steps_by_name(workflow, "audit")
    assert steps["Install"]["run"] == 'python -m pip install "$PACKFLOW_EXPORT"'
    assert workflow["env"]["PACKFLOW_EXPORT"] == load_yaml(project / ".github/workflows/packflow.yml")["env"][
        "PACKFLOW_EXPORT"]
    assert steps["Audit"]["run"] == "python -m packflow_export audit . --open-issue github"
    assert steps["Audit"]["env"] == {"GITHUB_TOKEN": "${{ secrets.GITHUB_TOKEN }}"}
    assert not any("${{" in step.get("run", "") or "requirements.txt" in step.get("run", "") for step in job["steps"])
    assert "`.github/workflows/audit.yml` audits `requirements.txt`" in (project / "README.md").read_text()


class Tracker(http.server.ThreadingHTTPServer):
    """GitHub's or GitLab's Issues API on 127.0.0.1: keeps the issues it is sent and records every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TrackerHandler)
        self.issues: list = []
        self.received: list = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class TrackerHandler(http.server.BaseHTTPRequestHandler):
    server: Tracker

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length)) if length else None
        token = self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN")
        self.server.received.append({"method": self.command, "path": self.path, "token": token, "payload": payload})
        status, body = 200, None
        if self.command == "GET":
            body = [issue for issue in self.server.issues if issue["state"] in ("open", "opened")]
        elif self.command == "POST":
            number = len(self.server.issues) + 1
            body = {"number": number, "iid": number, "title": payload["title"], "state": "open",
                    "html_url": f"{self.server.url}/issues/{number}", "web_url": f"{self.server.url}/issues/{number}"}
            self.server.issues.append(body)
            status = 201
        else:  # PATCH (GitHub) or PUT (GitLab) of issues/<number>
            body = self.server.issues[int(self.path.rsplit("/", 1)[1]) - 1]
            if payload.get("state") == "closed" or payload.get("state_event") == "close":
                body["state"] = "closed"
        reply_json(self, status, body)

    do_GET = do_POST = do_PATCH = do_PUT = _answer


@pytest.fixture
def tracker():
    server = Tracker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_github_audit_opens_then_updates_then_closes_one_issue(tmp_path, runner_venv, wheel, wheelhouse, tracker):
    """The audit job's steps with the GitHub environment, the real advisories offline and the Issues API on
    127.0.0.1: a vulnerable pin opens one issue naming the advisories, the package and the maintainers (and fails
    the run); the next run updates that issue rather than open another; once fixed, it is closed."""
    project = bake(tmp_path / "bake", ci="github")
    (project / "requirements.txt").write_text(VULNERABLE, encoding="utf-8")
    workflow = load_yaml(project / ".github/workflows/audit.yml")
    steps = steps_by_name(workflow, "audit")
    env = runner_environment(runner_venv, tmp_path / "home", GITHUB_ACTIONS="true", CI="true",
                             GITHUB_EVENT_NAME="schedule", GITHUB_REPOSITORY="example-org/my-analytic",
                             GITHUB_API_URL=tracker.url, GITHUB_WORKSPACE=str(project), PACKFLOW_EXPORT=str(wheel),
                             PACKFLOW_EXPORT_OSV_DB=str(osv_subset()))
    installed = run(["bash", "-e", "-c", steps["Install"]["run"]], project, env)
    assert installed.returncode == 0, installed.stderr[-3000:]
    # The Audit step's env as Actions evaluates it: the workflow's token is the one secret it may name.
    env.update({name: "ghs_audit_token" for name, value in steps["Audit"]["env"].items()
                if value == "${{ secrets.GITHUB_TOKEN }}"})
    audit = ["bash", "-e", "-c", steps["Audit"]["run"]]
    first = run(audit, project, env)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]  # a known vulnerability fails the run
    base = "/repos/example-org/my-analytic/issues"
    assert [(r["method"], r["path"]) for r in tracker.received] == [("GET", f"{base}?state=open&per_page=100"),
                                                                    ("POST", base)]
    assert {r["token"] for r in tracker.received} == {"Bearer ghs_audit_token"}
    opened = tracker.received[1]["payload"]
    assert opened["title"] == TITLE and "vulnerab" in TITLE.lower()
    for needle in (*ADVISORIES, "`pyyaml==5.3`", ">= 5.3.1", ">= 5.4", "CVE-2020-1747", "my-analytic 0.1.0",
                   "maintainer@example.org"):
        assert needle in opened["body"], needle
    tracker.received.clear()
    assert run(audit, project, env).returncode == 1
    assert [(r["method"], r["path"]) for r in tracker.received][1:] == [("PATCH", f"{base}/1")]
    assert set(tracker.received[1]["payload"]) == {"body"} and all(a in tracker.received[1]["payload"]["body"]
                                                                   for a in ADVISORIES)
    assert len(tracker.issues) == 1
    tracker.received.clear()
    (project / "requirements.txt").write_text(FIXED, encoding="utf-8")
    fixed = run(audit, project, env)
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    assert [(r["method"], r["path"], r["payload"]) for r in tracker.received][1:] == [
        ("PATCH", f"{base}/1", {"state": "closed"})]
    assert tracker.issues[0]["state"] == "closed"


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


def pipeline_jobs(project, runner_venv, home, source: str) -> set:
    """The jobs a pipeline from `source` (push, schedule, web...) runs, as gitlab-ci-local evaluates the rules."""
    listed = gitlab_ci_local(project, runner_venv, home, "--list-json", variables=[f"CI_PIPELINE_SOURCE={source}"])
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    return {job["name"] for job in json.loads(listed.stdout[listed.stdout.index("\n[") + 1:]) if job["when"] != "never"}


def test_gitlab_audit_runs_in_scheduled_and_manual_pipelines_only_and_installs_nothing_of_the_project(cookies,
                                                                                                      tmp_path,
                                                                                                      runner_venv):
    result = cookies.bake(extra_context={"ci": "gitlab"})
    project = result.project_path
    git_commit_all(project, "init")
    assert pipeline_jobs(project, runner_venv, tmp_path / "home", "push") == {"test"}
    assert pipeline_jobs(project, runner_venv, tmp_path / "home", "merge_request_event") == {"test"}
    assert "audit" in pipeline_jobs(project, runner_venv, tmp_path / "home", "schedule")
    assert "audit" in pipeline_jobs(project, runner_venv, tmp_path / "home", "web")
    audit = load_yaml(project / ".gitlab-ci.yml")["audit"]
    assert audit["before_script"] == ['python -m pip install "$PACKFLOW_EXPORT"']  # not the project's requirements
    assert "--open-issue gitlab" in audit["script"][0] and "PACKFLOW_AUDIT_GITLAB_TOKEN" in audit["script"][0]
    readme = (project / "README.md").read_text()  # where the maintainer learns to schedule it and set the token
    assert "Pipeline schedules" in readme and "`PACKFLOW_AUDIT_GITLAB_TOKEN`" in readme


@pytest.mark.slow
def test_gitlab_scheduled_audit_opens_an_issue_with_the_token_and_fails_the_pipeline_without(
        cookies, tmp_path, runner_venv, wheel, wheelhouse, tracker):
    """The audit job under gitlab-ci-local in a scheduled pipeline, against stand-ins on 127.0.0.1 for OSV's API
    (serving the real subset) and GitLab's Issues API: with the token it opens the issue (and the job fails, a
    vulnerability being known); without it nothing is sent and the failed job is the alert."""
    result = cookies.bake(extra_context={"ci": "gitlab"})
    project = result.project_path
    (project / "requirements.txt").write_text(VULNERABLE, encoding="utf-8")
    git_commit_all(project, "init")
    osv = StandIn(subset_records())
    thread = threading.Thread(target=osv.serve_forever, daemon=True)
    thread.start()
    variables = [f"PACKFLOW_EXPORT={wheel}", f"PIP_FIND_LINKS={WHEELHOUSE}", "PIP_NO_INDEX=1",
                 "CI_PIPELINE_SOURCE=schedule", f"PACKFLOW_EXPORT_OSV_URL={osv.url}",
                 f"CI_API_V4_URL={tracker.url}/api/v4", "CI_PROJECT_ID=42"]
    try:
        opened = gitlab_ci_local(project, runner_venv, tmp_path / "home", "audit",
                                 variables=[*variables, "PACKFLOW_AUDIT_GITLAB_TOKEN=glpat-audit-42"])
        queried = {(q["package"]["name"], q["version"]) for method, _, payload in osv.log if method == "POST"
                   for q in payload["queries"]}
        sent = list(tracker.received)
        tracker.received.clear()
        alone = gitlab_ci_local(project, runner_venv, tmp_path / "home", "audit", variables=variables)
    finally:
        osv.shutdown()
        osv.server_close()
    output = opened.stdout + opened.stderr
    assert opened.returncode != 0 and "FAIL  audit" in output, output[-4000:]
    assert queried == {("packflow", "0.4.1"), ("pyyaml", "5.3")}
    assert [r["method"] for r in sent] == ["GET", "POST"] and {r["token"] for r in sent} == {"glpat-audit-42"}
    assert sent[0]["path"].startswith("/api/v4/projects/42/issues?state=opened&")
    assert sent[1]["path"] == "/api/v4/projects/42/issues" and sent[1]["payload"]["title"] == TITLE
    for needle in (*ADVISORIES, "`pyyaml==5.3`", ">= 5.4", "maintainer@example.org"):
        assert needle in sent[1]["payload"]["description"], needle
    output = alone.stdout + alone.stderr
    assert alone.returncode != 0 and "FAIL  audit" in output and "PYSEC-2021-142" in output, output[-4000:]
    assert tracker.received == []
