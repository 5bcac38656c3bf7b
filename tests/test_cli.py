"""The command line end to end (a real `python -m packflow_export` each time): exit codes, text and JSON on every
path, the export round trip, reproducibility, interrupts and the progress bar."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from helpers import ARCHIVE, REPO, check_json, cli_json, codes, export, git_commit_all, run_cli


def names_in(archive: Path) -> list:
    with zipfile.ZipFile(archive) as handle:
        return handle.namelist()


# check ---------------------------------------------------------------------------------------------------

def test_default_bake_is_ready_and_its_report_fits_a_terminal(project):
    result = run_cli("check", project)
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) <= 24
    assert "MODEL_CARD.md:19: PF301 warning: 18 placeholders left (lines 19, 23, 39, …)" in lines
    # The summary counts every finding and says in how many lines the report shows them (repeats folded).
    assert lines[-1].endswith(": 0 error(s), 20 warning(s), 0 info in 3 line(s) (repeats of a rule in one file "
                              "folded: -v lists each): ready for release")
    assert sum(" warning: " in line for line in lines) == 3
    assert "\033[" not in result.stdout and any(line.startswith("    hint: ") for line in lines)
    verbose = run_cli("check", project, "-v").stdout.splitlines()
    assert sum("PF301 warning: placeholder left" in line for line in verbose) == 18
    assert verbose[-1].endswith(": 0 error(s), 20 warning(s), 0 info: ready for release")
    quiet = run_cli("check", project, "-q").stdout.splitlines()
    assert quiet == [quiet[0]] and quiet[0].endswith(" info in 0 line(s) (-q hides warnings and info): ready for "
                                                     "release")


def test_json_lists_every_finding(project):
    code, report = check_json(project)
    assert code == 0 and report["ok"] is True and report["errors"] == 0 and report["warnings"] == 20
    assert set(report) == {"project", "ok", "errors", "warnings", "infos", "strict", "findings"}
    assert report["project"] == str(project.resolve())
    assert codes(report) == {"PF301", "PF504", "PF411"} and len(report["findings"]) == 20  # PF411: not locked yet
    for item in report["findings"]:
        assert set(item) == {"code", "severity", "path", "line", "message", "hint"}


def test_quiet_prints_only_what_blocks(project):
    (project / "requirements.txt").unlink()
    result = run_cli("check", project, "-q")
    assert result.returncode == 1
    assert [line for line in result.stdout.splitlines() if " PF" in line] == [
        "requirements.txt: PF101 error: requirements.txt is missing"]


def test_colour_only_on_a_tty(project, monkeypatch):
    from helpers import inspect
    from packflow_export.output.text import print_report

    class Terminal:
        def __init__(self):
            self.parts = []

        def write(self, text):
            self.parts.append(text)

        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.delenv("NO_COLOR")
    print_report(inspect(project), terminal)
    assert "\033[33mwarning\033[0m" in "".join(terminal.parts)


def test_exit_2_for_missing_path_file_and_non_project(tmp_path):
    for target, words in [(tmp_path / "nope", "no such directory"), (tmp_path, "not a Packflow project")]:
        result = run_cli("check", target)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "file").write_text("x")
    assert run_cli("check", tmp_path / "file").returncode == 2


@pytest.mark.parametrize("args, code, words", [
    (["check", "--no-such-option"], 2, "unrecognized arguments"),
    (["check", "/nonexistent/project"], 2, "no such directory"),
    (["verify", "/nonexistent.zip"], 2, "no such archive"),
    (["export", ".", "-o", "/proc/x"], 3, "cannot be created"),
    (["rules", "PF000"], 2, "no rule"),
])
def test_json_answers_every_exit_path_with_one_object(project, args, code, words):
    args = [str(project) if a == "." else a for a in args]
    result = run_cli(*args, "--json")
    data = json.loads(result.stdout)
    assert result.returncode == code and data["ok"] is False
    assert data["error"]["code"] == code and words in data["error"]["message"]
    assert len(result.stdout.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_strict_makes_warnings_block(project):
    assert check_json(project, "--strict")[0] == 1
    assert "(strict: warnings block too)" in run_cli("check", project, "--strict").stdout.splitlines()[-1]


def test_help_imports_nothing_heavy():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "packflow_export", "--help"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and "exit codes" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not {"yaml", "packaging", "pathspec", "json", "zipfile", "isal", "hyperscan"} & imported


# --run-tests ------------------------------------------------------------------------------------------------

def test_run_tests_passes_on_a_fresh_bake(project):
    code, report = check_json(project, "--run-tests")
    assert code == 0 and not codes(report) & {"PF701", "PF702", "PF703"}
    assert not (project / "__pycache__").exists()


def test_run_tests_reports_failures_with_output(project):
    from helpers import edit

    edit(project / "test_inference.py", "assert isinstance(backend, InferenceBackend)", "assert 1 == 2, 'deliberate'")
    edit(project / "sample_inputs.json", '{"text": ""}', '"not a record"')
    code, report = check_json(project, "--run-tests")
    assert code == 1
    messages = {f["code"]: f["message"] for f in report["findings"]}
    assert "deliberate" in messages["PF701"] and "breaks Packflow's I/O contract" in messages["PF702"]


def test_run_tests_collects_the_upstream_scaffolds_tests_py(project):
    (project / "test_inference.py").rename(project / "tests.py")
    code, report = check_json(project, "--run-tests")
    assert code == 0 and "PF703" not in codes(report)


def test_run_tests_timeout(project):
    (project / "test_slow.py").write_text("import time\n\ndef test_slow():\n    time.sleep(30)\n")
    code, report = check_json(project, "--run-tests", "--test-timeout", "3")
    assert code == 1 and any("did not finish within 3 s" in f["message"] for f in report["findings"])


# export ------------------------------------------------------------------------------------------------------

def test_default_bake_exports_the_project_files_at_the_root(project):
    result = export(project)
    assert result.returncode == 0, result.stdout + result.stderr
    archive = project.parent / ARCHIVE
    assert sorted(names_in(archive)) == names_in(archive)
    assert set(names_in(archive)) == {"LICENSE.txt", "MODEL_CARD.md", "README.md", "inference.py", "packflow.yaml",
                                      "requirements.in", "requirements.txt", "sample_inputs.json", "test_inference.py",
                                      "validate.py"}
    assert "(10 files, " in result.stdout  # CI, hook and VCS files are left out (issue 20 item 10)
    check = subprocess.run(["sha256sum", "-c", ARCHIVE + ".sha256"], cwd=project.parent, capture_output=True, text=True)
    assert check.returncode == 0 and f"{ARCHIVE}: OK" in check.stdout
    assert f"wrote {archive}" in result.stdout


def test_a_default_bake_exports_no_development_files_unless_packflowignore_keeps_one(project):
    """Issue 20 item 10: before, the archive carried .github/, .gitignore and .pre-commit-config.yaml."""
    development = (".github/", ".gitignore", ".pre-commit-config.yaml", ".packflowignore", ".gitlab-ci.yml")
    assert (project / ".github").is_dir() and (project / ".pre-commit-config.yaml").is_file()
    result = export(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [name for name in names_in(project.parent / ARCHIVE) if name.startswith(development)]
    (project / ".packflowignore").write_text("# the deployment reads it\n!.gitignore\n")
    result = export(project, "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    kept = [name for name in names_in(project.parent / ARCHIVE) if name.startswith(development)]
    assert kept == [".gitignore"] and "(11 files, " in result.stdout


def test_bare_command_is_export(project):
    result = run_cli(project, cwd=project.parent)
    assert result.returncode == 0 and (project.parent / ARCHIVE).is_file()


def test_a_mistyped_command_is_a_usage_error_not_an_export(project, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    typo = run_cli("chekc", cwd=work)
    assert typo.returncode == 2 and "unknown command 'chekc'; did you mean 'check'?" in typo.stderr
    assert list(work.iterdir()) == [] and "Traceback" not in typo.stderr
    code, data = cli_json("exprot", "--force", cwd=work)
    assert code == 2 and "did you mean 'export'?" in data["error"]["message"]
    project.rename(work / "chekc")  # an existing folder of that name is a project to export, as documented
    exported = run_cli("chekc", cwd=work)
    assert exported.returncode == 0 and (work / ARCHIVE).is_file(), exported.stderr


def test_main_takes_its_arguments_and_returns_the_exit_code(project, capsys):
    from packflow_export.__main__ import main

    assert main(["check", str(project), "-q"]) == 0
    assert capsys.readouterr().out.strip().endswith("ready for release")
    assert main(["rules", "PF000"]) == 2 and "no rule 'PF000'" in capsys.readouterr().err
    assert main(["--version"]) == 0


def test_json_shape_of_an_export(project):
    code, report = cli_json("export", project, cwd=project.parent)
    assert code == 0
    archive = report["archive"]
    assert set(archive) == {"path", "sha256", "size", "sidecar", "files"}
    assert archive["size"] == Path(archive["path"]).stat().st_size and len(archive["sha256"]) == 64


def test_blocking_findings_write_nothing(project):
    (project / "requirements.txt").unlink()
    result = export(project, "-o", project.parent / "dist")
    assert result.returncode == 1 and "PF101 error" in result.stdout
    assert list(project.parent.iterdir()) == [project]


def test_output_directory_is_created_and_other_paths_refused(project, tmp_path):
    created = export(project, "-o", tmp_path / "new" / "dist")
    assert created.returncode == 0 and (tmp_path / "new" / "dist" / ARCHIVE).is_file()
    not_a_folder = export(project, "-o", "/etc/passwd")
    assert not_a_folder.returncode == 3 and "exists and is not a folder" in not_a_folder.stderr
    unwritable = export(project, "-o", "/proc")
    assert unwritable.returncode == 3 and "cannot write" in unwritable.stderr


def test_existing_archive_is_refused_without_force(project):
    assert export(project).returncode == 0
    archive = project.parent / ARCHIVE
    archive.write_bytes(b"the released bytes")
    refused = export(project)
    assert refused.returncode == 3 and "already exists" in refused.stderr and "--force" in refused.stderr
    assert archive.read_bytes() == b"the released bytes"
    assert export(project, "--force").returncode == 0 and zipfile.is_zipfile(archive)


def test_dry_run_lists_and_writes_nothing(project):
    (project / "weights.bin").write_bytes(os.urandom(50_000))
    result = export(project, "--dry-run")
    assert result.returncode == 0
    listing = [line for line in result.stdout.splitlines() if line.startswith("  ") and ("stored" in line or "deflated" in line)]
    assert "weights.bin" in listing[0] and "stored" in listing[0] and "total" in listing[-1]
    assert not list(project.parent.glob("*.zip*"))
    code, report = cli_json("export", project, "--dry-run", cwd=project.parent)
    assert code == 0 and report["archive"]["sha256"] is None
    assert report["archive"]["files"][0] == {"name": "weights.bin", "size": 50_000, "method": "stored"}


def test_byte_identical_across_copies_mtimes_umask_timezone_and_location(project, tmp_path):
    import shutil

    (project / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (project / "run.sh").chmod(0o755)
    (project / "weights.bin").write_bytes(os.urandom(300_000))
    (project / "nested" / "deep").mkdir(parents=True)
    for index in range(20):
        (project / "nested" / "deep" / f"f{index}.txt").write_text(f"file {index}\n" * 50)
    copy = Path(shutil.copytree(project, tmp_path / "elsewhere" / "renamed-copy"))
    for path in copy.rglob("*"):
        os.utime(path, (1_000_000_000 + hash(path.name) % 1000, 2_000_000_000))
    (copy / "README.md").chmod(0o600)
    first = run_cli("export", project, "-o", tmp_path / "out1", cwd=tmp_path, env={"TZ": "UTC"})
    script = ("import os, sys, runpy; os.umask(0o077); sys.argv = ['packflow_export', 'export', sys.argv[1], '-o', "
              "sys.argv[2]]; runpy.run_module('packflow_export', run_name='__main__')")
    env = dict(os.environ, TZ="Asia/Kathmandu", PYTHONPATH=str(REPO))
    second = subprocess.run([sys.executable, "-c", script, str(copy), str(tmp_path / "out2")], cwd=copy, env=env,
                            capture_output=True, text=True)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert (tmp_path / "out1" / ARCHIVE).read_bytes() == (tmp_path / "out2" / ARCHIVE).read_bytes()
    with zipfile.ZipFile(tmp_path / "out1" / ARCHIVE) as archive:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        assert modes["run.sh"] == 0o755 and modes["README.md"] == 0o644
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert json.loads(archive.comment) == {"source_date_epoch": 315532800, "tool": "packflow_export 0.1.0"}


def test_source_date_epoch_is_used_and_clamped(project, tmp_path):
    assert export(project, "-o", tmp_path, env={"SOURCE_DATE_EPOCH": "1700000000"}).returncode == 0
    with zipfile.ZipFile(tmp_path / ARCHIVE) as archive:
        assert archive.infolist()[0].date_time == (2023, 11, 14, 22, 13, 20)
    assert export(project, "-o", tmp_path, "--force", env={"SOURCE_DATE_EPOCH": "0"}).returncode == 0
    with zipfile.ZipFile(tmp_path / ARCHIVE) as archive:
        assert archive.infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)
    bad = export(project, "-o", tmp_path, "--force", env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert bad.returncode == 2 and "SOURCE_DATE_EPOCH" in bad.stderr


def test_clean_git_checkout_dates_the_archive_by_its_commit(project, tmp_path):
    git_commit_all(project, "init")
    subprocess.run(["git", "commit", "-q", "--amend", "--no-edit", "--date=2024-03-05T06:07:08Z"], cwd=project,
                   check=True, env=dict(os.environ, GIT_COMMITTER_DATE="2024-03-05T06:07:08Z"))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    assert export(project, "-o", tmp_path).returncode == 0
    with zipfile.ZipFile(tmp_path / ARCHIVE) as archive:
        assert archive.infolist()[0].date_time == (2024, 3, 5, 6, 7, 8)
        tree = subprocess.run(["git", "rev-parse", "HEAD^{tree}"], cwd=project, capture_output=True, text=True)
        assert json.loads(archive.comment)["git"] == {"commit": commit, "tree": tree.stdout.strip(), "dirty": False}
    (project / "README.md").write_text("changed\n")
    assert export(project, "-o", tmp_path, "--force").returncode == 0
    with zipfile.ZipFile(tmp_path / ARCHIVE) as archive:
        assert archive.infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)
        assert json.loads(archive.comment)["git"]["dirty"] is True


def test_exported_archive_loads_with_upstream_and_passes_its_own_tests(project, tmp_path):
    assert export(project, "-o", tmp_path).returncode == 0
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(tmp_path / ARCHIVE) as archive:
        archive.extractall(unpacked)
    script = ("import sys; from packflow.loaders.base import InferenceBackendLoader; "
              "backend = InferenceBackendLoader.from_project(sys.argv[1]); "
              "print(backend.check_io([{'text': 'great stuff'}, {'text': 'meh'}]))")
    loaded = subprocess.run([sys.executable, "-c", script, str(unpacked)], cwd=tmp_path, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert "'label': 'positive'" in loaded.stdout
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=unpacked,
                           capture_output=True, text=True, env=env)
    assert tests.returncode == 0, tests.stdout
    assert subprocess.run([sys.executable, "validate.py"], cwd=unpacked, env=env).returncode == 0


# Interrupts and the progress bar ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "weights.bin"
    with path.open("wb") as handle:
        for _ in range(48):
            handle.write(os.urandom(8 << 20))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_interrupted_export_leaves_nothing_under_the_final_name(project, tmp_path, signum, code):
    out = tmp_path / "out"
    out.mkdir()
    barrier = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(REPO), PACKFLOW_EXPORT_TEST_POINTS=f"sidecar=wait:{barrier}")
    process = subprocess.Popen([sys.executable, "-m", "packflow_export", "export", str(project), "-o", str(out)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not Path(str(barrier) + ".reached").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None and list(out.glob(".*.partial")), "the export did not reach the pause point"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    assert not (out / ARCHIVE).exists() and not (out / (ARCHIVE + ".sha256")).exists()
    leftovers = list(out.iterdir())
    if signum == signal.SIGKILL:
        assert all(p.name.startswith(".my_analytic-0.1.0.") and p.name.endswith(".partial") for p in leftovers)
    else:
        assert leftovers == [] and "Traceback" not in stderr and "nothing was left" in stderr


def run_with_tty_stderr(args, env):
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe) and return (exit code, what the terminal saw)."""
    import pty
    import select

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "packflow_export", *map(str, args)], env=env,
                               stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    process.communicate(timeout=120)  # reads and closes stdout
    os.close(leader)
    return process.returncode, seen.decode(errors="replace")


@pytest.mark.slow
def test_progress_bar_only_on_a_terminal_and_not_with_quiet(project, tmp_path, big_file):
    os.link(big_file, project / "weights.bin")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code, terminal = run_with_tty_stderr(["export", project, "-o", tmp_path], env)
    assert code == 0 and "%" in terminal and "MiB" in terminal and "[#" in terminal
    code, terminal = run_with_tty_stderr(["export", project, "-o", tmp_path, "--force", "--quiet"], env)
    assert code == 0 and "MiB" not in terminal
    piped = export(project, "-o", tmp_path, "--force", env={})
    assert piped.returncode == 0 and "MiB" not in piped.stderr


# issue 15 item 15: a closed pipe, impossible dates and negative limits -------------------------------------------

@pytest.mark.parametrize("command", [["check", "--json", "PROJECT"], ["check", "PROJECT"], ["rules"],
                                     ["check", "--json", "/no/such/dir"]])
def test_issue15_item_15_a_reader_that_goes_away_ends_the_command_quietly(project, command):
    """Before: `check --json | head -c1` exited 1 ("not ready") with two tracebacks. After: exit 141, no traceback."""
    args = [str(project) if arg == "PROJECT" else arg for arg in command]
    environment = dict(os.environ, PYTHONPATH=str(REPO))
    for _ in range(2):  # head gone before the output is written: the pipe is closed outright
        with subprocess.Popen([sys.executable, "-m", "packflow_export", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=environment) as process:
            assert process.stdout is not None and process.stderr is not None
            process.stdout.close()
            errors = process.stderr.read().decode()
            assert process.wait(timeout=120) == 141 and errors == "", errors
    shell = f"{sys.executable} -m packflow_export {' '.join(args)} | head -c1 >/dev/null; echo \"${{PIPESTATUS[0]}}\""
    piped = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=environment, timeout=120)
    status = piped.stdout.strip()
    assert status in ("0", "2", "141") and "Traceback" not in piped.stderr, piped
    # Whether head is gone before the usage error is written is a race: exit 2 says why on stderr, 141 says nothing
    assert piped.stderr == ("packflow_export: error: /no/such/dir: no such directory\n" if status == "2" else ""), piped


@pytest.mark.parametrize("args, words", [
    (["bump", "0.2.0", "PROJECT", "--date", "2026-13-45"], "--date '2026-13-45' is not a date on the calendar"),
    (["bump", "0.2.0", "PROJECT", "--date", "2026-02-30"], "is not a date on the calendar"),
    (["verify", "ARCHIVE", "--max-size", "-5"], "'-5' must be a positive size"),
    (["verify", "ARCHIVE", "--max-size", "0"], "must be a positive size"),
    (["verify", "ARCHIVE", "--load", "--load-timeout", "-1"], "'-1' must be a positive number of seconds"),
    (["verify", "ARCHIVE", "--load", "--load-timeout", "nan"], "'nan' must be a positive number of seconds"),
    (["check", "PROJECT", "--run-tests", "--test-timeout", "0"], "'0' must be a positive number of seconds"),
    (["release", "PROJECT", "--tag", "v0.1.0", "--load-timeout", "-1"], "must be a positive number of seconds"),
])
def test_issue15_item_15_impossible_dates_and_negative_limits_are_usage_errors(project, tmp_path, args, words):
    """Before: the date was written and the limits accepted. After: exit 2 naming the option, nothing written."""
    card = (project / "MODEL_CARD.md").read_bytes()
    archive = tmp_path / ARCHIVE
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    args = [str(project) if a == "PROJECT" else str(archive) if a == "ARCHIVE" else a for a in args]
    result = run_cli(*args)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert (project / "MODEL_CARD.md").read_bytes() == card
