"""Which files go into the archive: a pruning walk, built-in exclusions, .gitignore and .packflowignore.

Symlinks: a link to a file inside the project is packed as a regular file holding the target's content
(PF802 warning); a link to a directory is not followed (so loops cannot happen) and a link that leaves the
project or dangles is left out (PF802 warning). Content from outside the project never enters the archive.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path
from typing import NamedTuple, Optional

from .findings import finding

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


class SelectedFile(NamedTuple):
    name: str  # POSIX path inside the archive
    path: Path  # where to read the content
    size: int
    executable: bool


class Selection:
    """The files to pack (sorted by name), the folders pruned, and what the walk found on the way."""

    def __init__(self):
        self.files: list = []
        self.findings: list = []
        self.excluded_dirs: list = []

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def archive_patterns(normalized_name: str) -> tuple:
    """Names of this project's archives, their checksums and partial writes: never packed."""
    return (f"{normalized_name}-*.zip", f"{normalized_name}-*.zip.sha256", f".{normalized_name}-*.partial")


class IgnoreRules:
    """.gitignore and .packflowignore files, root and nested, with git's precedence (deeper and later win)."""

    def __init__(self):
        self._specs: list = []  # (folder prefix, kind rank, spec) in the order they were found

    def load(self, folder: Path, prefix: str) -> list:
        import pathspec

        problems = []
        for rank, name in enumerate(IGNORE_FILES):
            path = folder / name
            if not path.is_file():
                continue
            try:
                lines = path.read_text(encoding="utf-8-sig").splitlines()
                spec = pathspec.GitIgnoreSpec.from_lines(lines)
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                problems.append(finding("PF104", f"{prefix}{name} cannot be used: {exc}", f"{prefix}{name}"))
                continue
            self._specs.append((prefix, rank, spec))
        self._specs.sort(key=lambda item: (item[1], item[0].count("/")))
        return problems

    def ignored(self, rel: str, is_dir: bool) -> bool:
        decision = False
        candidate = rel + "/" if is_dir else rel
        for prefix, _, spec in self._specs:
            if prefix and not candidate.startswith(prefix):
                continue
            result = spec.check_file(candidate[len(prefix):])
            if result.include is not None:
                decision = result.include
        return decision


def name_matcher(patterns):
    """One compiled regex for several fnmatch patterns (one compile instead of one per pattern)."""
    import re

    return re.compile("|".join(fnmatch.translate(p) for p in patterns)).match


def is_environment(path: Path) -> bool:
    return any((path / marker).exists() for marker in ENVIRONMENT_MARKERS)


def select_files(project: Path, normalized_name: str, output: Optional[Path] = None) -> Selection:
    """Walk the project once, pruning excluded folders, and return what the archive should hold, sorted."""
    project = project.resolve()
    selection = Selection()
    rules = IgnoreRules()
    excluded_dir_name = name_matcher(EXCLUDED_DIR_PATTERNS)
    excluded_file_name = name_matcher(EXCLUDED_FILE_PATTERNS + archive_patterns(normalized_name))
    output_resolved = output.resolve() if output else None

    def walk(folder: Path, prefix: str) -> None:
        selection.findings.extend(rules.load(folder, prefix))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            selection.findings.append(finding("PF104", f"{prefix or './'} cannot be listed: {exc.strerror}", prefix or "."))
            return
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_symlink():
                handle_link(entry, rel)
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError as exc:
                selection.findings.append(finding("PF104", f"{rel} cannot be read: {exc.strerror}", rel))
                continue
            if stat.S_ISDIR(info.st_mode):
                if excluded_dir(entry.name, Path(entry.path), rel):
                    continue
                walk(Path(entry.path), rel + "/")
            elif stat.S_ISREG(info.st_mode):
                add_file(rel, Path(entry.path), info)
            else:
                selection.findings.append(finding("PF802", f"{rel} is not a regular file (pipe, socket or device): left out", rel))

    def excluded_dir(name: str, path: Path, rel: str) -> bool:
        if name in EXCLUDED_DIRS or excluded_dir_name(name) or is_environment(path) \
                or rules.ignored(rel, is_dir=True):
            selection.excluded_dirs.append(rel + "/")
            return True
        return False

    def add_file(rel: str, path: Path, info: os.stat_result) -> None:
        name = rel.rsplit("/", 1)[-1]
        if excluded_file_name(name) or rules.ignored(rel, is_dir=False):
            return
        if output_resolved is not None and path.resolve() == output_resolved:
            return
        selection.files.append(SelectedFile(rel, path, info.st_size, bool(info.st_mode & 0o111)))

    def handle_link(entry: os.DirEntry, rel: str) -> None:
        if rules.ignored(rel, is_dir=False) or rules.ignored(rel, is_dir=True):
            return
        target = Path(entry.path).resolve()
        try:
            target.relative_to(project)
        except ValueError:
            selection.findings.append(finding("PF802", f"{rel} links outside the project: left out", rel))
            return
        if not target.exists():
            selection.findings.append(finding("PF802", f"{rel} is a dangling link: left out", rel))
        elif target.is_dir():
            selection.findings.append(finding("PF802", f"{rel} links to a folder, which is not followed: left out", rel))
        elif target.is_file():
            selection.findings.append(finding("PF802", f"{rel} is a link: packed as a copy of {target.relative_to(project).as_posix()}", rel))
            add_file(rel, target, target.stat())

    walk(project, "")
    selection.files.sort(key=lambda f: f.name)
    return selection
