"""Git facts about a project (commit, tags, clean tree, commit time) without letting the project run code.

A repository's own .git/config can make git run commands (core.fsmonitor, filter drivers, diff.external,
core.pager, hooks, includes...). A project received from someone else must never run code by being checked,
so git is only run when every key in the repository's config files is on a short list of keys that cannot
start a program; otherwise the git facts are skipped, with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Optional

# Keys a repository's config may set for git to be run on it (section[.subsection].key, lower-case, fnmatch).
SAFE_KEYS = (
    "core.repositoryformatversion", "core.filemode", "core.bare", "core.logallrefupdates", "core.ignorecase",
    "core.precomposeunicode", "core.symlinks", "core.autocrlf", "core.eol", "core.safecrlf", "core.quotepath",
    "core.checkstat", "core.trustctime", "core.sharedrepository", "core.compression", "core.loosecompression",
    "core.bigfilethreshold", "core.longpaths", "core.protectntfs", "core.protecthfs", "core.splitindex",
    "core.commitgraph", "core.multipackindex", "core.untrackedcache", "core.preloadindex", "core.abbrev",
    "remote.*.url", "remote.*.pushurl", "remote.*.fetch", "remote.*.tagopt", "remote.*.prune", "remote.*.mirror",
    "remote.*.promisor", "remote.*.partialclonefilter", "branch.*.remote", "branch.*.merge", "branch.*.rebase",
    "branch.*.pushremote", "branch.*.description", "user.name", "user.email", "init.defaultbranch", "pull.rebase",
    "pull.ff", "push.default", "push.autosetupremote", "fetch.prune", "gc.auto", "gc.autodetach",
    "lfs.repositoryformatversion", "extensions.objectformat", "extensions.worktreeconfig", "color.*", "advice.*",
    "rerere.enabled", "index.version", "feature.manyfiles", "submodule.*.url", "submodule.*.active",
)
# git lfs install --local writes these exact commands; they run git-lfs, which the user installed.
SAFE_VALUES = {
    "filter.lfs.clean": "git-lfs clean -- %f", "filter.lfs.smudge": "git-lfs smudge -- %f",
    "filter.lfs.process": "git-lfs filter-process", "filter.lfs.required": "true",
}
# Defence in depth: settings that would run a program are switched off on the command line as well.
OVERRIDES = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/nonexistent", "-c", "core.pager=cat",
             "-c", "diff.external=", "-c", "core.untrackedCache=false", "--no-pager")
_SECTION = re.compile(r'\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')
_KEY = re.compile(r"([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$")


def config_keys(text: str) -> Optional[list[tuple[str, str]]]:
    """(key, value) pairs of a git config file, keys as section[.subsection].key lower-cased; None if unreadable."""
    pairs: list[tuple[str, str]] = []
    section: Optional[str] = None
    lines = iter(text.splitlines())
    for line in lines:
        line = line.strip()
        while line.endswith("\\"):
            line = line[:-1] + next(lines, "").strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            match = _SECTION.match(line)
            if not match:
                return None
            name, sub = match[1].lower(), match[2]
            section = f"{name}.{sub}" if sub is not None else name
            line = line[match.end():].strip()
            if not line or line[0] in "#;":
                continue
        match = _KEY.match(line)
        if section is None or not match:
            return None
        value = (match[2] or "").split(" #")[0].split(" ;")[0].strip().strip('"')
        pairs.append((f"{section}.{match[1].lower()}", value))
    return pairs


def unsafe_setting(config_files: list[Path]) -> Optional[str]:
    """The first setting (with its file) that could make git run a program, or None when all are safe."""
    for path in config_files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{path} cannot be read ({exc.strerror})"
        pairs = config_keys(text)
        if pairs is None:
            return f"{path} cannot be parsed"
        for key, value in pairs:
            if SAFE_VALUES.get(key) == value:
                continue
            if not any(fnmatchcase(key, pattern) for pattern in SAFE_KEYS):
                return f"{path} sets {key}"
    return None


def find_git_dir(start: Path) -> Optional[tuple[Path, Path, Path]]:
    """(work tree root, git dir, common dir) of the repository holding `start`, found without running git."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            git_dir = dot_git
        elif dot_git.is_file():
            try:
                pointer = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                return None
            if not pointer.startswith("gitdir:"):
                return None
            git_dir = (folder / pointer[len("gitdir:"):].strip()).resolve()
        else:
            continue
        common = git_dir
        if (git_dir / "commondir").is_file():
            try:
                common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
            except OSError:
                return None
        return folder, git_dir, common
    return None


def _environment() -> dict[str, str]:
    """The caller's environment without the GIT_* variables that would point git at another repository."""
    keep = ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in keep}
    env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    return env


class GitRepo:
    """The git repository holding a project folder, queried only when its config is safe."""

    def __init__(self, project: Path, root: Path):
        self.project, self.root = project, root
        self._answers: dict[tuple[str, ...], Optional[str]] = {}

    @classmethod
    def open(cls, project: Path) -> tuple[Optional[GitRepo], Optional[str]]:
        """(GitRepo, None), (None, why git facts are skipped), or (None, None) outside any repository."""
        return _open(Path(project).resolve())

    def run(self, *args: str) -> Optional[str]:
        """Output of a git command in the project (asked once per repository object), or None when it fails."""
        if args not in self._answers:
            self._answers[args] = _run(self.project, args)
        return self._answers[args]

    def head(self) -> Optional[str]:
        out = self.run("rev-parse", "--verify", "-q", "HEAD")
        return out.strip() if out else None

    def commit_time(self) -> Optional[int]:
        out = self.run("log", "-1", "--format=%ct", "HEAD")
        return int(out.strip()) if out and out.strip().isdigit() else None

    def tags_at_head(self) -> list[str]:
        return (self.run("tag", "--points-at", "HEAD") or "").split()

    def changes(self) -> Optional[list[str]]:
        """Uncommitted changes under the project folder (porcelain lines), or None when git cannot tell."""
        out = self.run("status", "--porcelain", "--ignore-submodules=all", "--", ".")
        return None if out is None else [line for line in out.splitlines() if line.strip()]

    def ignores_project(self) -> bool:
        """Whether an enclosing repository ignores this folder (then it is not under version control here)."""
        return self.run("check-ignore", "-q", "packflow.yaml") is not None


def _open(project: Path) -> tuple[Optional[GitRepo], Optional[str]]:
    found = find_git_dir(project)
    if found is None:
        return None, None
    root, git_dir, common = found
    reason = unsafe_setting([common / "config", git_dir / "config.worktree"] +
                            ([git_dir / "config"] if git_dir != common else []))
    if reason:
        return None, f"{reason}, which can make git run a program"
    repo = GitRepo(project, root)
    if repo.run("rev-parse", "--is-inside-work-tree") != "true\n":
        return None, None
    return repo, None


def _run(project: Path, args: tuple[str, ...]) -> Optional[str]:
    try:
        result = subprocess.run(["git", *OVERRIDES, "-C", str(project), *args], capture_output=True, text=True,
                                timeout=20, env=_environment(), stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None
