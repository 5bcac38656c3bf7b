"""gittree.py: a release reads the tagged commit's blobs, never the work tree; what git hides (an excluded
file, an assume-unchanged or skip-worktree edit) is reported, and a repository whose config could run a
program is never asked. Item 8 of issue 15, with real git."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import git, git_commit_all
from hostile import release_with_hidden_files
from packflow_export import gittree


def committed_files(project: Path) -> dict[str, bytes]:
    """What a fresh clone of the tagged commit holds (git's own answer, for comparison)."""
    clone = project.parent / f"{project.name}-clone"
    subprocess.run(["git", "clone", "-q", "--branch", "v0.1.0", str(project), str(clone)], check=True,
                   capture_output=True)
    files = {p.relative_to(clone).as_posix(): p.read_bytes() for p in clone.rglob("*")
             if p.is_file() and ".git" not in p.relative_to(clone).parts}
    shutil.rmtree(clone)
    return files


def test_item_8_the_release_is_the_commit_and_the_hidden_edits_are_named(project):
    committed_inference = (project / "inference.py").read_bytes()
    hidden = release_with_hidden_files(project)
    assert git(project, "status", "--porcelain") == ""  # git status sees none of it
    repo = gittree.open_repository(project)
    tree = gittree.commit_tree(repo)
    assert tree.commit == git(project, "rev-parse", "v0.1.0^{commit}").strip()
    assert tree.tree == tree.root_tree == git(project, "rev-parse", "HEAD^{tree}").strip() and tree.prefix == ""
    expected = committed_files(project)
    assert {entry.path for entry in tree.entries} == set(expected)
    assert "notes_excluded.txt" not in {entry.path for entry in tree.entries} and hidden["excluded"].exists()
    with gittree.BlobReader(repo, tree.object_format) as blobs:
        read = {entry.path: blobs.read(entry) for entry in tree.entries}
    assert read == expected and read["inference.py"] == committed_inference
    assert b"hidden_edit" in hidden["assume_unchanged"].read_bytes()  # the work tree has the edit; the release not
    changes = {change.path: change for change in gittree.hidden_changes(repo, tree)}
    assert changes["inference.py"].flags == ("assume-unchanged",) and changes["inference.py"].differs is True
    assert changes["validate.py"].flags == ("skip-worktree",) and changes["validate.py"].differs is True
    assert set(changes) == {"inference.py", "validate.py"}


def test_a_project_in_a_subfolder_lists_only_its_own_files_with_the_folder_tree_hash(project, tmp_path):
    repo_root = tmp_path / "monorepo"
    shutil.copytree(project, repo_root / "services" / "scorer")
    (repo_root / "other.txt").write_text("not the project\n")
    git_commit_all(repo_root, "monorepo")
    sub = repo_root / "services" / "scorer"
    tree = gittree.commit_tree(gittree.open_repository(sub))
    assert tree.prefix == "services/scorer/" and tree.tree != tree.root_tree
    assert tree.tree == git(repo_root, "rev-parse", "HEAD:services/scorer").strip()
    assert {entry.path for entry in tree.entries} == {p.relative_to(sub).as_posix() for p in sub.rglob("*")
                                                      if p.is_file()}


def test_modes_links_and_executables_are_reported_as_git_records_them(project):
    (project / "run.sh").write_text("#!/bin/sh\n")
    (project / "run.sh").chmod(0o755)
    os.symlink("inference.py", project / "alias.py")
    git_commit_all(project, "modes")
    tree = gittree.commit_tree(gittree.open_repository(project))
    entries = {entry.path: entry for entry in tree.entries}
    assert entries["run.sh"].executable and entries["run.sh"].kind == "file"
    assert entries["alias.py"].kind == "symlink" and not entries["inference.py"].executable
    with gittree.BlobReader(gittree.open_repository(project)) as blobs:
        assert blobs.read(entries["alias.py"]) == b"inference.py"  # the link's target, never followed
        first = blobs.chunks(entries["run.sh"])
        next(first, None)  # a blob left half-read does not confuse the next one
        assert blobs.read(entries["inference.py"]) == (project / "inference.py").read_bytes()


def test_a_repository_whose_config_can_run_a_program_is_never_asked(project, tmp_path):
    git_commit_all(project, "init")
    marker = tmp_path / "fsmonitor-ran"
    with open(project / ".git" / "config", "a") as handle:
        handle.write(f"[core]\n\tfsmonitor = touch {marker}\n")
    with pytest.raises(gittree.GitTreeError, match="core.fsmonitor"):
        gittree.open_repository(project)
    assert not marker.exists()


def test_blobs_are_checked_against_their_ids(project):
    git_commit_all(project, "init")
    repo = gittree.open_repository(project)
    tree = gittree.commit_tree(repo)
    entry = next(e for e in tree.entries if e.path == "README.md")
    assert gittree.blob_id((project / "README.md").read_bytes()) == entry.object_id
    assert gittree.file_blob_id(project / "README.md") == entry.object_id
    forged = gittree.TreeEntry(entry.path, entry.mode, "0" * 40, entry.size)
    with gittree.BlobReader(repo) as blobs, pytest.raises(gittree.GitTreeError, match="has no blob"):
        blobs.read(forged)
    with gittree.BlobReader(repo, max_blob_bytes=10) as blobs, pytest.raises(gittree.GitTreeError, match="limit"):
        blobs.read(entry)


def test_outside_a_repository_or_without_a_commit_is_an_error(project):
    with pytest.raises(gittree.GitTreeError, match="not inside a git work tree"):
        gittree.open_repository(project)
    git(project, "init", "-q")
    with pytest.raises(gittree.GitTreeError, match="rev-parse failed"):
        gittree.commit_tree(gittree.open_repository(project))
    with pytest.raises(gittree.GitTreeError, match="not a revision"):
        gittree.commit_tree(gittree.open_repository(project), "--output=/tmp/x")
