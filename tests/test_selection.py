"""selection.py: what goes into the archive, and why anything is left out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import findings_of, inspect

from packflow_export.model.selection import select_files


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
    selection = select_files(project, "my-analytic")
    names = selection.names
    assert not [n for n in names if n.split("/")[0] in (".venv", "env2", "__pycache__", ".git", "node_modules",
                                                          ".idea", "build", "dist", "pkg.egg-info", ".pytest_cache")]
    assert "cache.pyc" not in names and "debug.log" not in names
    assert "data/big.csv" not in names and "data/keep.csv" in names
    assert "weights/model.bin" in names  # re-included by .packflowignore
    assert "data/notes.txt" not in names  # excluded by .packflowignore
    assert "data/.gitignore" not in names and ".packflowignore" not in names  # development files, left out
    assert [f.name for f in selection.files] == sorted(names)


def test_development_files_are_left_out_unless_packflowignore_keeps_them(project):
    """Issue 20 item 10: CI, hook, VCS and editor files stay out of the archive by default; a negation in
    .packflowignore keeps one, and the reason names the negation to write."""
    (project / ".gitlab-ci.yml").write_text("test:\n  script: [pytest]\n")
    (project / ".gitattributes").write_text("*.bin filter=lfs\n")
    (project / "data").mkdir()
    (project / "data" / ".gitignore").write_text("*.csv\n")
    (project / "data" / "table.txt").write_text("a\n")
    development = {".github/workflows/packflow.yml", ".github/dependabot.yml", ".gitignore", ".gitattributes",
                   ".pre-commit-config.yaml", ".gitlab-ci.yml", "data/.gitignore"}
    assert all((project / name).is_file() for name in development)
    selection = select_files(project, "my-analytic")
    assert not development & selection.names and "data/table.txt" in selection.names
    assert selection.why_excluded(".github/workflows/packflow.yml") == (
        "the default exclusion of development files (.github/; keep it with !.github/ in .packflowignore)")
    (project / ".packflowignore").write_text("!.gitignore\n!.github/\n")
    kept = select_files(project, "my-analytic").names
    assert development & kept == {".gitignore", "data/.gitignore", ".github/workflows/packflow.yml",
                                  ".github/dependabot.yml"}
    assert ".packflowignore" not in kept and ".pre-commit-config.yaml" not in kept


def test_the_development_exclusions_never_match_a_file_the_package_needs(project):
    from packflow_export.model.selection import IgnoreRules

    rules = IgnoreRules()
    needed = ["packflow.yaml", "requirements.txt", "requirements.in", "inference.py", "sample_inputs.json",
              "README.md", "MODEL_CARD.md", "LICENSE.txt", "LICENSE", "test_inference.py", "validate.py"]
    needed += sorted(path.relative_to(project).as_posix() for path in project.rglob("*")
                     if path.is_file() and not path.name.startswith(".") and ".github" not in path.parts)
    assert [name for name in needed if rules.decide(name, is_dir=False)] == []


def test_why_excluded_names_the_rule_and_its_line(project):
    (project / ".gitignore").write_text("# models\n\n*.joblib\nbuild-output/\n")
    (project / "model.joblib").write_bytes(b"\0" * 10)
    (project / "build").mkdir()
    (project / "build" / "x.py").write_text("x\n")
    make_venv(project / "env3")
    selection = select_files(project, "my-analytic")
    assert selection.why_excluded("model.joblib") == ".gitignore:3: *.joblib"
    assert selection.why_excluded("build/x.py").startswith("built-in exclusion")
    assert "pyvenv.cfg" in selection.why_excluded("env3/lib/thing.py")
    assert selection.why_excluded("inference.py") is None


def test_earlier_archives_and_partial_files_are_never_selected(project):
    for name in ("my_analytic-0.0.9.zip", "my_analytic-0.0.9.zip.sha256", "my_analytic-0.0.9.zip.cdx.json",
                 ".my_analytic-0.1.0.zip.abc.partial"):
        (project / name).write_bytes(b"old")
    (project / ".gitignore").write_text("")  # without the template's *.zip rule
    assert not [n for n in select_files(project, "my-analytic").names if "my_analytic" in n]


def test_symlinks_escape_loop_and_inside(project, tmp_path):
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("top secret from /etc\n")
    (project / "escape.txt").symlink_to(outside)
    (project / "escape_dir").symlink_to(tmp_path)
    (project / "loop").mkdir()
    (project / "loop" / "again").symlink_to(project / "loop")
    (project / "self").symlink_to("self")
    (project / "dangling").symlink_to(project / "nope")
    (project / "alias.md").symlink_to(project / "README.md")
    selection = select_files(project, "my-analytic")
    names = selection.names
    assert "escape.txt" not in names and not [n for n in names if n.startswith(("escape_dir", "loop/", "self", "dangling"))]
    (alias,) = [f for f in selection.files if f.name == "alias.md"]
    assert alias.path == str(project / "README.md")
    outcomes = {link.name: link.outcome for link in selection.links}
    assert outcomes == {"escape.txt": "outside", "escape_dir": "outside", "loop/again": "folder", "self": "loop",
                        "dangling": "dangling", "alias.md": "copied"}
    messages = " ".join(f["message"] for f in findings_of(inspect(project), "PF802"))
    assert "escape.txt links outside the project" in messages and "dangling" in messages
    assert "loop/again links to a folder" in messages and "alias.md is a link: packed as a copy" in messages
    assert "self is a link that loops" in messages


def test_deep_trees_and_odd_names_are_findings_not_crashes(project):
    deep = project
    for _ in range(300):
        deep = deep / "d"
    os.makedirs(deep)
    (deep / "leaf.txt").write_text("deep\n")
    bad = os.fsencode(project) + b"/bad\xff.txt"
    with open(bad, "wb") as handle:
        handle.write(b"x\n")
    selection = select_files(project, "my-analytic")
    assert any(name.endswith("/leaf.txt") for name in selection.names)
    assert selection.bad_names == [("bad\\xff.txt", "is not valid UTF-8")]
    (finding,) = findings_of(inspect(project), "PF805")
    assert finding["severity"] == "error" and "bad\\xff.txt" in finding["message"]
