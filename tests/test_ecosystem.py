"""The journeys a newcomer walks, each with the real tools: a bake from a local clone whose pre-commit and CI install
what they pin, bakes from URLs and cruft updates that move the pin, and an organisation's fork made by following
the README's guide that passes its own tests."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import jsonschema
import pytest

from helpers import (BIN, OFFLINE_PIP, REPO, bake_cli, git,
                     git_commit_all, load_yaml, run, template_copy)
from test_ci import GITLAB_CI_LOCAL, runner_copy, runner_environment

README = (REPO / "README.md").read_text(encoding="utf-8")
NOTE = "packflow-template: note:"


def notices(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith(NOTE)]


def head(folder: Path) -> str:
    return git(folder, "rev-parse", "HEAD").strip()


def local_url(folder: Path) -> str:
    """How a pin names a repository on this machine: file://localhost/..., which git and every pip read."""
    return "file://localhost" + quote(folder.as_posix())


# Where generated projects get packflow-export: the template they were baked from, pinned ---------------------

@pytest.fixture
def published_template(tmp_path):
    """A copy of this template as a git repository reachable by URL (file://), as a fork on a server would be."""
    template = template_copy(tmp_path / "template")
    return f"git+file://{template}", head(template), template


def test_bakes_from_a_git_url_pin_packflow_export_schema_and_hook_to_that_revision(tmp_path, published_template):
    template_url, commit, _ = published_template
    baked = bake_cli(tmp_path / "out", "ci=github", template=template_url)
    assert baked.returncode == 0, baked.stderr
    (said,) = notices(baked.stderr)  # a file URL is this machine's: the bake says so
    assert "only this machine can reach" in said and "__template_repository" in said
    _, _, template = published_template
    url = local_url(template)  # pip before 23.3 cannot read git+file:///
    project = tmp_path / "out" / "my-analytic"
    workflow = load_yaml(project / ".github/workflows/packflow.yml")
    assert workflow["env"]["PACKFLOW_EXPORT"] == f"packflow-export @ git+{url}@{commit}"
    config = load_yaml(project / ".pre-commit-config.yaml")
    assert config["repos"] == [{"repo": url, "rev": commit, "hooks": [{"id": "packflow-check"}]}]
    first = (project / "packflow.yaml").read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema={template.as_uri()}/packflow_export/packflow.schema.json"
    assert f"packflow-export @ git+{url}@{commit}" in (project / "README.md").read_text()


def test_a_plain_file_url_stops_in_cookiecutter_so_the_readme_gives_the_form_that_works(tmp_path, published_template):
    """cookiecutter 2.x guesses the VCS from the URL's text before any template code runs, so `file:///...` without
    'git' in it stops inside cookiecutter (UnknownRepoType) and no hook can explain it; the README says so and
    gives `git+file://`, which the test above bakes from. Should cookiecutter learn file://, this fails: update
    the README."""
    _, _, template = published_template
    plain = bake_cli(tmp_path / "out", template=template.as_uri())
    assert plain.returncode != 0 and "UnknownRepoType" in plain.stderr
    assert "`git+file://" in README and "UnknownRepoType" in README


def pins(project: Path) -> set:
    """Every place a baked project names where packflow-export comes from (CI, pre-commit, the README)."""
    found = {load_yaml(project / ".pre-commit-config.yaml")["repos"][0]["repo"] + "@" +
             load_yaml(project / ".pre-commit-config.yaml")["repos"][0]["rev"]}
    for name in (".gitlab-ci.yml", ".github/workflows/packflow.yml", ".github/workflows/audit.yml", "README.md"):
        if (project / name).is_file():
            found |= set(re.findall(r"packflow-export @ git\+(\S+?)\"", (project / name).read_text()))
    return found


@pytest.mark.parametrize("origin, repository, expected, notice", [
    (None, None, "clone", "file://localhost/"),  # the README's case: a local clone, upstream's placeholder repository
    ("folder", None, "clone", "set __template_repository in cookiecutter.json"),
    ("folder", "https://git.acme.example/ml/packflow-template", "https://git.acme.example/ml/packflow-template", None),
    ("unpushed", None, "origin", "which no branch there holds yet: push it"),
])
def test_a_local_bake_pins_something_reachable_or_says_what_to_set(cookies, capfd, tmp_path, origin, repository,
                                                                   expected, notice):
    upstream = template_copy(tmp_path / "upstream")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", f"file://{upstream}" if origin == "unpushed" else str(upstream), str(clone))
    if origin is None:
        git(clone, "remote", "remove", "origin")
    if repository or origin == "unpushed":
        settings = json.loads((clone / "cookiecutter.json").read_text())
        settings["__template_repository"] = repository or settings["__template_repository"]
        settings["description"] = settings["description"] + " (local)"
        (clone / "cookiecutter.json").write_text(json.dumps(settings, indent=2) + "\n")
        git_commit_all(clone, "a local commit")
    capfd.readouterr()
    result = cookies.bake(template=str(clone))
    assert result.exit_code == 0, result.exception
    where = {"clone": local_url(clone), "origin": local_url(upstream)}.get(expected, expected)
    assert pins(result.project_path) == {f"{where}@{head(clone)}"}
    said = notices(capfd.readouterr().err)
    assert (said == []) if notice is None else (len(said) == 1 and notice in said[0]), said


def test_a_folder_that_is_not_a_git_clone_says_nothing_pins_it(cookies, capfd, tmp_path):
    copy = template_copy(tmp_path / "copy")
    subprocess.run(["rm", "-rf", str(copy / ".git")], check=True)
    result = cookies.bake(template=str(copy))
    assert result.exit_code == 0, result.exception
    (said,) = notices(capfd.readouterr().err)
    assert "is not a git clone" in said and "set __template_repository in cookiecutter.json" in said


@pytest.fixture
def clone_runner(pristine_runner, tmp_path):
    """A CI runner's Python of its own (the job installs the pinned packflow-export into it)."""
    return runner_copy(pristine_runner, tmp_path / "runner")


@pytest.mark.slow
def test_the_readme_first_command_from_a_local_clone_gives_working_pre_commit_and_ci(tmp_path, clone_runner,
                                                                                   wheelhouse, monkeypatch):
    """Clone the template, run the README's first command there (its venv is this test's, which holds cookiecutter
    and packflow-export), answering ci=gitlab by name: the bake says in one line what it pinned; then offline, the
    project's pre-commit hook and its GitLab `test` job install packflow-export from exactly that pin and pass."""
    command = next(line for line in README.splitlines() if "/cookiecutter --no-input" in line and "&&" in line)
    steps = [shlex.split(step) for step in command.split("&&")]
    bake_step, export = next(s for s in steps if s[0] == ".venv/bin/cookiecutter"), steps[-1]
    upstream = template_copy(tmp_path / "upstream")
    clone = tmp_path / "packflow-template"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    (clone / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN))
    baked = run([*bake_step, "ci=gitlab"], clone, {"PYTHONPATH": None})
    assert baked.returncode == 0, baked.stderr
    (said,) = notices(baked.stderr)
    assert f"{local_url(clone)}@{head(clone)[:12]}" in said and "__template_repository" in said
    project = clone / "my-analytic"
    assert pins(project) == {f"{local_url(clone)}@{head(clone)}"}
    exported = run(export, clone, {"PYTHONPATH": None})
    assert exported.returncode == 0 and (clone / "my_analytic-0.1.0.zip").is_file(), exported.stderr
    git_commit_all(project, "baked")

    job = run([GITLAB_CI_LOCAL, "--force-shell-executor", "--no-color", "--variable", f"PIP_FIND_LINKS={wheelhouse}",
               "--variable", "PIP_NO_INDEX=1", "test"], project,
              {**runner_environment(clone_runner, tmp_path / "home"), "PYTHONPATH": None}, timeout=900)
    assert job.returncode == 0 and "PASS" in job.stdout, job.stdout[-4000:] + job.stderr[-2000:]
    assert f"git+{local_url(clone)}@{head(clone)}" in job.stdout  # the job installed the pin, nothing else

    hook = [BIN / "pre-commit", "run", "--all-files"]
    passed = run(hook, project, {**OFFLINE_PIP, "PYTHONPATH": None})
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "packflow readiness check" in passed.stdout and "Passed" in passed.stdout
    (project / "requirements.txt").write_text("numpy==2.1.0\n")
    failed = run(hook, project, {**OFFLINE_PIP, "PYTHONPATH": None})
    assert failed.returncode == 1 and "PF402" in failed.stdout


def test_generated_readme_first_screen_locks_then_installs_tests_and_exports(default_bake):
    """The first commands a maintainer meets: the tools with uv, the lock (before anything installs from it), then
    the install, the tests and the export."""
    lines = (default_bake / "README.md").read_text().splitlines()[:25]
    start = lines.index("```bash", lines.index("## Next steps"))
    commands = [line.split("  #")[0].strip() for line in lines[start + 1: lines.index("```", start)]]
    assert len(commands) == 5 and all(command.startswith("python -m ") for command in commands)
    assert "pytest" in commands[0] and '"packflow-export[lock] @ git+' in commands[0]
    assert commands[1] == "python -m packflow_export lock"
    assert commands[2] == "python -m pip install -r requirements.txt"
    assert "pytest" in commands[3] and commands[4].startswith("python -m packflow_export")


def test_pre_commit_hook_definition():
    (hook,) = load_yaml(REPO / ".pre-commit-hooks.yaml")
    assert hook["id"] == "packflow-check" and hook["language"] == "python" and hook["pass_filenames"] is True
    assert hook["entry"] == "packflow-export hook"


# cruft -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cruft_create_check_and_update(tmp_path):
    template = template_copy(tmp_path / "template")
    created = run([BIN / "cruft", "create", template, "--no-input", "--output-dir", tmp_path / "out"], tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "out" / "my-analytic"
    assert json.loads((project / ".cruft.json").read_text())["template"] == str(template)
    assert load_yaml(project / ".pre-commit-config.yaml")["repos"][0] == {
        "repo": local_url(template), "rev": head(template), "hooks": [{"id": "packflow-check"}]}
    git_commit_all(project, "created with cruft")
    assert run([BIN / "cruft", "check"], project).returncode == 0
    readme = template / "{{cookiecutter.__project_folder}}" / "README.md"
    readme.write_text(readme.read_text() + "\nTemplate change: the release checklist moved to CONTRIBUTING.\n")
    git_commit_all(template, "a later template change")
    assert run([BIN / "cruft", "check"], project).returncode == 1
    pinned = load_yaml(project / ".pre-commit-config.yaml")["repos"][0]["rev"]
    updated = run([BIN / "cruft", "update", "--skip-apply-ask"], project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (project / "README.md").read_text().endswith("the release checklist moved to CONTRIBUTING.\n")
    assert pinned != head(template)
    assert load_yaml(project / ".pre-commit-config.yaml")["repos"][0]["rev"] == head(template)
    assert not list(project.rglob("*.rej"))
    git_commit_all(project, "updated with cruft")
    assert run([BIN / "cruft", "check"], project).returncode == 0


# An organisation's fork, made by following the README's guide -------------------------------------------------

MPL_TEXT = """Mozilla Public License Version 2.0
==================================

Copyright (c) {% now "utc", "%Y" %} {{ cookiecutter.organization }}

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0. If a copy of the MPL was not
distributed with this file, You can obtain one at https://mozilla.org/MPL/2.0/.
"""
FORK_URL = "https://git.acme.example/ml/packflow-template"
# The tests that read what a fork changes (defaults, license choices, the policy, the schema): they run in the fork.
FORK_TESTS = ["tests/test_template.py", "tests/test_schema.py", "tests/test_schema_generation.py",
              "tests/test_policy.py",
              "tests/test_rules_files_and_documents.py::test_license_text_must_match_declared_license",
              "tests/test_rules_config.py::test_packflow_yaml_rule_fires",
              "tests/test_release.py::test_sbom_is_valid_cyclonedx_1_6_and_describes_the_release"]
# Of test_template.py, the tests whose expectations come from the template's data (the rest test fixed inputs).
# (test_schema's property test is left to test_schema_generation's, which runs fork-like policies.)
FORK_SELECTION = ("not hostile and not property and not invalid and not upstream and not dotted and not validate_py "
                  "and not choice_outside and (not matrix or MPL)")


def follow_the_fork_guide(fork: Path) -> None:
    """The README's fork guide, step by step, on a copy of the repository: data files only."""
    for step in ("templates/licenses/<SPDX>.txt", "license_markers", "answers.json", "required_fields",
                 "python -m packflow_export.schema --write", "__template_repository"):
        assert step in README, f"the README's fork guide no longer names {step!r}"
    (fork / "templates" / "licenses" / "MPL-2.0.txt").write_text(MPL_TEXT)
    settings = json.loads((fork / "cookiecutter.json").read_text())
    settings = {**{k: v for k, v in settings.items() if not k.startswith("_")}, "cost_center": "CC-0000",
                **{k: v for k, v in settings.items() if k.startswith("_")}}
    settings["license"] = ["MPL-2.0", *settings["license"]]  # the fork's default
    settings["__prompts__"]["license"]["MPL-2.0"] = "Mozilla Public License 2.0"
    settings["__prompts__"]["cost_center"] = "Cost center (CC- and four digits)"
    settings["__template_repository"] = FORK_URL
    (fork / "cookiecutter.json").write_text(json.dumps(settings, indent=2) + "\n")
    answers = json.loads((fork / "answers.json").read_text())
    answers["answers"]["cost_center"] = {"pattern": "CC-[0-9]{4}", "message": "must be CC- and four digits, "
                                         "e.g. CC-1234", "extra": True}
    (fork / "answers.json").write_text(json.dumps(answers, indent=2) + "\n")
    policy = fork / "packflow_export" / "policy.yaml"
    policy.write_text(policy.read_text().replace("required_fields: []", "required_fields: [cost_center]").replace(
        "license_markers:\n", 'license_markers:\n  MPL-2.0: ["Mozilla Public License", "v. 2.0"]\n'))
    regenerated = run([sys.executable, "-m", "packflow_export.schema", "--write"], fork, {"PYTHONPATH": str(fork)})
    assert regenerated.returncode == 0, regenerated.stderr


@pytest.mark.slow
def test_a_fork_made_by_following_the_guide_passes_its_own_tests(tmp_path):
    fork = template_copy(tmp_path / "fork")
    follow_the_fork_guide(fork)
    changed = sorted(line[3:] for line in git(fork, "status", "--porcelain", "--untracked-files=all").splitlines())
    assert changed == ["answers.json", "cookiecutter.json", "packflow_export/packflow.schema.json",
                       "packflow_export/policy.yaml", "templates/licenses/MPL-2.0.txt"]  # data only, no Python
    git_commit_all(fork, "Acme: MPL-2.0, cost_center, our repository")

    selection = f"({FORK_SELECTION} or not test_template) and not test_property_schema"
    own = run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "--basetemp", tmp_path / "fork-tests",
               "-k", selection, *FORK_TESTS], fork, {"PYTHONPATH": None}, timeout=1200)
    assert own.returncode == 0 and " passed" in own.stdout, own.stdout[-6000:] + own.stderr[-2000:]
    assert "skipped" not in own.stdout and "deselected" in own.stdout

    baked = bake_cli(tmp_path / "baked", template=fork)
    assert baked.returncode == 0 and notices(baked.stderr) == [], baked.stderr
    project = tmp_path / "baked" / "my-analytic"
    config = load_yaml(project / "packflow.yaml")
    assert config["extra"]["license"] == "MPL-2.0" and config["extra"]["cost_center"] == "CC-0000"
    assert (project / "LICENSE.txt").read_text().startswith("Mozilla Public License Version 2.0")
    assert pins(project) == {f"{FORK_URL}@{head(fork)}"}
    fork_check = [sys.executable, "-m", "packflow_export", "check", project, "--json"]
    assert run(fork_check, tmp_path, {"PYTHONPATH": str(fork)}).returncode == 0
    text = (project / "packflow.yaml").read_text()
    (project / "packflow.yaml").write_text(text.replace('  cost_center: "CC-0000"\n', ""))
    missing = run(fork_check, tmp_path, {"PYTHONPATH": str(fork)})
    assert missing.returncode == 1
    assert [f["code"] for f in json.loads(missing.stdout)["findings"] if f["severity"] == "error"] == ["PF214"]
    schema = json.loads((fork / "packflow_export" / "packflow.schema.json").read_text())
    errors = jsonschema.Draft202012Validator(schema).iter_errors(load_yaml(project / "packflow.yaml"))
    assert [e.message for e in errors] == ["'cost_center' is a required property"]  # what an editor shows
    (project / "packflow.yaml").write_text(text)
    (project / "LICENSE.txt").write_text((REPO / "templates" / "licenses" / "MIT.txt").read_text())
    wrong = json.loads(run(fork_check, tmp_path, {"PYTHONPATH": str(fork)}).stdout)
    assert [f["message"] for f in wrong["findings"] if f["code"] == "PF303"] == [
        "LICENSE.txt does not read like MPL-2.0 (missing 'Mozilla Public License')"]
