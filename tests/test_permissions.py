"""Permissions as a non-root user sees them (issue 15 item 11): a folder that cannot be listed or entered, a file
that cannot be read: findings naming the path (PF105, PF106, or the family's PF104 once), never exit 70.

The suite runs as root here, and root reads everything: each command runs in a child process that drops to the
user nobody (setresuid) before it starts, on a copy of the bake in a world-readable folder. The child is forked
from this process after the same commands ran once as root, so every module is already imported: the interpreter's
own files may sit where nobody cannot read them (pyenv under /root)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from helpers import codes

from packflow_export.__main__ import main

NOBODY = 65534


@pytest.fixture
def shared_project(default_bake):
    """A copy of the default bake in a folder every user may enter and read, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="pf-perm-", dir="/tmp"))
    folder.chmod(0o777)
    project = folder / "my-analytic"
    shutil.copytree(default_bake, project, ignore=shutil.ignore_patterns(".git"))
    for path in [project, *project.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield project
    for path in project.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def as_nobody(folder: Path, *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python -m packflow_export ARGV` run by the user nobody."""
    if os.geteuid() != 0:
        from helpers import run_cli

        result = run_cli(*argv)
        return result.returncode, result.stdout, result.stderr
    out, err = folder / "stdout", folder / "stderr"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                os.dup2(stdout.fileno(), 1)
                os.dup2(stderr.fileno(), 2)
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            import sys

            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            code = main(list(argv))
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.read_text(), err.read_text()


def make_unreadable(project: Path) -> None:
    """The recipe: a folder with mode 000, one with 644 (listable, not enterable), a file with mode 000."""
    for folder, mode in (("secretdir", 0o000), ("listonly", 0o644)):
        (project / folder).mkdir()
        (project / folder / "inside.txt").write_text("x\n")
        (project / folder).chmod(mode)
    (project / "unreadable.txt").write_text("z\n")
    (project / "unreadable.txt").chmod(0o000)


def test_issue15_item_11_unreadable_folders_and_files_are_findings_naming_the_path(shared_project, capsys):
    """Before: check and export exited 70 (PermissionError on listonly/.gitignore). After: PF105 for each folder,
    PF106 for the file, once each; no PF808; exit 1; no archive."""
    out = shared_project.parent / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    assert main(["check", "--json", str(shared_project)]) == 0  # as root: every module imported before the fork
    assert main(["export", str(shared_project), "-o", str(out), "--json"]) == 0
    (out / "my_analytic-0.1.0.zip").unlink()
    (out / "my_analytic-0.1.0.zip.sha256").unlink()
    capsys.readouterr()
    make_unreadable(shared_project)
    for command in (["check"], ["export", "-o", str(out)]):
        code, stdout, stderr = as_nobody(shared_project.parent, command[0], "--json", str(shared_project),
                                         *command[1:])
        assert code == 1 and "Traceback" not in stderr, (code, stdout, stderr)
        report = json.loads(stdout)
        by_path = [(f["code"], f["path"]) for f in report["findings"] if f["severity"] == "error"]
        assert sorted(by_path) == [("PF105", "listonly/"), ("PF105", "secretdir/"), ("PF106", "unreadable.txt")]
        messages = {f["path"]: f["message"] for f in report["findings"]}
        assert "mode 0644" in messages["listonly/"] and "mode 0000" in messages["unreadable.txt"]
        assert "PF808" not in codes(report)
    assert sorted(p.name for p in out.iterdir()) == []


def test_issue15_item_11_a_file_the_checks_read_is_one_pf104(shared_project, capsys):
    """An unreadable requirements.txt is the requirements family's PF104, once (not also PF106, nor twice)."""
    assert main(["check", "--json", str(shared_project)]) == 0
    capsys.readouterr()
    (shared_project / "requirements.txt").chmod(0o000)
    code, stdout, stderr = as_nobody(shared_project.parent, "check", "--json", str(shared_project))
    assert code == 1, (stdout, stderr)
    found = [(f["code"], f["path"]) for f in json.loads(stdout)["findings"] if f["path"] == "requirements.txt"]
    assert found.count(("PF104", "requirements.txt")) == 1 and ("PF106", "requirements.txt") not in found


def test_an_ignored_unreadable_folder_is_not_a_finding(shared_project, capsys):
    """A folder left out by .packflowignore is never entered, so its permissions do not matter."""
    assert main(["check", "--json", str(shared_project)]) == 0
    capsys.readouterr()
    make_unreadable(shared_project)
    with open(shared_project / ".packflowignore", "a") as handle:
        handle.write("secretdir/\nlistonly/\nunreadable.txt\n")
    code, stdout, stderr = as_nobody(shared_project.parent, "check", "--json", str(shared_project))
    assert code == 0 and not {"PF104", "PF105", "PF106"} & codes(json.loads(stdout)), (stdout, stderr)
    assert stat.S_IMODE((shared_project / "listonly").stat().st_mode) == 0o644
