"""Which files go into the archive: one pruning walk, built-in exclusions, development files (left out unless
.packflowignore keeps them), .gitignore and .packflowignore.

The walk records facts, not verdicts: what it left out and why, the links it met and what they point to, the
entries it could not use. The contents rules (rules/contents.py) turn those facts into findings.

Symlinks: a link to a file inside the project is packed as a regular file holding the target's content; a
link to a folder is not followed (so loops cannot happen); a link that leaves the project or dangles is left
out. Content from outside the project never enters the archive.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, NamedTuple, Optional, Union

from ..naming import archive_stem
from .views import Identity, identity_of

if TYPE_CHECKING:
    import pathspec

# Never descended into, whatever the ignore files say: VCS, caches, dependencies, IDE and build output.
EXCLUDED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis",
    ".tox", ".nox", ".eggs", ".ipynb_checkpoints", "node_modules", ".idea", ".vscode", "build", "dist",
    ".venv", "venv",
})
EXCLUDED_DIR_PATTERNS = ("*.egg-info",)
EXCLUDED_FILE_PATTERNS = ("*.pyc", "*.pyo", ".DS_Store", "Thumbs.db")
# A folder holding one of these is an environment (virtualenv, conda), whatever its name.
ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")
IGNORE_FILES = (".gitignore", ".packflowignore")
# Development files a deployment never reads: CI configuration, commit hooks, VCS and editor files. Left out by
# default, as gitignore patterns below .gitignore and .packflowignore, so a project keeps one with a negation in
# .packflowignore (`!.gitignore`, `!.github/`). None of them is a file the package needs (tests check this).
DEVELOPMENT_FILES = (
    ".github/", ".gitlab/", ".gitlab-ci.yml", ".circleci/", ".travis.yml", "azure-pipelines.yml",
    "bitbucket-pipelines.yml", "Jenkinsfile", ".woodpecker.yml", ".woodpecker/", ".drone.yml",
    ".pre-commit-config.yaml", ".pre-commit-hooks.yaml",
    ".gitignore", ".gitattributes", ".gitmodules", ".git-blame-ignore-revs", ".mailmap", ".hgignore",
    ".packflowignore", ".editorconfig", ".devcontainer/",
)
DEVELOPMENT_SOURCE = "the default exclusion of development files"


class SelectedFile(NamedTuple):
    name: str  # POSIX path inside the archive
    path: str  # where the content is read (the target, for a link); a str: a project has many files
    size: int
    executable: bool
    identity: Identity  # identity_of() at walk time: the content must still be this file when read


class Link(NamedTuple):
    name: str
    target: Optional[str]  # the target inside the project (POSIX), or None
    outcome: str  # "copied", "outside", "dangling", "folder", "loop", "annex"


class Selection:
    """The files to pack (sorted by name), and what the walk met on the way."""

    def __init__(self, project: Path, rules: "IgnoreRules"):
        self.project = project
        self.rules = rules
        self.files: list[SelectedFile] = []
        self.links: list[Link] = []
        self.special: list[tuple[str, str]] = []  # (name, what it is): pipes, sockets, devices
        self.unreadable: list[tuple[str, str]] = []  # (name, reason)
        self.denied: list[tuple[str, int]] = []  # (name, mode) this user may not read (a folder ends with '/')
        self.bad_names: list[tuple[str, str]] = []  # (name as shown, reason)
        self.excluded: dict[str, str] = {}  # excluded name (a folder ends with '/') -> why

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def names(self) -> set[str]:
        return {f.name for f in self.files}

    def why_excluded(self, name: str) -> Optional[str]:
        """Why a project path is not in the archive (None when it is, or when it does not exist)."""
        if name in self.names:
            return None
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth]) + "/"
            if folder in self.excluded:
                return self.excluded[folder]
        if name in self.excluded:
            return self.excluded[name]
        return None


def archive_patterns(name: str) -> tuple[str, ...]:
    """This project's archives, their checksums, SBOMs and partial writes: never packed."""
    stem = archive_stem(name)
    return (f"{stem}-*.zip", f"{stem}-*.zip.sha256", f"{stem}-*.zip.cdx.json", f".{stem}-*.partial")


class IgnoreRules:
    """.gitignore and .packflowignore files, root and nested, with git's precedence (deeper and later win)."""

    def __init__(self, defaults: Iterable[str] = DEVELOPMENT_FILES) -> None:
        self._specs: list[tuple[str, int, str, list[str], pathspec.GitIgnoreSpec]] = []  # prefix, rank, file, lines
        self.problems: list[tuple[str, str]] = []  # (ignore file, reason)
        lines = list(defaults)
        if lines:
            import pathspec

            self._specs.append(("", -1, DEVELOPMENT_SOURCE, lines,
                                pathspec.GitIgnoreSpec.from_lines(lines, backend="simple")))

    def load(self, folder: Path, prefix: str) -> None:
        for rank, name in enumerate(IGNORE_FILES):
            path = folder / name
            try:
                if not stat.S_ISREG(os.stat(path).st_mode):
                    continue
            except FileNotFoundError:
                continue
            except OSError as exc:
                self.problems.append((f"{prefix}{name}", f"cannot be read: {exc.strerror}"))
                continue
            import pathspec

            try:
                lines = path.read_text(encoding="utf-8-sig").splitlines()
                spec = pathspec.GitIgnoreSpec.from_lines(lines, backend="simple")  # others compile slowly
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                self.problems.append((f"{prefix}{name}", str(exc)))
                continue
            self._specs.append((prefix, rank, f"{prefix}{name}", lines, spec))
        self._specs.sort(key=lambda item: (item[1], item[0].count("/")))

    def decide(self, rel: str, is_dir: bool) -> Optional[str]:
        """The ignore rule that leaves the path out ("file:line: pattern"), or None when it stays in."""
        decision = None
        candidate = rel + "/" if is_dir else rel
        for prefix, _, source, lines, spec in self._specs:
            if prefix and not candidate.startswith(prefix):
                continue
            result = spec.check_file(candidate[len(prefix):])
            if result.include is not None:
                decision = None
                if result.include:
                    index = result.index
                    line = _pattern_line(lines, index)
                    if source == DEVELOPMENT_SOURCE and line:
                        pattern = lines[line - 1]
                        decision = f"{source} ({pattern}; keep it with !{pattern} in .packflowignore)"
                    else:
                        decision = f"{source}:{line}: {lines[line - 1].strip()}" if line else source
        return decision


def _pattern_line(lines: list[str], index: Optional[int]) -> Optional[int]:
    """The 1-based line of the index-th pattern (pathspec makes a pattern of every non-empty line)."""
    numbered = [number for number, line in enumerate(lines, 1) if line]
    return numbered[index] if index is not None and 0 <= index < len(numbered) else None


def name_matcher(patterns: Iterable[str]) -> Callable[[str], Optional[re.Match[str]]]:
    """One compiled regex for several fnmatch patterns."""
    return re.compile("|".join(fnmatch.translate(p) for p in patterns)).match


def _may_read(info: os.stat_result, folder: bool) -> bool:
    """Whether this user may read the entry (and, for a folder, enter it) by its mode bits; root may do anything."""
    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        return True
    need = 0o5 if folder else 0o4
    if info.st_uid == os.geteuid():
        return (info.st_mode >> 6) & need == need
    if info.st_gid == os.getegid() or info.st_gid in os.getgroups():
        return (info.st_mode >> 3) & need == need
    return info.st_mode & need == need


def is_environment(path: Path) -> bool:
    return any(os.path.lexists(path / marker) for marker in ENVIRONMENT_MARKERS)


def select_files(project: Path, name: str, output: Optional[Path] = None) -> Selection:
    """Walk the project once (iteratively: depth is no limit), pruning excluded folders; files sorted by name."""
    walk = _Walk(Path(project).resolve(), name, output)
    pending = [(walk.project, "")]
    while pending:
        folder, prefix = pending.pop()
        pending.extend(reversed(walk.folder(folder, prefix)))
    walk.selection.files.sort(key=lambda f: f.name)
    return walk.selection


class _Walk:
    """One walk of a project: what each entry is, and whether it goes in (and if not, why)."""

    def __init__(self, project: Path, name: str, output: Optional[Path]):
        self.project = project
        self.rules = IgnoreRules()
        self.selection = Selection(project, self.rules)
        self.excluded_dir_name = name_matcher(EXCLUDED_DIR_PATTERNS)
        self.excluded_file_name = name_matcher(EXCLUDED_FILE_PATTERNS + archive_patterns(name))
        self.output = Path(output).resolve() if output else None

    def folder(self, folder: Path, prefix: str) -> list[tuple[Path, str]]:
        """Visit one folder's entries; the subfolders to walk next, in name order."""
        self.rules.load(folder, prefix)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self.selection.unreadable.append((prefix or "./", f"cannot be listed: {exc.strerror}"))
            return []
        subfolders: list[tuple[Path, str]] = []
        for entry in entries:
            rel = prefix + entry.name
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(entry.path).decode("utf-8", "backslashreplace")[len(str(self.project)) + 1:]
                self.selection.bad_names.append((shown, "is not valid UTF-8"))
                continue
            if entry.is_symlink():
                self.link(entry, rel)
            else:
                subfolders.extend(self.entry(entry, rel))
        return subfolders

    def entry(self, entry: os.DirEntry[str], rel: str) -> list[tuple[Path, str]]:
        """A file is kept or left out; a folder is pruned or returned to be walked."""
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            self.selection.unreadable.append((rel, f"cannot be read: {exc.strerror}"))
            return []
        if stat.S_ISREG(info.st_mode):
            self.keep_file(rel, entry.name, entry.path, info)
        elif not stat.S_ISDIR(info.st_mode):
            self.selection.special.append((rel, "not a regular file (a pipe, socket or device)"))
        else:
            why = self.folder_excluded(Path(entry.path), rel)
            if why is not None:
                self.selection.excluded[rel + "/"] = why
            elif not _may_read(info, folder=True):
                self.selection.denied.append((rel + "/", stat.S_IMODE(info.st_mode)))
            else:
                return [(Path(entry.path), rel + "/")]
        return []

    def folder_excluded(self, path: Path, rel: str) -> Optional[str]:
        if path.name in EXCLUDED_DIRS or self.excluded_dir_name(path.name):
            return "built-in exclusion (VCS, caches, environments, build output)"
        if is_environment(path):
            return "a Python environment (it holds pyvenv.cfg or conda-meta)"
        return self.rules.decide(rel, is_dir=True)

    def keep_file(self, rel: str, base: str, path: Union[str, Path], info: os.stat_result) -> None:
        if self.excluded_file_name(base):
            self.selection.excluded[rel] = "built-in exclusion (caches, archives of this project)"
            return
        rule = self.rules.decide(rel, is_dir=False)
        if rule:
            self.selection.excluded[rel] = rule
            return
        if self.output is not None and Path(path) == self.output:
            return
        if not _may_read(info, folder=False):
            self.selection.denied.append((rel, stat.S_IMODE(info.st_mode)))
            return
        self.selection.files.append(SelectedFile(rel, str(path), info.st_size, bool(info.st_mode & 0o111),
                                                 identity_of(info)))

    def link(self, entry: os.DirEntry[str], rel: str) -> None:
        """A link to a file inside the project is packed as that file; any other link is recorded and left out."""
        rule = self.rules.decide(rel, is_dir=False) or self.rules.decide(rel, is_dir=True)
        if rule:
            self.selection.excluded[rel] = rule
            return
        target_text = ""
        try:
            target_text = os.readlink(entry.path)
            target = Path(entry.path).resolve(strict=True)
        except FileNotFoundError:
            outcome = "annex" if "annex/objects/" in target_text.replace("\\", "/") else "dangling"
            self.selection.links.append(Link(rel, None, outcome))
            return
        except (OSError, RuntimeError):
            self.selection.links.append(Link(rel, None, "loop"))
            return
        if target != self.project and self.project not in target.parents:
            self.selection.links.append(Link(rel, None, "outside"))
            return
        target_rel = target.relative_to(self.project).as_posix()
        if target.is_dir():
            self.selection.links.append(Link(rel, target_rel, "folder"))
        elif target.is_file():
            self.selection.links.append(Link(rel, target_rel, "copied"))
            self.keep_file(rel, rel.rsplit("/", 1)[-1], target, target.stat())
        else:
            self.selection.special.append((rel, "a link to a pipe, socket or device"))
