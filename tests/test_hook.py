"""The commit hook keeps secrets out of git: every file being committed is scanned, whatever .packflowignore says;
only the rules that make sense at commit time run; a secret's hint says to take it out of the commit and rotate it.
End to end with real git and real pre-commit on a baked project, and the `hook` command itself."""

from __future__ import annotations

import re
import shutil

import pytest

from helpers import BIN, OFFLINE_PIP, REPO, bake, git, git_commit_all, load_yaml, run, run_cli, template_copy

AKIA = "AKIA" + "Q3EGRW7KZ2BN5M4P"  # an AWS access key id's shape, split so no scanner flags this file
DEPLOY = f"aws:\n  region: eu-west-1\n  access_key_id: {AKIA}\n"


def test_the_hook_definition_runs_the_hook_command_on_every_file_being_committed():
    (hook,) = load_yaml(REPO / ".pre-commit-hooks.yaml")
    assert hook["entry"] == "packflow-export hook" and hook["pass_filenames"] is True
    assert "files" not in hook and "types" not in hook and hook["require_serial"] is True


def test_hook_scans_the_files_named_whatever_the_archive_holds_and_skips_release_time_git_rules(default_bake,
                                                                                                tmp_path):
    project = shutil.copytree(default_bake, tmp_path / "project")
    git_commit_all(project, "baked")
    (project / "deploy.yaml").write_text(DEPLOY)
    (project / ".packflowignore").write_text("deploy.yaml\n")  # out of the archive, not out of git
    (project / "notes.txt").write_text("nothing secret\n")
    checked = run_cli("check", project)
    assert "PF601" in checked.stdout and "PF602" in checked.stdout and "deploy.yaml" not in checked.stdout
    hooked = run_cli("hook", "deploy.yaml", "notes.txt", "missing.txt", cwd=project)
    assert hooked.returncode == 1, hooked.stdout + hooked.stderr
    assert "deploy.yaml:3: PF704 error: deploy.yaml contains what looks like" in hooked.stdout
    assert "PF601" not in hooked.stdout and "PF602" not in hooked.stdout and "PF801" not in hooked.stdout
    (hint,) = [line for line in hooked.stdout.splitlines() if line.strip().startswith("hint:") and "deploy" in line]
    assert "git restore --staged deploy.yaml" in hint and "rotate it" in hint and ".packflowignore" not in hint
    allowed = run_cli("hook", "deploy.yaml", "--allow-secret", "deploy.yaml", cwd=project)
    assert allowed.returncode == 0 and "PF803" in allowed.stdout
    assert run_cli("hook", "notes.txt", cwd=project).returncode == 0


def test_hook_outside_a_project_says_how_to_name_the_project_folder(tmp_path):
    refused = run_cli("hook", "a.txt", cwd=tmp_path)
    assert refused.returncode == 2 and "args: [--project, path/to/project]" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_pre_commit_blocks_a_commit_that_holds_a_secret_in_any_file(tmp_path):
    """Bake from a clone of this template (its pre-commit config pins that clone), install the hook with the real
    pre-commit, then `git commit`: a deploy.yaml holding an AWS key is refused although .packflowignore leaves it
    out of the archive; without the key, the commit goes through, with no uncommitted-changes finding on the way."""
    template = template_copy(tmp_path / "template")
    project = bake(tmp_path / "out", template=template)
    git_commit_all(project, "baked")
    env = {**OFFLINE_PIP, "PYTHONPATH": None}
    installed = run([BIN / "pre-commit", "install"], project, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (project / "deploy.yaml").write_text(DEPLOY)
    (project / ".packflowignore").write_text("deploy.yaml\n")
    git(project, "add", "deploy.yaml", ".packflowignore")
    head = git(project, "rev-parse", "HEAD")
    refused = run(["git", "commit", "-m", "deploy settings"], project, env, timeout=900)
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "packflow readiness check" in output and "Failed" in output, output[-4000:]
    assert "deploy.yaml:3: PF704 error:" in output and "rotate it" in output
    assert "PF601" not in output and "PF602" not in output
    assert git(project, "rev-parse", "HEAD") == head
    (project / "deploy.yaml").write_text(DEPLOY.replace(AKIA, "${AWS_ACCESS_KEY_ID}"))
    git(project, "add", "deploy.yaml")
    committed = run(["git", "commit", "-m", "deploy settings"], project, env, timeout=900)
    output = committed.stdout + committed.stderr
    assert committed.returncode == 0 and re.search(r"packflow readiness check\.+Passed", output), output[-4000:]
    assert "PF601" not in output and git(project, "rev-parse", "HEAD") != head
