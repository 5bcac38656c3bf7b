"""The load proof (verify --load, export --load): an unpacked archive, in a fresh environment holding only its
requirements, loaded the way Packflow loads it and run on its sample inputs, in a subprocess.

Environments are cached by what decides their content (the requirement files, the interpreter, the install
options), so re-verifying a release with unchanged requirements does not reinstall. Nothing of the calling
process reaches the subprocess: no PYTHONPATH, no user site-packages, a private HOME and temporary folder.

The proof returns what happened (LoadOutcome); the load rules (rules/load.py) say what it means.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, NamedTuple, Optional, Sequence

from .model.options import LoadOptions, Phase
from .model.testsuite import pytest_command

READY_MARKER = ".packflow-export-env.json"
OUTPUT_TAIL_BYTES = 8192
Record = dict[str, Any]  # one line the runner wrote: a phase's start, end, skip or info


class InstallFailure(NamedTuple):
    """An install command that failed (code) or did not finish (code None)."""

    command: list[str]
    code: Optional[int]
    tail: str


class Ended(NamedTuple):
    """How a subprocess of the proof ended: its exit code (None: killed at the time limit) and its last output."""

    code: Optional[int]
    tail: str


class LoadOutcome(NamedTuple):
    """What the proof saw, phase by phase; the load rules turn it into findings."""

    project: Path  # where the archive was unpacked (gone by now; messages name files relative to it)
    timeout: float
    phases: list[Phase]
    python_mismatch: Optional[str] = None  # why the declared Python was not used
    install_failure: Optional[InstallFailure] = None
    records: Optional[list[Record]] = None  # what the runner recorded, when it ran
    runner: Optional[Ended] = None
    tests: Optional[Ended] = None


def cache_root() -> Path:
    """PACKFLOW_EXPORT_CACHE, else the platform's user cache folder."""
    override = os.environ.get("PACKFLOW_EXPORT_CACHE")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "packflow-export" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "packflow-export"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "packflow-export"


class Interpreter(NamedTuple):
    path: str
    version: str  # X.Y.Z
    mismatch: Optional[str]  # why it is not the declared one


def find_interpreter(python_version: Optional[str]) -> Interpreter:
    """(interpreter, its X.Y.Z, None) for the declared python_version; the running one with a note when absent."""
    running = "{}.{}.{}".format(*sys.version_info[:3])
    if not python_version:
        return Interpreter(sys.executable, running, None)
    wanted = ".".join(python_version.split(".")[:2])
    if running.startswith(wanted + "."):
        return Interpreter(sys.executable, running, None)
    path = shutil.which(f"python{wanted}")
    if path:
        try:
            probe = subprocess.run([path, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                                   capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            found = probe.stdout.strip()
            if probe.returncode == 0 and found.startswith(wanted + "."):
                return Interpreter(path, found, None)
        except (OSError, subprocess.SubprocessError):
            pass
    return Interpreter(sys.executable, running, f"python_version is {python_version}, but no working "
                                                f"python{wanted} is on PATH: loaded with Python {running} instead")


def _bin(environment: Path, name: str) -> Path:
    windows = sys.platform == "win32"
    return environment / ("Scripts" if windows else "bin") / (name + (".exe" if windows else ""))


def environment_key(project: Path, requirement_files: Sequence[str], python: str, version: str, options: LoadOptions,
                    installer: str) -> str:
    """What decides an environment's content: the requirement files (requirements.txt and what it includes), the
    interpreter and the install options."""
    digest = hashlib.sha256()
    for rel in requirement_files:
        digest.update(rel.encode() + b"\0" + (project / rel).read_bytes() + b"\0")
    settings = {"python": python, "version": version, "index_url": options.index_url, "installer": installer,
                "find_links": [str(Path(p).resolve()) for p in options.find_links], "offline": options.offline,
                "pytest": options.run_tests}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _installer() -> str:
    return "uv" if shutil.which("uv") else "pip"


def _pip_supports_python_option() -> bool:
    """Whether this interpreter's pip can install into another environment (pip >= 22.3: --python)."""
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("pip").split(".")[:2])
        return (major, minor) >= (22, 3)
    except Exception:  # noqa: BLE001 - no pip, or an odd version: fall back to the environment's own pip
        return False


def _install_commands(environment: Path, python: str, options: LoadOptions, installer: str) -> list[list[str]]:
    """The commands that create the environment and install the requirements (run in the unpacked project)."""
    extras = ["pytest"] if options.run_tests else []
    sources: list[str] = []
    if options.index_url:
        sources += ["--index-url", options.index_url]
    for folder in options.find_links:
        sources += ["--find-links", str(Path(folder).resolve())]
    env_python = str(_bin(environment, "python"))
    if installer == "uv":
        offline = ["--offline", "--no-index"] if options.offline else []
        return [["uv", "venv", "--quiet", "--python", python, str(environment)],
                ["uv", "pip", "install", "--quiet", "--python", env_python, "-r", "requirements.txt", *extras,
                 *sources, *offline]]
    offline = ["--no-index"] if options.offline else []
    pip_options = ["install", "--quiet", "--disable-pip-version-check", "-r", "requirements.txt", *extras, *sources,
                   *offline]
    if _pip_supports_python_option():
        return [[python, "-m", "venv", "--without-pip", str(environment)],
                [sys.executable, "-m", "pip", "--python", env_python, *pip_options]]
    return [[python, "-m", "venv", str(environment)], [env_python, "-m", "pip", *pip_options]]


def _child_environment(home: Path) -> dict[str, str]:
    """What a subprocess of the proof sees: no PYTHON* variables, a private HOME and temporary folder."""
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
            "PIP_NO_INDEX", "PIP_CERT", "PIP_TRUSTED_HOST", "PIP_CONSTRAINT", "PIP_CONFIG_FILE", "UV_INDEX_URL",
            "UV_FIND_LINKS", "UV_CACHE_DIR", "UV_OFFLINE", "UV_NO_INDEX", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "XDG_CACHE_HOME")
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(HOME=str(home), TMPDIR=str(home), TEMP=str(home), TMP=str(home), PYTHONDONTWRITEBYTECODE="1",
               PYTHONNOUSERSITE="1", UV_PYTHON_DOWNLOADS="never", PIP_DISABLE_PIP_VERSION_CHECK="1")
    if "XDG_CACHE_HOME" not in env and "UV_CACHE_DIR" not in env:
        env["UV_CACHE_DIR"] = str(cache_root() / "uv")  # uv's cache survives the private HOME
    return env


def run_limited(command: list[str], cwd: Path, env: dict[str, str], timeout: float, output: Path) -> Ended:
    """How a command ended (None on timeout) and the tail of its output; output goes to a file, the process group
    is killed."""
    with open(output, "wb") as sink:
        try:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=sys.platform != "win32")
        except OSError as exc:
            return Ended(-1, f"{command[0]} could not be started: {exc.strerror or exc}")
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            code = None
        except BaseException:
            _kill(process)
            raise
    with open(output, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - OUTPUT_TAIL_BYTES))
        tail = handle.read().decode("utf-8", "replace")
    return Ended(code, tail)


def _kill(process: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        if sys.platform != "win32":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (OSError, ProcessLookupError):
        pass
    process.wait()


class Environment(NamedTuple):
    """The environment built (None when installing failed), its phase, and the failed install."""

    path: Optional[Path]
    phase: Phase
    failure: Optional[InstallFailure] = None


def _environment_folder(work: Path, key: str, options: LoadOptions) -> Path:
    if not options.cache:
        return work / "env"
    envs = cache_root() / "envs"
    envs.mkdir(parents=True, exist_ok=True)
    return envs / key


def build_environment(project: Path, requirement_files: Sequence[str], work: Path, python: Interpreter,
                      options: LoadOptions) -> Environment:
    """The cached environment for these requirements, or a new one; timed as the "environment" phase."""
    from .fsutil import folder_lock

    installer = _installer()
    key = environment_key(project, requirement_files, python.path, python.version, options, installer)
    phase: Phase = {"phase": "environment", "installer": installer, "python": python.version, "cached": False,
                    "key": key}
    started = time.perf_counter()
    environment = _environment_folder(work, key, options)
    lock: ContextManager[Any] = folder_lock(environment.parent) if options.cache else contextlib.nullcontext()
    with lock:
        if (environment / READY_MARKER).is_file() and _bin(environment, "python").exists():
            phase.update(cached=True, ok=True, seconds=time.perf_counter() - started)
            return Environment(environment, phase)
        shutil.rmtree(environment, ignore_errors=True)
        env = _child_environment(work)
        for command in _install_commands(environment, python.path, options, installer):
            ended = run_limited(command, project, env, options.timeout, work / "install.log")
            if ended.code != 0:
                shutil.rmtree(environment, ignore_errors=True)
                phase.update(ok=False, seconds=time.perf_counter() - started)
                return Environment(None, phase, InstallFailure(command, ended.code, ended.tail))
        (environment / READY_MARKER).write_text(json.dumps({"key": key, "python": python.version,
                                                            "installer": installer}))
    phase.update(ok=True, seconds=time.perf_counter() - started)
    return Environment(environment, phase)


def phases_of(records: list[Record], total: float) -> list[Phase]:
    """One entry per phase the runner reached, in order: ok, seconds, and what it reported (versions, records)."""
    phases: dict[Any, Phase] = {}
    for record in records:
        entry = phases.setdefault(record.get("phase"), {"phase": record.get("phase"), "ok": None, "seconds": 0.0})
        event = record.get("event")
        if event == "end":
            entry.update(ok=record["ok"], seconds=record["seconds"])
        elif event == "skipped":
            entry["skipped"] = record.get("reason")
        elif event == "info":
            entry.update({k: v for k, v in record.items() if k not in ("phase", "event")})
    return list(phases.values())


def loaded(records: list[Record], ended: Ended) -> bool:
    """Whether the runner loaded, initialized and ran the backend: every phase it started ended well, and so did it."""
    started = [r["phase"] for r in records if r.get("event") == "start"]
    ends = {r["phase"]: r for r in records if r.get("event") == "end"}
    return bool(started) and ended.code == 0 and all(p in ends and ends[p]["ok"] for p in started)


def prove_load(project: Path, python_version: Optional[str], options: LoadOptions,
               requirement_files: Sequence[str]) -> LoadOutcome:
    """Install, load, initialize and run the unpacked project, every phase timed; the project's tests as well
    (options.run_tests) once it loaded."""
    python = find_interpreter(python_version)
    outcome = LoadOutcome(project, options.timeout, [], python.mismatch)
    work = Path(tempfile.mkdtemp(prefix="packflow-load-"))
    try:
        environment = build_environment(project, requirement_files, work, python, options)
        outcome.phases.append(environment.phase)
        if environment.path is None:
            return outcome._replace(install_failure=environment.failure)
        env_python = str(_bin(environment.path, "python"))
        results = work / "results.jsonl"
        runner = Path(__file__).with_name("_load_runner.py")
        started = time.perf_counter()
        ended = run_limited([env_python, "-I", str(runner), str(project), str(results)], project,
                            _child_environment(work), options.timeout, work / "load.log")
        records = _read_records(results)
        outcome.phases.extend(phases_of(records, time.perf_counter() - started))
        outcome = outcome._replace(records=records, runner=ended)
        if options.run_tests and loaded(records, ended):
            started = time.perf_counter()
            tests = run_limited(pytest_command(env_python), project, _child_environment(work), options.timeout,
                                work / "tests.log")
            outcome.phases.append({"phase": "tests", "ok": tests.code == 0, "seconds": time.perf_counter() - started})
            outcome = outcome._replace(tests=tests)
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_records(path: Path) -> list[Record]:
    records = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    break
    except OSError:
        pass
    return records


def prove_members(names: Iterable[str], chunks: Callable[[str], Iterable[bytes]], python_version: Optional[str],
                  options: LoadOptions, requirement_files: Sequence[str]) -> LoadOutcome:
    """Unpack an archive's members into a private folder and prove them there; the folder goes away afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="packflow-verify-"))
    try:
        started = time.perf_counter()
        project = folder / "project"
        names = sorted(names)
        for name in names:
            target = project.joinpath(*name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            with os.fdopen(descriptor, "wb") as handle:
                for piece in chunks(name):
                    handle.write(piece)
        extract: Phase = {"phase": "extract", "ok": True, "seconds": time.perf_counter() - started,
                          "files": len(names)}
        outcome = prove_load(project, python_version, options, requirement_files)
        return outcome._replace(phases=[extract, *outcome.phases])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
