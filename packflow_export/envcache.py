"""Environments for the load proof that archive code can never change for the next archive.

An environment is created outside the sandbox (`uv venv`: no archive input but the interpreter), its
requirements installed inside the sandbox's install mode (network, writable only the new environment and a
private scratch folder holding the installer's cache, so nothing a build script does reaches uv's global cache or
another environment), with `--link-mode=copy` (never a hardlink into a cache another environment shares) and the
installer's configuration files ignored. Then it is sealed: every file's kind, mode, size and sha256, and the
inode, ctime and mtime it had, recorded beside the environment (never inside it, never mounted). Before reuse
the environment is walked again: an added, removed or retyped file fails the check; a file whose inode, ctime,
mtime, size and mode are unchanged is unchanged (ctime moves on every write and no unprivileged call can set it,
so a writer that restores mtime is still seen); any other file is hashed again. Proofs mount it read-only.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterator, Mapping, Optional

from . import sandbox

SEAL_FORMAT = 1
SEAL_SUFFIX = ".seal.json"
CHUNK_BYTES = 1 << 20
# What a virtual environment holds that no distribution installs (venv, uv venv; POSIX and Windows layouts).
SCAFFOLDING = ("pyvenv.cfg", ".gitignore", "CACHEDIR.TAG", ".lock", "lib64", "include", "bin/activate*",
               "bin/Activate.ps1", "bin/deactivate*", "bin/pydoc*", "bin/python*", "Scripts/activate*",
               "Scripts/Activate.ps1", "Scripts/deactivate*", "Scripts/pydoc*", "Scripts/python*")
# The verifier's own settings for reaching its package index; never cache locations or config files.
INSTALL_VARIABLES = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "PIP_INDEX_URL",
                     "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                     "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy",
                     "all_proxy")
Entry = tuple  # (kind, mode, size, digest or link target, inode, ctime_ns, mtime_ns)


class SealError(Exception):
    """The environment holds something a sealed environment may not (a FIFO, a device, a socket)."""


@dataclass(frozen=True)
class Seal:
    """What an environment held when it was sealed, and what no distribution's RECORD accounts for."""

    environment: str
    files: Mapping[str, Entry]
    unclaimed: tuple[str, ...]  # files and links no RECORD lists and no venv creates (a planted .pth lands here)
    mismatched: tuple[str, ...]  # files whose bytes differ from the hash their RECORD gives
    seconds: float

    def as_json(self) -> str:
        return json.dumps({"format": SEAL_FORMAT, "environment": self.environment, "unclaimed": self.unclaimed,
                           "mismatched": self.mismatched, "files": self.files}, sort_keys=True)


@dataclass(frozen=True)
class SealCheck:
    """Whether an environment still holds exactly what was sealed, and what differs."""

    ok: bool
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    rehashed: int  # files read again because their inode, ctime, mtime, size or mode moved
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "added": list(self.added[:20]), "removed": list(self.removed[:20]),
                "changed": list(self.changed[:20]), "rehashed": self.rehashed, "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class InstallRequest:
    """What an environment is built from; everything that decides its content is in its key."""

    project: Path  # the folder holding the requirement files (read-only during the install)
    python: str  # the interpreter the environment is made for
    python_version: str
    requirements: tuple[str, ...] = ("requirements.txt",)  # the file installed first, then the files it includes
    extras: tuple[str, ...] = ()  # more requirements (pytest for --run-tests)
    index_url: Optional[str] = None
    find_links: tuple[Path, ...] = ()
    offline: bool = False
    no_build: bool = False  # wheels only: no build script of a source distribution runs during the install
    installer: str = "uv"
    require_hashes: bool = False  # every distribution must match a --hash of the requirements (pip's hash mode)


@dataclass(frozen=True)
class PreparedEnvironment:
    """An environment ready for a proof (or why not), and how it came to be."""

    path: Optional[Path]
    key: str
    reused: bool
    install: Optional[sandbox.RunResult]
    check: Optional[SealCheck]  # the check before reuse (a failed one means it was rebuilt)
    seal: Optional[Seal]
    seconds: float
    problem: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.path is not None and self.problem is None


def _hash_file(folder: int, name: str) -> tuple[str, os.stat_result]:
    """sha256 of a regular file opened relative to its folder without following links, with its stat."""
    descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise SealError(f"{name} changed type while it was read")
        digest = hashlib.sha256()
        while chunk := os.read(descriptor, CHUNK_BYTES):
            digest.update(chunk)
        return digest.hexdigest(), info
    finally:
        os.close(descriptor)


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result, Optional[str], int]]:
    """(relative path, lstat, link target, folder descriptor) of everything under root, links not followed."""
    pending = [""]
    while pending:
        relative = pending.pop()
        folder = os.open(root / relative if relative else root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for name in sorted(os.listdir(folder)):
                info = os.lstat(name, dir_fd=folder)
                path = f"{relative}/{name}" if relative else name
                target = os.readlink(name, dir_fd=folder) if stat.S_ISLNK(info.st_mode) else None
                if stat.S_ISDIR(info.st_mode):
                    pending.append(path)
                yield path, info, target, folder
        finally:
            os.close(folder)


def _entry(info: os.stat_result, target: Optional[str], digest: Optional[str]) -> Entry:
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        return ("dir", stat.S_IMODE(mode), 0, None, info.st_ino, info.st_ctime_ns, info.st_mtime_ns)
    if stat.S_ISLNK(mode):
        return ("link", 0, 0, target, info.st_ino, info.st_ctime_ns, info.st_mtime_ns)
    return ("file", stat.S_IMODE(mode), info.st_size, digest, info.st_ino, info.st_ctime_ns, info.st_mtime_ns)


def _special(path: str, mode: int) -> bool:
    return not (stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode))


def seal_environment(environment: Path) -> Seal:
    """Record every file of a freshly built environment (hashing each once) and check it against the RECORDs."""
    started = time.perf_counter()
    environment = Path(os.path.abspath(environment))
    files: dict[str, Entry] = {}
    for path, info, target, folder in _walk(environment):
        if _special(path, info.st_mode):
            raise SealError(f"{environment}/{path} is not a file, folder or link")
        digest = None
        if stat.S_ISREG(info.st_mode):
            digest, info = _hash_file(folder, path.rsplit("/", 1)[-1])
        files[path] = _entry(info, target, digest)
    unclaimed, mismatched = _against_records(environment, files)
    return Seal(str(environment), files, unclaimed, mismatched, time.perf_counter() - started)


def _record_digest(value: str) -> Optional[str]:
    """A RECORD hash (`sha256=<urlsafe base64>`) as hex, or None when it is not sha256."""
    algorithm, _, encoded = value.partition("=")
    if algorithm != "sha256" or not encoded:
        return None
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
    except ValueError:
        return None


def _pyc_source(path: str) -> Optional[str]:
    """`pkg/__pycache__/mod.cpython-311.pyc` -> `pkg/mod.py`."""
    folder, _, name = path.rpartition("/")
    if not folder.endswith("__pycache__") or not name.endswith(".pyc"):
        return None
    parent = folder[: -len("__pycache__")].rstrip("/")
    module = name.split(".", 1)[0]
    return f"{parent}/{module}.py" if parent else f"{module}.py"


def _against_records(environment: Path, files: Mapping[str, Entry]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unclaimed, mismatched): what no RECORD or venv accounts for, and what differs from its RECORD hash."""
    claimed: set[str] = set()
    mismatched: list[str] = []
    for path in files:
        if not (path.endswith("/RECORD") and ".dist-info/" in path):
            continue
        site = path.rsplit("/", 2)[0]
        text = (environment / path).read_text(encoding="utf-8", errors="replace")
        for row in csv.reader(io.StringIO(text)):
            if not row:
                continue
            listed = os.path.normpath(f"{site}/{row[0]}").replace(os.sep, "/")
            claimed.add(listed)
            expected = _record_digest(row[1]) if len(row) > 1 else None
            entry = files.get(listed)
            if expected and entry is not None and entry[0] == "file" and entry[3] != expected:
                mismatched.append(listed)
    unclaimed = []
    for path, entry in files.items():
        if entry[0] == "dir" or path in claimed or any(fnmatchcase(path, pattern) for pattern in SCAFFOLDING):
            continue
        if _pyc_source(path) in claimed:
            continue
        unclaimed.append(path)
    return tuple(sorted(unclaimed)), tuple(sorted(mismatched))


def write_seal(seal: Seal, path: Path) -> None:
    """Write the seal through a temporary file and a rename: a seal is there whole or not at all."""
    from .fsutil import atomic_write

    atomic_write(path, seal.as_json(), mode=None)


def read_seal(path: Path) -> Optional[Seal]:
    """The seal written for an environment, or None when it is missing, unreadable or of another format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != SEAL_FORMAT or not isinstance(data.get("files"), dict):
        return None
    files = {name: tuple(entry) for name, entry in data["files"].items()}
    return Seal(str(data.get("environment")), files, tuple(data.get("unclaimed") or ()),
                tuple(data.get("mismatched") or ()), 0.0)


def _unchanged(recorded: Entry, info: os.stat_result, target: Optional[str]) -> Optional[bool]:
    """True/False when the stat decides it; None when the file must be hashed again."""
    kind = _entry(info, target, None)
    if kind[0] != recorded[0]:
        return False
    if kind[0] == "link":
        return kind[3] == recorded[3]
    if kind[0] == "dir":
        return kind[1] == recorded[1]
    if kind[1] != recorded[1]:
        return False
    return True if kind[2] == recorded[2] and kind[4:] == tuple(recorded[4:]) else None


def check_seal(environment: Path, seal: Seal, *, full: bool = False) -> SealCheck:
    """Walk the environment and compare it with its seal (hashing only files whose stat moved, or all if
    `full`); anything added, removed or different fails the check."""
    started = time.perf_counter()
    environment = Path(os.path.abspath(environment))
    if str(environment) != seal.environment:
        return SealCheck(False, (), (), ("(the environment was moved)",), 0, time.perf_counter() - started)
    seen: set[str] = set()
    added, changed = [], []
    rehashed = 0
    for path, info, target, folder in _walk(environment):
        seen.add(path)
        recorded = seal.files.get(path)
        if recorded is None or _special(path, info.st_mode):
            added.append(path)
            continue
        verdict = _unchanged(recorded, info, target)
        if verdict is None or (full and recorded[0] == "file" and verdict):
            rehashed += 1
            digest, now = _hash_file(folder, path.rsplit("/", 1)[-1])
            verdict = digest == recorded[3] and now.st_size == recorded[2]
        if not verdict:
            changed.append(path)
    removed = sorted(set(seal.files) - seen)
    ok = not (added or removed or changed)
    return SealCheck(ok, tuple(sorted(added)), tuple(removed), tuple(sorted(changed)), rehashed,
                     time.perf_counter() - started)


def _seal_path(environment: Path) -> Path:
    return environment.with_name(environment.name + SEAL_SUFFIX)


def environment_key(request: InstallRequest) -> str:
    """A digest of everything that decides what the environment holds."""
    digest = hashlib.sha256()
    for name in request.requirements:
        digest.update(name.encode() + b"\0" + (request.project / name).read_bytes() + b"\0")
    settings = {"python": request.python, "version": request.python_version, "installer": request.installer,
                "extras": list(request.extras), "index_url": request.index_url, "offline": request.offline,
                "find_links": [os.path.realpath(p) for p in request.find_links], "no_build": request.no_build,
                "require_hashes": request.require_hashes, "seal": SEAL_FORMAT}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _python_in(environment: Path) -> Path:
    return environment / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _installer_path(installer: str) -> str:
    found = shutil.which(installer)
    if found is None:
        raise FileNotFoundError(f"{installer} is not on PATH")
    return os.path.realpath(found)


def install_command(request: InstallRequest, environment: Path) -> tuple[list[str], tuple[Path, ...]]:
    """The install command (run in the project folder) and the files and folders it must read."""
    python = str(_python_in(environment))
    sources: list[str] = []
    if request.index_url:
        sources += ["--index-url", request.index_url]
    for folder in request.find_links:
        sources += ["--find-links", os.path.realpath(folder)]
    requirements = [item for name in request.requirements[:1] for item in ("-r", name)]
    requirements += ["--require-hashes"] if request.require_hashes else []
    reads = tuple(Path(os.path.realpath(folder)) for folder in request.find_links)
    if request.installer == "uv":
        uv = _installer_path("uv")
        offline = ["--offline", "--no-index"] if request.offline else []
        no_build = ["--no-build"] if request.no_build else []
        return ([uv, "pip", "install", "--quiet", "--no-config", "--link-mode=copy", "--compile-bytecode",
                 "--python", python, *requirements, *request.extras, *sources, *offline, *no_build],
                (Path(uv), *reads))
    offline = ["--no-index"] if request.offline else []
    no_build = ["--only-binary=:all:"] if request.no_build else []
    host = sys.executable
    return ([host, "-m", "pip", "--python", python, "install", "--quiet", "--disable-pip-version-check",
             "--no-input", *requirements, *request.extras, *sources, *offline, *no_build],
            (*sandbox.interpreter_folders(Path(host)), Path(sys.prefix), *reads))


def _install_environment(scratch: Path) -> tuple[tuple[str, str], ...]:
    """The install's variables: the verifier's index, proxy and certificate settings, a private cache."""
    env = {name: os.environ[name] for name in INSTALL_VARIABLES if name in os.environ}
    env.update(UV_CACHE_DIR=str(scratch / "cache"), PIP_CACHE_DIR=str(scratch / "cache"), UV_NO_CONFIG="1",
               PIP_CONFIG_FILE=os.devnull, UV_PYTHON_DOWNLOADS="never", UV_LINK_MODE="copy", UV_NO_PROGRESS="1",
               PYTHONNOUSERSITE="1", PATH="/usr/bin:/bin")
    return tuple(sorted(env.items()))


def create_venv(request: InstallRequest, environment: Path, timeout: float) -> Optional[str]:
    """Create the empty environment outside the sandbox (nothing of the archive is read); why not, or None."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1",
           "HOME": str(environment.parent)}
    if request.installer == "uv":
        command = [_installer_path("uv"), "venv", "--quiet", "--no-config", "--no-cache", "--python", request.python,
                   str(environment)]
    else:
        command = [request.python, "-m", "venv", "--without-pip", str(environment)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                                cwd=environment.parent, stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{command[0]} could not create the environment: {exc}"
    return None if result.returncode == 0 else (result.stderr.strip() or f"exit {result.returncode}")[-2000:]


def build_environment(request: InstallRequest, environment: Path, choice: sandbox.SandboxChoice,
                      limits: sandbox.Limits) -> tuple[Optional[sandbox.RunResult], Optional[str]]:
    """Create the environment and install the requirements in the sandbox's install mode; (install, problem)."""
    problem = create_venv(request, environment, limits.timeout)
    if problem:
        return None, problem
    scratch = Path(tempfile.mkdtemp(prefix="packflow-install-"))
    try:
        (scratch / "cache").mkdir()
        (scratch / "tmp").mkdir()
        command, reads = install_command(request, environment)
        spec = sandbox.RunSpec(tuple(command), Path(os.path.abspath(request.project)),
                               read_only=(Path(os.path.abspath(request.project)), *reads,
                                          *sandbox.interpreter_folders(_python_in(environment))),
                               writable=(environment, scratch), env=_install_environment(scratch),
                               network=not request.offline, limits=limits, tmp_folder=scratch / "tmp")
        result = sandbox.run(spec, choice)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result, None if result.ok else "the requirements did not install"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing), so one process builds an environment at a time."""
    try:
        import fcntl
    except ImportError:  # Windows: no sandbox there; environments are built without a lock
        yield
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _remove(environment: Path) -> None:
    _seal_path(environment).unlink(missing_ok=True)
    shutil.rmtree(environment, ignore_errors=True)


def prepare_environment(request: InstallRequest, folder: Path, choice: sandbox.SandboxChoice,
                        limits: sandbox.Limits, *, reuse: bool = True, full_check: bool = False) -> PreparedEnvironment:
    """The environment for this request under `folder`: reused when its seal still holds, else (re)built in the
    install sandbox and sealed. With reuse=False it is always built (a throwaway folder the caller removes)."""
    started = time.perf_counter()
    key = environment_key(request)
    folder.mkdir(parents=True, exist_ok=True)
    environment = Path(os.path.abspath(folder / key))
    with _locked(folder / f".{key}.lock"):
        check = None
        seal = read_seal(_seal_path(environment)) if reuse else None
        if seal is not None and environment.is_dir():
            check = check_seal(environment, seal, full=full_check)
            if check.ok:
                return PreparedEnvironment(environment, key, True, None, check, seal, time.perf_counter() - started)
        _remove(environment)
        install, problem = build_environment(request, environment, choice, limits)
        seal = None
        if problem is None:
            try:
                seal = seal_environment(environment)
            except (SealError, OSError) as exc:
                problem = f"the environment cannot be sealed: {exc}"
        if problem is not None or seal is None:
            _remove(environment)
            return PreparedEnvironment(None, key, False, install, check, None, time.perf_counter() - started,
                                       problem)
        write_seal(seal, _seal_path(environment))
        return PreparedEnvironment(environment, key, False, install, check, seal, time.perf_counter() - started)
