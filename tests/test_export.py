"""`python -m packflow_export [export]` and `verify`: what goes in, secrets, reproducibility, atomicity, round trip."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, run_cli

ARCHIVE = "my_analytic-0.1.0.zip"


def export(project, *args, cwd=None, env=None):
    result = run_cli("export", project, *args, cwd=cwd or project.parent, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def export_json(project, *args, cwd=None):
    result = export(project, "--json", *args, cwd=cwd)
    return result.returncode, json.loads(result.stdout)


def names_in(archive: Path) -> list:
    with zipfile.ZipFile(archive) as handle:
        return handle.namelist()


def exported_names(project, *args) -> list:
    code, report = export_json(project, *args)
    assert code == 0, report["findings"]
    return names_in(Path(report["archive"]["path"]))


# What goes in ----------------------------------------------------------------------------------------

def test_default_bake_exports_the_project_files_at_the_root(project):
    result = export(project)
    assert result.returncode == 0, result.stdout + result.stderr
    archive = project.parent / ARCHIVE
    assert sorted(names_in(archive)) == names_in(archive)
    assert set(names_in(archive)) == {".github/workflows/packflow.yml", ".gitignore", "LICENSE.txt", "MODEL_CARD.md", "README.md", "inference.py",
                                      "packflow.yaml", "requirements.txt", "test_inference.py", "validate.py"}
    sidecar = project.parent / (ARCHIVE + ".sha256")
    check = subprocess.run(["sha256sum", "-c", sidecar.name], cwd=project.parent, capture_output=True, text=True)
    assert check.returncode == 0 and f"{ARCHIVE}: OK" in check.stdout
    assert f"wrote {archive}" in result.stdout


def test_bare_command_is_export(project):
    result = run_cli(project, cwd=project.parent)
    assert result.returncode == 0 and (project.parent / ARCHIVE).is_file()


def make_venv(path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)


def test_excludes(project):
    make_venv(project / ".venv")
    make_venv(project / "env2")  # a virtualenv under any name is found by its pyvenv.cfg
    for folder in ("__pycache__", ".git", "node_modules", ".idea", "build", "dist", "pkg.egg-info", ".pytest_cache"):
        (project / folder).mkdir(exist_ok=True)
        (project / folder / "x.txt").write_text("x\n")
    (project / "cache.pyc").write_bytes(b"\0")
    (project / "data").mkdir()
    (project / "data" / ".gitignore").write_text("*.csv\n!keep.csv\n")
    (project / "data" / "big.csv").write_text("a,b\n")
    (project / "data" / "keep.csv").write_text("a,b\n")
    (project / "data" / "notes.txt").write_text("n\n")
    (project / ".gitignore").write_text((project / ".gitignore").read_text() + "weights/\n*.log\n")
    (project / "weights").mkdir()
    (project / "weights" / "model.bin").write_bytes(b"\1" * 100)
    (project / "debug.log").write_text("log\n")
    (project / ".packflowignore").write_text("!weights/\nnotes.txt\n")
    names = exported_names(project)
    assert not [n for n in names if n.split("/")[0] in (".venv", "env2", "__pycache__", ".git", "node_modules",
                                                          ".idea", "build", "dist", "pkg.egg-info", ".pytest_cache")]
    assert "cache.pyc" not in names and "debug.log" not in names
    assert "data/big.csv" not in names and "data/keep.csv" in names
    assert "weights/model.bin" in names  # re-included by .packflowignore
    assert "data/notes.txt" not in names  # excluded by .packflowignore
    assert "data/.gitignore" in names and ".packflowignore" in names


def test_earlier_archives_partial_files_and_the_output_are_never_packed(project):
    (project / "my_analytic-0.0.9.zip").write_bytes(b"old")
    (project / "my_analytic-0.0.9.zip.sha256").write_text("x\n")
    (project / ".my_analytic-0.1.0.abc.partial").write_bytes(b"partial")
    (project / ".gitignore").write_text("")  # without the template's *.zip rule
    code, report = export_json(project, "-o", project, cwd=project)
    assert code == 0
    names = names_in(project / ARCHIVE)
    assert not [n for n in names if "my_analytic" in n]
    code, report = export_json(project, "-o", project, "--force", cwd=project)
    assert code == 0 and ARCHIVE not in names_in(project / ARCHIVE)


def test_symlinks_escape_loop_and_inside(project, tmp_path):
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("top secret from /etc\n")
    (project / "escape.txt").symlink_to(outside)
    (project / "escape_dir").symlink_to(tmp_path)
    (project / "loop").mkdir()
    (project / "loop" / "again").symlink_to(project / "loop")
    (project / "self").symlink_to(project)
    (project / "dangling").symlink_to(project / "nope")
    (project / "alias.md").symlink_to(project / "README.md")
    code, report = export_json(project)
    assert code == 0
    names = names_in(Path(report["archive"]["path"]))
    assert "escape.txt" not in names and not [n for n in names if n.startswith(("escape_dir", "loop/", "self", "dangling"))]
    with zipfile.ZipFile(report["archive"]["path"]) as archive:
        assert archive.read("alias.md") == (project / "README.md").read_bytes()
        assert not any(b"top secret" in archive.read(n) for n in archive.namelist())
    messages = " ".join(f["message"] for f in report["findings"] if f["code"] == "PF802")
    assert "escape.txt links outside the project" in messages and "dangling" in messages
    assert "loop/again links to a folder" in messages and "alias.md is a link: packed as a copy" in messages


# Secrets ---------------------------------------------------------------------------------------------

AKIA = "AKIA" + "Q3EGRW7KZ2BN5M4P"
SECRET_CONTENT = [
    ("key.txt", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n", "PEM private key"),
    ("config.py", f'AWS_ID = "{AKIA}"\n', "AWS access key id"),
    ("aws.cfg", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8hG3kLmA\n", "AWS secret access key"),
    ("ci.sh", "TOKEN=ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + "\n", "GitHub token"),
    ("gl.txt", "glpat-" + "Zx8Yw7Vu6Ts5Rq4Po3Nm" + "\n", "GitLab token"),
    ("slack.json", '{"t": "xoxb-' + "2048193755-9fk2mQ8sLw" + '"}\n', "Slack token"),
    ("pay.py", "stripe.key = 'sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc" + "'\n", "Stripe live key"),
    ("maps.js", "const k = 'AIza" + "SyD8r3kQ2mX7vL9pW4nB6tY1cZ5hJ0fE3gK" + "';\n", "Google API key"),
    ("hf.py", "token = 'hf_" + "kTq8ZrW3mN6pL2xV9cB4yH7jD1fG5sA0eU" + "'\n", "Hugging Face token"),
    ("db.yaml", "url: postgres://admin:S3cr3tPassw0rd@db.internal:5432/app\n", "password in a URL"),
    ("settings.py", 'DB_PASSWORD = "Tr0ub4dor&3-horse"\n', "password or token assignment"),
    ("deploy.conf", "API_TOKEN=9f8e7d6c5b4a3f2e1d0c\n", "password or token in an env line"),
]
PLACEHOLDERS = [
    'AWS_ID = "AKIAXXXXXXXXXXXXXXXX"\n', 'AWS_ID = "AKIAIOSFODNN7EXAMPLE"\n', 'password = "<your-token>"\n',
    'api_key = "${API_KEY}"\n', 'token = "{{ token }}"\n', "url: postgres://user:<password>@host/db\n",
    'password = os.environ["DB_PASSWORD"]\n', "API_TOKEN=${API_TOKEN}\n", 'secret = "changeme-please"\n',
    'private_key = "xxxxxxxxxxxxxxxx"\n',
]


@pytest.mark.parametrize("name, content, rule", SECRET_CONTENT)
def test_secret_content_blocks_the_export(project, name, content, rule):
    (project / name).write_text(content)
    code, report = export_json(project)
    assert code == 1 and report["archive"] is None
    (found,) = [f for f in report["findings"] if f["code"] == "PF801"]
    assert found["path"] == name and found["line"] == 1 and rule in found["message"]
    assert "--allow-secret" in found["hint"] and ".packflowignore" in found["hint"]
    assert not list(project.parent.glob("*.zip")) and not list(project.parent.glob(".*.partial"))


@pytest.mark.parametrize("name", [".env", ".env.production", ".envrc", "server.pem", "tls.key", "id_rsa", "id_ed25519",
                                  ".netrc", ".pypirc", "cert.p12", "store.pfx", "kubeconfig", ".aws/credentials"])
def test_secret_file_names_block_the_export(project, name):
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("harmless\n")
    (project / ".gitignore").write_text("")  # the template ignores .env*; show the rule does not depend on it
    code, report = export_json(project)
    assert code == 1
    assert [f["path"] for f in report["findings"] if f["code"] == "PF801"] == [name]


@pytest.mark.parametrize("content", PLACEHOLDERS)
def test_placeholders_do_not_trigger(project, content):
    (project / "settings.py").write_text(content)
    (project / ".env.example").write_text("API_TOKEN=<your-token>\n")
    (project / "id_rsa.pub").write_text("ssh-ed25519 AAAA test\n")
    code, report = export_json(project)
    assert code == 0, [f for f in report["findings"] if f["code"] == "PF801"]


def test_secret_can_be_ignored_or_explicitly_allowed(project):
    (project / "tls.key").write_text("harmless\n")
    assert export_json(project)[0] == 1
    code, report = export_json(project, "--allow-secret", "tls.key")
    assert code == 0 and "tls.key" in names_in(Path(report["archive"]["path"]))
    (project / ".packflowignore").write_text("tls.key\n")
    assert "tls.key" not in exported_names(project, "--force")


def test_secret_scan_reads_only_a_sample_of_binary_files(project):
    with (project / "weights.bin").open("wb") as handle:
        handle.write(b"\0" * 10)
        handle.write(b"-----BEGIN RSA PRIVATE KEY-----\n" * 10)
    assert export_json(project)[0] == 0


# Reproducibility -------------------------------------------------------------------------------------

def test_byte_identical_across_copies_mtimes_umask_timezone_and_location(project, tmp_path):
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
    first_out, second_out = tmp_path / "out1", tmp_path / "out2"
    first_out.mkdir()
    second_out.mkdir()
    first = run_cli("export", project, "-o", first_out, cwd=tmp_path, env={"TZ": "UTC"})
    script = f"import os, sys, runpy; os.umask(0o077); sys.argv = ['packflow_export', 'export', {str(copy)!r}, '-o', {str(second_out)!r}]; runpy.run_module('packflow_export', run_name='__main__')"
    env = dict(os.environ, TZ="Asia/Kathmandu", PYTHONPATH=str(REPO))
    second = subprocess.run([sys.executable, "-c", script], cwd=copy, env=env, capture_output=True, text=True)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert (first_out / ARCHIVE).read_bytes() == (second_out / ARCHIVE).read_bytes()
    with zipfile.ZipFile(first_out / ARCHIVE) as archive:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        assert modes["run.sh"] == 0o755 and modes["README.md"] == 0o644
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert json.loads(archive.comment) == {"source_date_epoch": 315532800, "tool": "packflow_export 0.1.0"}
        methods = {i.filename: i.compress_type for i in archive.infolist()}
        assert methods["weights.bin"] == zipfile.ZIP_STORED and methods["README.md"] == zipfile.ZIP_DEFLATED


def test_source_date_epoch_is_used_and_clamped(project, tmp_path):
    result = export(project, "-o", tmp_path, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert result.returncode == 0
    with zipfile.ZipFile(tmp_path / ARCHIVE) as archive:
        assert archive.infolist()[0].date_time == (2023, 11, 14, 22, 13, 20)
    result = export(project, "-o", tmp_path, "--force", env={"SOURCE_DATE_EPOCH": "0"})
    with zipfile.ZipFile(tmp_path / ARCHIVE) as archive:
        assert archive.infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)
    bad = export(project, "-o", tmp_path, "--force", env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert bad.returncode == 2 and "SOURCE_DATE_EPOCH" in bad.stderr


def test_git_provenance_in_the_comment(project):
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *command], cwd=project, check=True, capture_output=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    code, report = export_json(project)
    with zipfile.ZipFile(report["archive"]["path"]) as archive:
        assert json.loads(archive.comment)["git"] == {"commit": commit, "dirty": False}


# Refusals and atomicity ------------------------------------------------------------------------------

def test_existing_archive_is_refused_without_force(project):
    assert export(project).returncode == 0
    archive = project.parent / ARCHIVE
    archive.write_bytes(b"the released bytes")
    refused = export(project)
    assert refused.returncode == 3 and "already exists" in refused.stderr and "--force" in refused.stderr
    assert archive.read_bytes() == b"the released bytes"
    assert export(project, "--force").returncode == 0
    assert zipfile.is_zipfile(archive)


def test_blocking_findings_write_nothing(project):
    (project / "requirements.txt").unlink()
    result = export(project)
    assert result.returncode == 1 and "PF101 error" in result.stdout
    assert list(project.parent.iterdir()) == [project]


def test_output_directory_problems_are_exit_3(project, tmp_path):
    missing = export(project, "-o", tmp_path / "missing")
    assert missing.returncode == 3 and "does not exist" in missing.stderr
    unwritable = export(project, "-o", "/proc")
    assert unwritable.returncode == 3 and "cannot write" in unwritable.stderr


def test_dry_run_lists_and_writes_nothing(project):
    (project / "weights.bin").write_bytes(os.urandom(50_000))
    result = export(project, "--dry-run")
    assert result.returncode == 0
    listing = [line for line in result.stdout.splitlines() if line.startswith("  ") and ("stored" in line or "deflated" in line)]
    assert "weights.bin" in listing[0] and "stored" in listing[0]
    assert "total" in listing[-1]
    assert not list(project.parent.glob("*.zip*"))
    code, report = export_json(project, "--dry-run")
    assert code == 0 and report["archive"]["sha256"] is None
    assert report["archive"]["files"][0] == {"name": "weights.bin", "size": 50_000, "method": "stored"}


def test_json_shape_of_an_export(project):
    code, report = export_json(project)
    assert code == 0
    assert {"project", "ok", "errors", "warnings", "findings", "archive"} <= set(report)
    archive = report["archive"]
    assert set(archive) == {"path", "sha256", "size", "files"}
    assert archive["size"] == Path(archive["path"]).stat().st_size and len(archive["sha256"]) == 64


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "weights.bin"
    with path.open("wb") as handle:
        for _ in range(48):
            handle.write(os.urandom(8 << 20))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_interrupted_export_leaves_nothing_under_the_final_name(project, tmp_path, big_file, signum, code):
    os.link(big_file, project / "weights.bin")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen([sys.executable, "-m", "packflow_export", "export", str(project), "-o", str(out)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob(".*.partial")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert process.poll() is None, "the export finished before it could be interrupted"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    assert not (out / ARCHIVE).exists() and not (out / (ARCHIVE + ".sha256")).exists()
    leftovers = list(out.iterdir())
    if signum == signal.SIGKILL:
        assert all(p.name.startswith(".my_analytic-0.1.0.") and p.name.endswith(".partial") for p in leftovers)
    else:
        assert leftovers == [] and "Traceback" not in stderr and "nothing was left" in stderr


# The round trip with upstream ------------------------------------------------------------------------

def test_exported_archive_loads_with_upstream_and_passes_its_own_tests(project, tmp_path):
    assert export(project, "-o", tmp_path).returncode == 0
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(tmp_path / ARCHIVE) as archive:
        archive.extractall(unpacked)
    script = ("import sys; from packflow.loaders.base import InferenceBackendLoader; "
              f"backend = InferenceBackendLoader.from_project({str(unpacked)!r}); "
              "out = backend.check_io([{'text': 'great stuff'}, {'text': 'meh'}]); print(out)")
    loaded = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert "'label': 'positive'" in loaded.stdout
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=unpacked,
                           capture_output=True, text=True, env=env)
    assert tests.returncode == 0, tests.stdout
    assert subprocess.run([sys.executable, "validate.py"], cwd=unpacked, env=env).returncode == 0


# verify ----------------------------------------------------------------------------------------------

def verify(archive, *args):
    result = run_cli("verify", archive, "--json", *args)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout else None


@pytest.fixture
def exported(project, tmp_path) -> Path:
    assert export(project, "-o", tmp_path).returncode == 0
    return tmp_path / ARCHIVE


def test_verify_good_archive(exported):
    code, result = verify(exported)
    assert code == 0 and result["ok"] and result["members"] == 10
    assert result["provenance"]["tool"].startswith("packflow_export ")
    human = run_cli("verify", exported)
    assert human.returncode == 0 and human.stdout.strip().endswith("10 member(s): verified")


def test_verify_tampered_member_and_checksum(exported):
    data = bytearray(exported.read_bytes())
    offset = data.index(b"requirements.txt") + len("requirements.txt")  # the first stored member's data follows
    data[offset] ^= 0xFF
    exported.write_bytes(bytes(data))
    code, result = verify(exported)
    assert code == 1
    problems = " ".join(result["problems"])
    assert "does not read back intact" in problems and "does not match" in problems


def test_verify_zip_slip_and_unsafe_names(tmp_path, exported):
    evil = tmp_path / "evil" / ARCHIVE
    evil.parent.mkdir()
    with zipfile.ZipFile(exported) as good, zipfile.ZipFile(evil, "w") as bad:
        for info in good.infolist():
            bad.writestr(info, good.read(info))
        bad.writestr("../../escape.sh", "rm -rf ~\n")
        bad.writestr("/etc/passwd", "x\n")
        bad.writestr("dir\\file.txt", "x\n")
        bad.writestr("Readme.md", "case clash\n")
        bad.writestr("creds/.env", "A=1\n")
    code, result = verify(evil)
    assert code == 1
    problems = "\n".join(result["problems"])
    for words in ("'../../escape.sh': '..' in the path", "'/etc/passwd': absolute path", "backslash",
                  "differ only in case", "'creds/.env' looks like a secret"):
        assert words in problems
    assert not (tmp_path / "escape.sh").exists() and not (tmp_path.parent / "escape.sh").exists()


def test_verify_incomplete_archive(exported):
    exported.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    code, result = verify(exported)
    assert code == 1 and "not a complete zip archive" in result["problems"][0]


def test_verify_name_version_mismatch_and_missing_config(exported, tmp_path):
    renamed = tmp_path / "my_analytic-9.9.9.zip"
    shutil.copy(exported, renamed)
    code, result = verify(renamed)
    assert code == 1 and "does not match packflow.yaml" in " ".join(result["problems"])
    empty = tmp_path / "x-1.0.zip"
    with zipfile.ZipFile(empty, "w") as handle:
        handle.writestr("README.md", "x\n")
    code, result = verify(empty)
    assert code == 1 and "packflow.yaml is missing" in " ".join(result["problems"])


def test_verify_missing_archive_is_exit_2(tmp_path):
    result = run_cli("verify", tmp_path / "none.zip")
    assert result.returncode == 2 and "no such archive" in result.stderr


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
    process.wait(timeout=120)
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
