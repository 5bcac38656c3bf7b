"""rules/git.py (PF6xx) and gitinfo.py: release hygiene, and git never made to run the project's commands."""

from __future__ import annotations

import pytest

from helpers import codes, findings_of, git, git_commit_all, inspect, run_cli


def test_git_hygiene(project):
    git_commit_all(project, "init")
    report = inspect(project)
    assert "PF601" not in codes(report) and findings_of(report, "PF602")[0]["severity"] == "info"
    git(project, "tag", "v0.1.0")
    assert not codes(inspect(project)) & {"PF601", "PF602", "PF603"}
    git(project, "tag", "v0.2.0")
    git(project, "tag", "-d", "v0.1.0")
    assert "v0.2.0" in findings_of(inspect(project), "PF603")[0]["message"]
    (project / "new.txt").write_text("x\n")
    assert "new.txt" in findings_of(inspect(project), "PF601")[0]["message"]


def test_no_git_findings_outside_a_work_tree(project):
    assert not codes(inspect(project)) & {"PF601", "PF602", "PF603", "PF604"}


def test_project_ignored_by_an_enclosing_repository_gets_no_git_findings(project):
    git(project.parent, "init", "-q")
    (project.parent / ".gitignore").write_text(f"/{project.name}/\n")
    git(project.parent, "add", ".gitignore")
    git(project.parent, "commit", "-qm", "outer")
    assert not codes(inspect(project)) & {"PF601", "PF602", "PF603"}


DANGEROUS = [
    ("core.fsmonitor", "touch {marker}; echo"),
    ("core.hooksPath", "{hooks}"),
    ("diff.external", "touch {marker}"),
    ("core.pager", "touch {marker}; cat"),
    ("core.sshCommand", "touch {marker}"),
    ("filter.evil.clean", "touch {marker}; cat"),
    ("include.path", "{included}"),
]


@pytest.mark.parametrize("key, value", DANGEROUS)
def test_a_received_repository_cannot_make_check_or_export_run_commands(project, tmp_path, key, value):
    """git -C project config core.fsmonitor "touch /tmp/PWNED; echo", then check: nothing may run."""
    marker = tmp_path / "PWNED"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("post-checkout", "pre-commit", "post-index-change"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (hooks / hook).chmod(0o755)
    included = tmp_path / "included.gitconfig"
    included.write_text(f"[core]\n\tfsmonitor = touch {marker}; echo\n")
    git_commit_all(project, "init")
    (project / ".gitattributes").write_text("* filter=evil diff=evil\n")
    (project / "README.md").write_text("changed\n")  # status must look at a modified file
    git(project, "config", key, value.format(marker=marker, hooks=hooks, included=included))
    for command in ("check", "export"):
        result = run_cli(command, project, "-o", tmp_path / "out") if command == "export" else run_cli(command, project)
        assert "Traceback" not in result.stderr
        assert not marker.exists(), f"{command} ran a command from .git/config ({key})"
    (skipped,) = findings_of(inspect(project), "PF604")
    assert key.lower() in skipped["message"].lower() and skipped["severity"] == "info"


def test_an_ordinary_repository_config_is_read(project):
    git_commit_all(project, "init")
    git(project, "remote", "add", "origin", "https://example.org/x.git")
    git(project, "config", "user.name", "Someone")
    assert "PF604" not in codes(inspect(project)) and "PF602" in codes(inspect(project))


def test_config_parser_reads_sections_and_subsections():
    from packflow_export.model.gitinfo import config_keys

    pairs = config_keys('[core]\n\tbare = false\n[remote "origin"]\n\turl = x ; comment\n[Filter "LFS"]\n\tclean = git-lfs clean -- %f\n')
    assert pairs == [("core.bare", "false"), ("remote.origin.url", "x"), ("filter.LFS.clean", "git-lfs clean -- %f")]
    assert config_keys("not a config") is None
