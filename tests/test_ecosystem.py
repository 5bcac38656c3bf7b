"""Native to the tools teams use: generated CI, pre-commit, cruft updates, and an organisation's fork."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import (BIN, COOKIECUTTER_JSON, OFFLINE_PIP, REPO, bake, bake_cli, build_wheel, clean_venv, git,
                      git_commit_all, load_yaml, run, run_cli, template_copy)


# Where generated projects get packflow-export: the template they were baked from, pinned ---------------------

@pytest.fixture
def published_template(tmp_path):
    """A copy of this template as a git repository reachable by URL (file://), as a fork on a server would be."""
    template = template_copy(tmp_path / "template")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=template, capture_output=True, text=True).stdout.strip()
    return f"git+file://{template}", commit, template


def test_bakes_from_a_git_url_pin_packflow_export_schema_and_hook_to_that_revision(tmp_path, published_template):
    template_url, commit, _ = published_template
    baked = bake_cli(tmp_path / "out", "ci=github", template=template_url)
    assert baked.returncode == 0, baked.stderr
    url = template_url.removeprefix("git+")
    project = tmp_path / "out" / "my-analytic"
    workflow = load_yaml(project / ".github/workflows/packflow.yml")
    assert workflow["env"]["PACKFLOW_EXPORT"] == f"packflow-export @ git+{url}@{commit}"
    config = load_yaml(project / ".pre-commit-config.yaml")
    assert config["repos"] == [{"repo": url, "rev": commit, "hooks": [{"id": "packflow-check"}]}]
    first = (project / "packflow.yaml").read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema={url}/raw/{commit}/packflow_export/packflow.schema.json"
    assert f"packflow-export @ git+{url}@{commit}" in (project / "README.md").read_text()


def test_a_local_path_bake_falls_back_to_the_template_repository(default_bake, tmp_path):
    """Baked from a folder, or from a clone whose origin is another folder (no URL anyone else can reach), the
    project points at __template_repository, pinned to the commit it was baked from."""
    expected = f"packflow-export @ git+{COOKIECUTTER_JSON['__template_repository']}"
    workflow = load_yaml(default_bake / ".github/workflows/packflow.yml")
    assert workflow["env"]["PACKFLOW_EXPORT"].startswith(expected)
    clone = template_copy(tmp_path / "template")
    git(clone, "remote", "add", "origin", str(tmp_path))
    project = bake(tmp_path / "out", template=clone)
    pinned = load_yaml(project / ".github/workflows/packflow.yml")["env"]["PACKFLOW_EXPORT"]
    assert pinned == f"{expected}@{git(clone, 'rev-parse', 'HEAD').strip()}"
    assert (project / "packflow.yaml").read_text().startswith("# yaml-language-server: $schema=https://")


@pytest.mark.slow
def test_the_pinned_requirement_installs(tmp_path, published_template, wheelhouse):
    url, commit, _ = published_template
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
                     f"packflow-export @ {url}@{commit}"], tmp_path, {**OFFLINE_PIP, "PYTHONPATH": None})
    assert installed.returncode == 0, installed.stderr[-3000:]
    version = run([venv / "bin" / "packflow-export", "--version"], tmp_path)
    assert version.stdout.startswith("packflow_export ")


def test_generated_readme_first_screen_gives_the_next_three_commands(default_bake):
    lines = (default_bake / "README.md").read_text().splitlines()[:25]
    block = lines[lines.index("## Next steps") + 2: lines.index("## Next steps") + 7]
    commands = [line for line in block if line.startswith("python -m ")]
    assert len(commands) == 3
    assert "pip install -r requirements.txt" in commands[0] and "pytest" in commands[1]
    assert commands[2].startswith("python -m packflow_export")


# pre-commit ------------------------------------------------------------------------------------------

def test_pre_commit_hook_definition():
    (hook,) = load_yaml(REPO / ".pre-commit-hooks.yaml")
    assert hook["id"] == "packflow-check" and hook["language"] == "python" and hook["pass_filenames"] is False
    assert hook["entry"] == "packflow-export check"


@pytest.mark.slow
def test_pre_commit_try_repo_runs_the_check(project, tmp_path, wheelhouse):
    hook_repository = template_copy(tmp_path / "template")
    git_commit_all(project, "project")
    env = dict(OFFLINE_PIP, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    command = [BIN / "pre-commit", "try-repo", hook_repository, "packflow-check", "--all-files"]
    passed = run(command, project, env)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "packflow readiness check" in passed.stdout and "Passed" in passed.stdout
    (project / "requirements.txt").write_text("numpy==2.1.0\n")
    git_commit_all(project, "drop packflow")
    failed = run(command, project, env)
    assert failed.returncode == 1 and "PF402" in failed.stdout


# cruft -----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_generated_pre_commit_config_passes_on_a_fresh_bake(tmp_path, published_template, wheelhouse):
    url, commit, _ = published_template
    assert bake_cli(tmp_path / "out", template=url).returncode == 0
    project = tmp_path / "out" / "my-analytic"
    git_commit_all(project, "baked")
    env = dict(OFFLINE_PIP, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    passed = run([BIN / "pre-commit", "run", "--all-files"], project, env)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "packflow readiness check" in passed.stdout and "Passed" in passed.stdout
    (project / "requirements.txt").write_text("numpy==2.1.0\n")
    failed = run([BIN / "pre-commit", "run", "--all-files"], project, env)
    assert failed.returncode == 1 and "PF402" in failed.stdout


@pytest.mark.slow
def test_cruft_create_check_and_update(tmp_path):
    template = template_copy(tmp_path / "template")
    created = run([BIN / "cruft", "create", template, "--no-input", "--output-dir", tmp_path / "out"], tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "out" / "my-analytic"
    assert json.loads((project / ".cruft.json").read_text())["template"] == str(template)
    git_commit_all(project, "created with cruft")
    assert run([BIN / "cruft", "check"], project).returncode == 0
    readme = template / "{{cookiecutter.__project_folder}}" / "README.md"
    readme.write_text(readme.read_text() + "\nTemplate change: the release checklist moved to CONTRIBUTING.\n")
    git_commit_all(template, "a later template change")
    assert run([BIN / "cruft", "check"], project).returncode == 1
    pinned = load_yaml(project / ".pre-commit-config.yaml")["repos"][0]["rev"]
    updated = run([BIN / "cruft", "update", "--skip-apply-ask"], project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (project / "README.md").read_text().endswith("Template change: the release checklist moved to CONTRIBUTING.\n")
    new_commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=template, capture_output=True, text=True).stdout.strip()
    assert pinned != new_commit and load_yaml(project / ".pre-commit-config.yaml")["repos"][0]["rev"] == new_commit
    assert not list(project.rglob("*.rej"))
    git_commit_all(project, "updated with cruft")
    assert run([BIN / "cruft", "check"], project).returncode == 0


# An organisation's fork ------------------------------------------------------------------------------

@pytest.mark.slow
def test_fork_changes_defaults_and_policy_by_data_alone(tmp_path, wheelhouse):
    fork = template_copy(tmp_path / "fork")
    settings = json.loads((fork / "cookiecutter.json").read_text())
    settings["organization"] = "Acme Analytics"
    settings["maintainers"] = "ml-team@acme.example"
    settings["license"] = ["Apache-2.0", "Proprietary"]
    settings["__template_repository"] = "https://git.acme.example/ml/packflow-template"
    (fork / "cookiecutter.json").write_text(json.dumps(settings, indent=2) + "\n")
    policy = fork / "packflow_export" / "policy.yaml"
    policy.write_text(policy.read_text().replace("required_fields: []", "required_fields: [classification]")
                      .replace("allowed_licenses: []", "allowed_licenses: [Apache-2.0, Proprietary]"))
    changed = run(["git", "diff", "--name-only"], fork).stdout.split()
    assert sorted(changed) == ["cookiecutter.json", "packflow_export/policy.yaml"]  # data only, no Python
    git_commit_all(fork, "Acme defaults and policy")

    baked = bake_cli(tmp_path / "baked", template=fork)
    assert baked.returncode == 0, baked.stderr
    project = tmp_path / "baked" / "my-analytic"
    config = load_yaml(project / "packflow.yaml")
    assert config["extra"]["organization"] == "Acme Analytics" and config["extra"]["license"] == "Apache-2.0"
    assert config["maintainers"] == ["ml-team@acme.example"]
    assert "Apache License" in (project / "LICENSE.txt").read_text()
    assert "git.acme.example/ml/packflow-template" in (project / "README.md").read_text()

    bin_dir = clean_venv(tmp_path / "venv", build_wheel(fork, tmp_path / "dist"), wheelhouse=wheelhouse)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    installed = subprocess.run([bin_dir / "packflow-export", "check", project, "--json"], capture_output=True,
                               text=True, env=env)
    via_flag = run_cli("check", project, "--json", "--policy", policy)
    for result in (installed, via_flag):
        report = json.loads(result.stdout)
        assert result.returncode == 1
        assert [f["code"] for f in report["findings"] if f["severity"] == "error"] == ["PF214"]
    text = (project / "packflow.yaml").read_text()
    (project / "packflow.yaml").write_text(text.replace("extra:\n", "extra:\n  classification: \"internal\"\n"))
    assert subprocess.run([bin_dir / "packflow-export", "check", project], capture_output=True, env=env).returncode == 0
    assert run_cli("check", project, "--policy", policy).returncode == 0
    assert run_cli("check", project).returncode == 0  # the upstream template's own policy requires nothing extra


ISC_TEXT = """ISC License

Copyright (c) {% now "utc", "%Y" %} {{ cookiecutter.organization }}

Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby
granted, provided that the above copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE.
"""


@pytest.mark.slow
def test_fork_guide_adds_a_license_that_check_can_tell_apart(tmp_path):
    """Follow the README's 'add a license' row literally: text, choice, markers. Then check agrees with LICENSE.txt."""
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| add a license"))
    assert "templates/licenses/<SPDX>.txt" in row and "`license`" in row and "license_markers" in row
    fork = template_copy(tmp_path / "fork")
    (fork / "templates" / "licenses" / "ISC.txt").write_text(ISC_TEXT)
    settings = json.loads((fork / "cookiecutter.json").read_text())
    settings["license"] = ["ISC"] + settings["license"]
    settings["__prompts__"]["license"]["ISC"] = "ISC"
    (fork / "cookiecutter.json").write_text(json.dumps(settings, indent=2) + "\n")
    policy = fork / "packflow_export" / "policy.yaml"
    policy.write_text(policy.read_text().replace(
        "license_markers:\n", 'license_markers:\n  ISC: ["Permission to use, copy, modify, and/or distribute this software"]\n'))
    git_commit_all(fork, "add ISC")
    baked = bake_cli(tmp_path / "baked", template=fork)
    assert baked.returncode == 0, baked.stderr
    project = tmp_path / "baked" / "my-analytic"
    assert load_yaml(project / "packflow.yaml")["extra"]["license"] == "ISC"
    assert (project / "LICENSE.txt").read_text().startswith("ISC License")
    ok = run_cli("check", project, "--json", "--policy", policy)
    assert ok.returncode == 0 and "PF303" not in ok.stdout
    (project / "LICENSE.txt").write_text((REPO / "templates" / "licenses" / "MIT.txt").read_text())
    wrong = json.loads(run_cli("check", project, "--json", "--policy", policy).stdout)
    assert [f["message"] for f in wrong["findings"] if f["code"] == "PF303"] == [
        "LICENSE.txt does not read like ISC (missing 'Permission to use, copy, modify, and/or distribute this software')"]
