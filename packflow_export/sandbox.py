"""Run an archive's code under bubblewrap, so the code a stranger ships can read what it needs and change nothing.

A proof run sees the system read-only (/usr and its links, a few files of /etc), the folders it is given
read-only (the environment, the unpacked archive), a private size-capped tmpfs as the only writable place (HOME
inside it), no network, and a private PID namespace whose every process dies with the run. An install run has
the network and may write only the folders it is given (the new environment and the installer's scratch).
Output is read through pipes in this process and only its tail is kept; memory is capped with RLIMIT_AS; a
wall-clock timeout kills the whole namespace. Where bubblewrap does not work, `auto` runs the same command
unsandboxed (with the same environment, caps and timeout) and says so; `require` refuses.
"""

from __future__ import annotations

import functools
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

MODES = ("auto", "require", "off")
CHANNEL = "{channel}"  # in a command's arguments: the path of the results channel (/dev/fd/N)
TAIL_BYTES = 64 << 10
READ_BYTES = 1 << 20
SANDBOX_TMP = "/tmp"
SANDBOX_HOME = "/tmp/home"
MIN_BWRAP = (0, 4, 0)  # --json-status-fd, --die-with-parent, --new-session, --ro-bind-data
SIZE_BWRAP = (0, 7, 0)  # --size (a capped tmpfs)
DISABLE_USERNS_BWRAP = (0, 8, 0)  # --disable-userns (no nested user namespaces: less kernel to attack)
# Top-level links or folders a Python environment needs besides /usr (merged-/usr systems make them links).
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What of /etc a run may read: the loader's cache, time zones, symlinks of alternatives, MIME types. Never the
# host's accounts, pip/uv configuration (which would redirect an install), ssh or git configuration.
ETC_PROOF = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "mime.types", "os-release")
# An install also needs to resolve names and check certificates.
ETC_NETWORK = ("resolv.conf", "hosts", "gai.conf", "nsswitch.conf", "ssl", "ca-certificates", "pki", "crypto-policies",
               "ca-certificates.conf")
# Virtual files the kernel provides that CPU-aware libraries (OpenBLAS, torch) read; they hold no secrets.
SYS_READABLE = ("/sys/devices/system/cpu",)
FORBIDDEN_MOUNTS = ("/", "/proc", "/dev", "/sys", SANDBOX_TMP)


class SandboxRequired(Exception):
    """`--sandbox require` and bubblewrap cannot run here: the proof must not run unsandboxed."""


@dataclass(frozen=True)
class Limits:
    """What one run may take: wall-clock seconds, address space, output kept, the private tmp's size."""

    timeout: float = 600.0
    memory_bytes: Optional[int] = 8 << 30  # RLIMIT_AS of the command (virtual memory); None: no cap
    tail_bytes: int = TAIL_BYTES  # kept of stdout and of stderr each, the last bytes
    tmp_bytes: int = 512 << 20  # size of the private tmpfs (it is memory)
    channel_bytes: int = 1 << 20  # kept of the results channel, the last bytes
    stop_after_output_bytes: Optional[int] = None  # stop the run once it wrote this much in all; None: never


@dataclass(frozen=True)
class RunSpec:
    """One command to run: what it may read, write and reach. Paths are absolute and seen at the same place."""

    command: tuple[str, ...]
    cwd: Path
    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # the whole environment the command sees (HOME and TMPDIR are set here)
    network: bool = False
    limits: Limits = Limits()
    channel: bool = False  # a pipe for results: `{channel}` in the command becomes its path, /dev/fd/N
    tmp_folder: Optional[Path] = None  # a writable host folder used as TMPDIR instead of the tmpfs (installs)


@dataclass(frozen=True)
class SandboxChoice:
    """Which sandbox runs, decided once from `--sandbox` and what this machine can do."""

    mode: str
    kind: str  # "bwrap" or "none"
    reason: str
    bwrap: Optional[str] = None
    version: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        version = ".".join(map(str, self.version)) or None
        return {"mode": self.mode, "sandbox": self.kind, "bwrap": version, "reason": self.reason}


@dataclass(frozen=True)
class Captured:
    """The tail of one output stream and how many bytes it wrote in all."""

    tail: bytes
    total: int

    @property
    def dropped(self) -> int:
        return self.total - len(self.tail)

    def text(self) -> str:
        prefix = f"[... {self.dropped} bytes dropped ...]\n" if self.dropped else ""
        return prefix + self.tail.decode("utf-8", "replace")


@dataclass(frozen=True)
class RunResult:
    """What a run did: its exit, its output's tails, the results channel, and which sandbox held it."""

    returncode: Optional[int]  # None: stopped (timeout, output cap) or never started
    timed_out: bool
    output_stopped: bool
    stdout: Captured
    stderr: Captured
    channel: bytes
    seconds: float
    sandbox: dict[str, object]
    setup_error: Optional[str] = None  # the sandbox could not be built (bwrap's message)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def as_dict(self) -> dict[str, object]:
        return {"exit": self.returncode, "timed_out": self.timed_out, "output_stopped": self.output_stopped,
                "seconds": round(self.seconds, 3), "stdout_bytes": self.stdout.total,
                "stderr_bytes": self.stderr.total, "setup_error": self.setup_error, **self.sandbox}


def _bwrap_version(bwrap: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"}).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(part or 0) for part in match.groups()) if match else ()


@functools.lru_cache(maxsize=None)
def _probe() -> tuple[Optional[str], tuple[int, ...], str]:
    """(bwrap path or None, its version, why) after running `true` in the sandbox a proof would use, once."""
    bwrap = shutil.which("bwrap")
    if sys.platform != "linux":
        return None, (), f"bubblewrap runs on Linux only (this is {sys.platform})"
    if bwrap is None:
        return None, (), "bwrap is not on PATH (Debian/Ubuntu package: bubblewrap)"
    version = _bwrap_version(bwrap)
    if version < MIN_BWRAP:
        found = ".".join(map(str, version)) or "an unknown version"
        return None, version, f"{bwrap} is {found}; 0.4.0 or newer is needed"
    true = shutil.which("true", path="/usr/bin:/bin") or "/usr/bin/true"
    spec = RunSpec((true,), Path("/"), limits=Limits(timeout=20, memory_bytes=None))
    result = _run_bwrap(spec, bwrap, version, {"sandbox": "bwrap"})
    if result.returncode == 0:
        return bwrap, version, f"bwrap {'.'.join(map(str, version))} works"
    problem = (result.setup_error or result.stderr.text() or f"exit {result.returncode}").strip().splitlines()
    return None, version, f"bwrap cannot build a sandbox here: {problem[-1] if problem else '?'}{_userns_hint(problem)}"


def _userns_hint(lines: Sequence[str]) -> str:
    text = " ".join(lines)
    if "uid map" in text or "namespace" in text or "Operation not permitted" in text:
        return (" (user namespaces are blocked: on Ubuntu 23.10+ run `sudo sysctl -w "
                "kernel.apparmor_restrict_unprivileged_userns=0`, as bubblewrap's own CI does; in a container, "
                "allow unshare in its seccomp profile)")
    return ""


def sandbox_available() -> tuple[bool, str]:
    """Whether bubblewrap can build the proof's sandbox on this machine, and why not (probed once per process)."""
    bwrap, _, reason = _probe()
    return bwrap is not None, reason


def choose_sandbox(mode: str) -> SandboxChoice:
    """`auto`: bwrap when it works, else none (the reason says so); `require`: bwrap or SandboxRequired; `off`."""
    if mode not in MODES:
        raise ValueError(f"--sandbox must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return SandboxChoice(mode, "none", "--sandbox off: the archive's code runs with your rights")
    bwrap, version, reason = _probe()
    if bwrap is not None:
        return SandboxChoice(mode, "bwrap", reason, bwrap, version)
    if mode == "require":
        raise SandboxRequired(f"--sandbox require: {reason}")
    return SandboxChoice(mode, "none", f"not sandboxed: {reason}", None, version)


def run(spec: RunSpec, choice: SandboxChoice) -> RunResult:
    """Run the command in the chosen sandbox (or none), keeping the output's tail; never raises for the command."""
    sandboxed = choice.kind == "bwrap" and choice.bwrap is not None
    record = {**choice.as_dict(), "network": spec.network or not sandboxed, "memory_bytes": spec.limits.memory_bytes,
              "tmp_bytes": spec.limits.tmp_bytes if sandboxed and spec.tmp_folder is None else None}
    if sandboxed and choice.bwrap:
        return _run_bwrap(spec, choice.bwrap, choice.version, record)
    return _run_unsandboxed(spec, record)


def _limited(command: Sequence[str], memory_bytes: Optional[int]) -> list[str]:
    """The command behind a POSIX shell that sets RLIMIT_AS (KiB in dash, bash and busybox) and no core dumps."""
    limits = "ulimit -c 0"
    if memory_bytes:
        limits += f"; ulimit -v {max(1, memory_bytes // 1024)}"
    return ["/bin/sh", "-c", limits + ' && exec "$@"', "sh", *command]


def _system_args(network: bool) -> list[str]:
    """The host's system, read-only: /usr, its top-level links, the parts of /etc a run needs, CPU facts."""
    args = ["--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for name in ETC_PROOF + (ETC_NETWORK if network else ()):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for path in SYS_READABLE:
        args += ["--ro-bind-try", path, path]
    return args


def _identity_files(network: bool) -> tuple[list[str], list[int]]:
    """/etc/passwd, /etc/group (and /etc/hosts offline) written for the sandbox alone: the host's stay hidden."""
    uid, gid = os.getuid(), os.getgid()
    files = {"/etc/passwd": f"sandbox:x:{uid}:{gid}:sandbox:{SANDBOX_HOME}:/bin/sh\n",
             "/etc/group": f"sandbox:x:{gid}:\n"}
    if not network:
        files["/etc/hosts"] = "127.0.0.1 localhost sandbox\n::1 localhost\n"
    args, fds = [], []
    for target, text in files.items():
        descriptor = os.memfd_create("packflow-sandbox", 0)
        os.write(descriptor, text.encode())
        os.lseek(descriptor, 0, os.SEEK_SET)
        fds.append(descriptor)
        args += ["--ro-bind-data", str(descriptor), target]
    return args, fds


def _places(paths: Sequence[Path]) -> list[str]:
    """Each path as given (absolute) and resolved, so links in it lead to the same folder inside."""
    seen: list[str] = []
    for path in paths:
        for place in (os.path.abspath(path), os.path.realpath(path)):
            if place in FORBIDDEN_MOUNTS or place.startswith(("/proc/", "/dev/", "/sys/")):
                raise ValueError(f"{place} cannot be mounted into the sandbox")
            if place not in seen:
                seen.append(place)
    return seen


def _mount_args(spec: RunSpec) -> list[str]:
    """The given folders, parents before children, read-only or writable as asked."""
    binds = [(place, "--ro-bind") for place in _places(spec.read_only)]
    binds += [(place, "--bind") for place in _places(spec.writable)]
    if spec.tmp_folder is not None:
        binds += [(place, "--bind") for place in _places([spec.tmp_folder])]
    args: list[str] = []
    for place, option in sorted(binds, key=lambda item: (item[0].count("/"), item[0])):
        args += [option, place, place]
    return args


def bwrap_arguments(spec: RunSpec, version: tuple[int, ...], status_fd: int) -> tuple[list[str], list[int]]:
    """bwrap's options for this spec (without the command), and the descriptors they name."""
    args = ["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "sandbox", "--json-status-fd", str(status_fd)]
    if spec.network:
        args.append("--share-net")
    if version >= DISABLE_USERNS_BWRAP:
        args.append("--disable-userns")
    identity, fds = _identity_files(spec.network)
    args += _system_args(spec.network) + identity + ["--proc", "/proc", "--dev", "/dev"]
    if version >= SIZE_BWRAP:
        args += ["--size", str(spec.limits.tmp_bytes)]
    args += ["--tmpfs", SANDBOX_TMP, "--dir", SANDBOX_HOME]
    args += _mount_args(spec) + ["--chdir", os.path.abspath(spec.cwd)]
    return args, fds


def child_environment(spec: RunSpec, home: str, tmp: str) -> dict[str, str]:
    """Exactly what the command sees: the spec's variables, a private HOME and TMPDIR, nothing inherited."""
    env = dict(spec.env)
    env.update(HOME=home, TMPDIR=tmp, TMP=tmp, TEMP=tmp)
    env.setdefault("PATH", "/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    return env


def _run_bwrap(spec: RunSpec, bwrap: str, version: tuple[int, ...], record: dict[str, object]) -> RunResult:
    status_read, status_write = os.pipe()
    args, fds = bwrap_arguments(spec, version, status_write)
    tmp = str(spec.tmp_folder) if spec.tmp_folder is not None else SANDBOX_TMP
    command = [bwrap, *args, "--", *_limited(spec.command, spec.limits.memory_bytes)]
    try:
        return _supervise(command, spec, child_environment(spec, SANDBOX_HOME, tmp), record,
                          pass_fds=(status_write, *fds), status_fd=status_read, extra_close=(status_write, *fds))
    finally:
        os.close(status_read)


def _run_unsandboxed(spec: RunSpec, record: dict[str, object]) -> RunResult:
    """The same command with the same environment and caps, in a private folder; nothing is contained."""
    private = Path(tempfile.mkdtemp(prefix="packflow-run-"))
    try:
        home = private / "home"
        home.mkdir()
        tmp = str(spec.tmp_folder) if spec.tmp_folder is not None else str(private)
        command = _limited(spec.command, spec.limits.memory_bytes) if os.name == "posix" else list(spec.command)
        return _supervise(command, spec, child_environment(spec, str(home), tmp), record)
    finally:
        shutil.rmtree(private, ignore_errors=True)


class _Tail:
    """The last `limit` bytes of a stream, and how many it wrote in all."""

    def __init__(self, limit: int):
        self.limit, self.total, self.buffer = limit, 0, bytearray()

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.buffer += data
        if len(self.buffer) > 2 * self.limit:
            del self.buffer[:-self.limit]

    def captured(self) -> Captured:
        return Captured(bytes(self.buffer[-self.limit:] if self.limit else b""), self.total)


def _supervise(command: list[str], spec: RunSpec, env: dict[str, str], record: dict[str, object], *,
               pass_fds: tuple[int, ...] = (), status_fd: Optional[int] = None,
               extra_close: tuple[int, ...] = ()) -> RunResult:
    """Start the command, read its pipes until it ends or its time is up, and kill whatever is left."""
    limits, started = spec.limits, time.monotonic()
    channel_read, channel_write = os.pipe() if spec.channel else (None, None)
    if channel_write is not None:
        command = [part.replace(CHANNEL, f"/dev/fd/{channel_write}") for part in command]
        pass_fds += (channel_write,)
    try:
        process = subprocess.Popen(command, cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, pass_fds=pass_fds, start_new_session=True)
    except OSError as exc:
        _close(channel_read, channel_write, *extra_close)
        empty = Captured(b"", 0)
        return RunResult(None, False, False, empty, empty, b"", 0.0, record, f"{command[0]}: {exc.strerror or exc}")
    _close(channel_write, *extra_close)
    streams = {process.stdout.fileno(): _Tail(limits.tail_bytes),  # type: ignore[union-attr]
               process.stderr.fileno(): _Tail(limits.tail_bytes)}  # type: ignore[union-attr]
    extra = {fd: _Tail(limit) for fd, limit in ((channel_read, limits.channel_bytes), (status_fd, 4096))
             if fd is not None}
    try:
        timed_out, stopped = _pump(process, {**streams, **extra}, started + limits.timeout,
                                   limits.stop_after_output_bytes, tuple(streams))
    finally:
        _kill(process)
        _close(channel_read)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    out, err = (tail.captured() for tail in streams.values())
    status = extra[status_fd].captured().tail if status_fd is not None else None
    if status is not None:
        _wait_for_namespace_end(status)
    code = None if timed_out or stopped else process.returncode
    setup_error = None
    if status is not None and not timed_out and not stopped and b'"exit-code"' not in status:
        code, setup_error = None, (err.tail.decode("utf-8", "replace").strip() or "bwrap failed")[-2000:]
    channel = extra[channel_read].captured().tail if channel_read is not None else b""
    return RunResult(code, timed_out, stopped, out, err, channel, time.monotonic() - started, record, setup_error)


def _pump(process: subprocess.Popen, tails: dict[int, _Tail], deadline: float, stop_after: Optional[int],
          outputs: tuple[int, ...]) -> tuple[bool, bool]:
    """Read every pipe until all close; (timed out, stopped for output). After the command exits, a descendant
    still holding a pipe (possible only unsandboxed) gets a short grace, then the reading stops."""
    selector = selectors.DefaultSelector()
    for descriptor, tail in tails.items():
        os.set_blocking(descriptor, False)
        selector.register(descriptor, selectors.EVENT_READ, tail)
    try:
        while selector.get_map():
            if process.poll() is not None:
                deadline = min(deadline, time.monotonic() + 0.5)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return process.poll() is None, False
            for key, _ in selector.select(min(remaining, 0.25)):
                data = _read(key.fd)
                if data:
                    key.data.add(data)
                elif data is not None:
                    selector.unregister(key.fd)
            if stop_after is not None and sum(tails[fd].total for fd in outputs) > stop_after:
                return False, True
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return True, False
        return False, False
    finally:
        selector.close()


def _read(descriptor: int) -> Optional[bytes]:
    try:
        return os.read(descriptor, READ_BYTES)
    except BlockingIOError:
        return None


def _kill(process: subprocess.Popen) -> None:
    """Kill the command's process group (bwrap's death takes its whole PID namespace with it)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            process.kill()
    else:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # leftovers of an unsandboxed run in its group
        except OSError:
            pass
    process.wait()


CHILD_PID = re.compile(rb'"child-pid"\s*:\s*(\d+)')


def _wait_for_namespace_end(status: bytes, limit: float = 10.0) -> None:
    """Until the sandbox's PID namespace is empty: bwrap's death kills its init (--die-with-parent), whose exit
    kills and reaps every other process in it, but asynchronously; its host PID is in bwrap's JSON status."""
    found = CHILD_PID.search(status)
    if found is None:
        return
    stat = Path("/proc", found[1].decode(), "stat")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return  # a zombie init: the namespace's other processes are gone
        except (OSError, IndexError):
            return
        time.sleep(0.01)


def _close(*descriptors: Optional[int]) -> None:
    for descriptor in descriptors:
        if descriptor is not None:
            try:
                os.close(descriptor)
            except OSError:
                pass


def interpreter_folders(python: Path) -> tuple[Path, ...]:
    """The folders an interpreter needs to run (its installation), found without running it: a virtual
    environment's base comes from the link its bin/python is and from pyvenv.cfg's `home`."""
    python = Path(os.path.abspath(python))
    candidates = [Path(os.path.realpath(python)).parent.parent]
    config = python.parent.parent / "pyvenv.cfg"
    try:
        for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                candidates.append(Path(os.path.realpath(value.strip())).parent)
    except OSError:
        pass
    folders: list[Path] = []
    for folder in candidates:
        under_usr = folder == Path("/usr") or Path("/usr") in folder.parents
        if folder.is_dir() and folder not in folders and not under_usr:
            folders.append(folder)
    return tuple(folders)


def proof_spec(environment: Path, project: Path, arguments: Sequence[str], limits: Limits = Limits(), *,
               read_only: Sequence[Path] = (), variables: Optional[dict[str, str]] = None) -> RunSpec:
    """The load proof's run: the environment's Python (isolated mode) in the unpacked project, both read-only,
    with a results channel (`{channel}` in the arguments)."""
    environment, project = Path(os.path.abspath(environment)), Path(os.path.abspath(project))
    python = environment / "bin" / "python"
    env = {"PATH": f"{environment}/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
           "LANG": "C.UTF-8", **(variables or {})}
    mounts = (environment, project, *interpreter_folders(python), *read_only)
    return RunSpec((str(python), "-I", *arguments), project, read_only=mounts, env=tuple(sorted(env.items())),
                   limits=limits, channel=True)
