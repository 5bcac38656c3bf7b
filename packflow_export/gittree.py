"""A release's files read from the tagged commit, never from the work tree, with git's hiding places exposed.

`commit_tree` lists what git tracks in the project folder at a commit (modes, object ids, sizes) and the tree
hash that names exactly those bytes; `BlobReader` streams each blob through one `git cat-file --batch`, bounded
and checked against its object id; `hidden_changes` finds tracked files whose work-tree copy git is told not to
look at (assume-unchanged, skip-worktree) and whether their bytes differ from the commit. git runs only on a
repository whose config cannot make it start a program (gitinfo's checks and overrides), and with lazy fetches
of a partial clone switched off, so reading a release never runs anything or reaches the network.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator, Optional

from .model.gitinfo import OVERRIDES, GitRepo, _environment
from .model.views import Identity, identity_of

MAX_BLOB_BYTES = 64 << 30
MAX_ENTRIES = 1_000_000
CHUNK_BYTES = 1 << 20
GIT_TIMEOUT = 120
KINDS = {"100644": "file", "100755": "file", "120000": "symlink", "160000": "submodule", "040000": "folder"}
# `git ls-files -v` tags: lower case marks assume-unchanged, S skip-worktree (s both).
HIDING_TAGS = {"S": ("skip-worktree",), "s": ("assume-unchanged", "skip-worktree")}


class GitTreeError(Exception):
    """git cannot say what the commit holds (unsafe config, no such commit, a corrupt or missing object)."""


@dataclass(frozen=True)
class TreeEntry:
    """One path git tracks at the commit, relative to the project folder."""

    path: str
    mode: str
    object_id: str
    size: Optional[int]  # bytes of the blob; None for a submodule

    @property
    def kind(self) -> str:
        return KINDS.get(self.mode, "other")

    @property
    def executable(self) -> bool:
        return self.mode == "100755"


@dataclass(frozen=True)
class CommitTree:
    """The project folder as one commit holds it: what provenance records and what a release packs."""

    commit: str
    tree: str  # the tree object of the project folder (the root tree when the project is the repository)
    root_tree: str
    prefix: str  # the project folder inside the repository, "" or ending with "/"
    object_format: str
    entries: tuple[TreeEntry, ...]

    def as_dict(self) -> dict[str, object]:
        return {"commit": self.commit, "tree": self.tree, "root_tree": self.root_tree, "prefix": self.prefix,
                "object_format": self.object_format, "files": len(self.entries)}


@dataclass(frozen=True)
class HiddenChange:
    """A tracked file git is told not to compare with the commit, and whether its bytes differ from it."""

    path: str
    flags: tuple[str, ...]  # "assume-unchanged", "skip-worktree"
    differs: Optional[bool]  # None: the work-tree file is absent or unreadable


def _env() -> dict[str, str]:
    env = _environment()
    env["GIT_NO_LAZY_FETCH"] = "1"  # a partial clone must not fetch missing objects (git >= 2.44 honours it)
    return env


def _git(cwd: Path, *args: str) -> bytes:
    """A git command's raw output; GitTreeError with git's message when it fails."""
    try:
        result = subprocess.run(["git", *OVERRIDES, "-C", str(cwd), *args], capture_output=True, timeout=GIT_TIMEOUT,
                                env=_env(), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitTreeError(f"git {args[0]} could not run: {exc}") from None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitTreeError(f"git {args[0]} failed: {message[-1] if message else f'exit {result.returncode}'}")
    return result.stdout


def open_repository(project: Path) -> GitRepo:
    """The repository holding the project, or GitTreeError saying why git may not be asked about it."""
    repo, skipped = GitRepo.open(Path(project))
    if skipped:
        raise GitTreeError(skipped)
    if repo is None:
        raise GitTreeError(f"{project} is not inside a git work tree")
    return repo


def commit_tree(repo: GitRepo, revision: str = "HEAD", max_entries: int = MAX_ENTRIES) -> CommitTree:
    """What the commit holds under the project folder: every tracked path with its mode, object and size."""
    if revision.startswith("-"):
        raise GitTreeError(f"{revision!r} is not a revision")
    fmt = _git(repo.project, "rev-parse", "--show-object-format").decode().strip() or "sha1"
    prefix = _git(repo.project, "rev-parse", "--show-prefix").decode("utf-8", "surrogateescape").strip("\n")
    commit = _git(repo.project, "rev-parse", "--verify", f"{revision}^{{commit}}").decode().strip()
    root_tree = _git(repo.project, "rev-parse", "--verify", f"{commit}^{{tree}}").decode().strip()
    tree = root_tree
    if prefix:
        tree = _git(repo.project, "rev-parse", "--verify", f"{commit}:{prefix.rstrip('/')}").decode().strip()
    listing = _git(repo.root, "ls-tree", "-r", "-z", "-l", "--full-tree", tree)
    entries: list[TreeEntry] = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        if len(entries) >= max_entries:
            raise GitTreeError(f"the commit holds more than {max_entries} files under {prefix or 'the root'}")
        entries.append(_entry(record))
    return CommitTree(commit, tree, root_tree, prefix, fmt, tuple(entries))


def _entry(record: bytes) -> TreeEntry:
    """One `ls-tree -l -z` record: `<mode> <type> <object> <size>\\t<path>`."""
    info, _, path = record.partition(b"\t")
    fields = info.split()
    if len(fields) != 4:
        raise GitTreeError(f"git ls-tree printed an unexpected line: {record[:200]!r}")
    mode, _, object_id, size = (field.decode() for field in fields)
    return TreeEntry(path.decode("utf-8", "surrogateescape"), mode, object_id, int(size) if size.isdigit() else None)


def blob_id(data: bytes, object_format: str = "sha1") -> str:
    """The id git gives a blob holding exactly these bytes (no filters applied)."""
    digest = hashlib.new(object_format)
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def file_blob_id(path: Path, object_format: str = "sha1") -> Optional[str]:
    """The blob id of a work-tree file's raw bytes, or None when it is absent, not a regular file or unreadable."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        digest = hashlib.new(object_format)
        digest.update(b"blob %d\0" % info.st_size)
        read = 0
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            read += len(chunk)
        return digest.hexdigest() if read == info.st_size else None


def hidden_changes(repo: GitRepo, tree: CommitTree) -> tuple[HiddenChange, ...]:
    """Tracked files under the project that git is told not to look at (assume-unchanged, skip-worktree), each
    with whether its work-tree bytes differ from the commit's blob."""
    listing = _git(repo.project, "ls-files", "-v", "-z", "--", ".")
    committed = {entry.path: entry for entry in tree.entries}
    hidden = []
    for record in listing.split(b"\0"):
        if len(record) < 3:
            continue
        tag, path = record[:1].decode(), record[2:].decode("utf-8", "surrogateescape")
        flags = HIDING_TAGS.get(tag, ("assume-unchanged",) if tag.islower() else ())
        if not flags:
            continue
        entry = committed.get(path)
        actual = file_blob_id(repo.project / path, tree.object_format)
        differs = None if actual is None else (entry is None or actual != entry.object_id)
        hidden.append(HiddenChange(path, flags, differs))
    return tuple(hidden)


class BlobReader:
    """One `git cat-file --batch` serving blobs on request, each streamed in chunks and checked against its id."""

    def __init__(self, repo: GitRepo, object_format: str = "sha1", max_blob_bytes: int = MAX_BLOB_BYTES):
        self.object_format, self.max_blob_bytes = object_format, max_blob_bytes
        self._left = 0  # bytes of the current answer (blob and its newline) not read yet
        self.process = subprocess.Popen(["git", *OVERRIDES, "-C", str(repo.root), "cat-file", "--batch"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env=_env())

    def __enter__(self) -> "BlobReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End git cat-file (it exits when its input closes)."""
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def chunks(self, entry: TreeEntry) -> Iterator[bytes]:
        """The blob's bytes, streamed and checked against its id (a blob left half-read is skipped first)."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        while self._left:
            self._left -= len(stdout.read(min(CHUNK_BYTES, self._left)) or b"\0" * self._left)
        stdin.write(entry.object_id.encode() + b"\n")
        stdin.flush()
        header = stdout.readline(512).split()
        if len(header) != 3 or header[1] != b"blob" or header[0].decode() != entry.object_id:
            raise GitTreeError(f"{entry.path}: git has no blob {entry.object_id} ({b' '.join(header).decode()!r})")
        size = int(header[2])
        self._left = size + 1
        if size > self.max_blob_bytes:
            raise GitTreeError(f"{entry.path}: {size} bytes is more than the limit of {self.max_blob_bytes}")
        yield from self._stream(stdout, entry, size)

    def _stream(self, stdout: IO[bytes], entry: TreeEntry, size: int) -> Iterator[bytes]:
        digest = hashlib.new(self.object_format)
        digest.update(b"blob %d\0" % size)
        while self._left > 1:
            chunk = stdout.read(min(CHUNK_BYTES, self._left - 1))
            if not chunk:
                raise GitTreeError(f"{entry.path}: git stopped after {size + 1 - self._left} of {size} bytes")
            self._left -= len(chunk)
            digest.update(chunk)
            yield chunk
        self._left = 0
        if stdout.read(1) != b"\n" or digest.hexdigest() != entry.object_id:
            raise GitTreeError(f"{entry.path}: the bytes git gave do not hash to {entry.object_id}")

    def read(self, entry: TreeEntry) -> bytes:
        """A whole blob (small files; stream large ones with chunks)."""
        return b"".join(self.chunks(entry))


def tree_hash(repo: GitRepo) -> Optional[str]:
    """The tree object of the project folder at HEAD (what an export of a clean checkout holds), or None."""
    if isinstance(repo, CommittedRepo):
        return repo.tree.tree
    try:
        return _git(repo.project, "rev-parse", "--verify", "HEAD:./").decode().strip() or None
    except GitTreeError:
        return None


def _safe_parts(path: str) -> list[str]:
    """The path's components, or GitTreeError for a name no checkout may write (absolute, '..', '.git')."""
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts):
        raise GitTreeError(f"the commit holds a path no checkout writes: {path!r}")
    return parts


def materialize(repo: GitRepo, tree: CommitTree, destination: Path) -> dict[str, Identity]:
    """Write the commit's files (and links, as links) under `destination`, a new empty folder, from git's blobs;
    submodules are not part of the commit's bytes and are left out. Returns each file's identity as written, so
    a later reader can tell the written file from anything changed or put in its place."""
    destination.mkdir(mode=0o755)
    written: dict[str, Identity] = {}
    with BlobReader(repo, tree.object_format) as blobs:
        for entry in tree.entries:
            if entry.kind not in ("file", "symlink"):
                continue
            parts = _safe_parts(entry.path)
            folder = destination.joinpath(*parts[:-1])
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
            if folder.resolve() != folder or destination not in (folder, *folder.parents):
                raise GitTreeError(f"the commit's path {entry.path!r} leads through a link")
            target = folder / parts[-1]
            if entry.kind == "symlink":
                os.symlink(blobs.read(entry).decode("utf-8", "surrogateescape"), target)
                continue
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            descriptor = os.open(target, flags, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                for chunk in blobs.chunks(entry):
                    handle.write(chunk)
                os.fchmod(handle.fileno(), 0o755 if entry.executable else 0o644)
            written[entry.path] = identity_of(os.stat(target))
    return written


class CommittedRepo(GitRepo):
    """The git facts of a release built from a commit's files written out (materialize): HEAD is that commit, the
    tree is its tree, and a change is a packed file that is not one materialize wrote."""

    def __init__(self, repo: GitRepo, tree: CommitTree, checkout: Path, written: dict[str, Identity]):
        super().__init__(checkout, checkout)
        self.source, self.tree, self.checkout, self.written = repo, tree, checkout, written
        self.packed: Callable[[], list[tuple[str, str]]] = lambda: []  # (name, path read), set by the release

    def head(self) -> Optional[str]:
        return self.tree.commit

    def commit_time(self) -> Optional[int]:
        out = self.source.run("log", "-1", "--format=%ct", self.tree.commit)
        return int(out.strip()) if out and out.strip().isdigit() else None

    def tags_at_head(self) -> list[str]:
        return (self.source.run("tag", "--points-at", self.tree.commit) or "").split()

    def changes(self) -> Optional[list[str]]:
        """Packed files that are not the commit's: added (`?? name`) or not the file written from its blob."""
        lines = []
        for name, path in self.packed():
            try:
                info = os.stat(path)
            except OSError:
                lines.append(f" D {name}")
                continue
            target = Path(path).resolve().relative_to(self.checkout.resolve()).as_posix()
            if target not in self.written:
                lines.append(f"?? {name}")
            elif identity_of(info) != self.written[target]:
                lines.append(f" M {name}")
        return lines

    def ignores_project(self) -> bool:
        return False
