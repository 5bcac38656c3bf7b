"""The load proof (verify --load, export --load): an unpacked archive, in a fresh environment holding only its
requirements, loaded the way Packflow loads it and run on its sample inputs, under bubblewrap.

The archive is unpacked by unpack.py, which refuses anything but plain files and folders inside its folder
whatever any policy says. Environments are cached by what decides their content (envcache.py): built in the
sandbox's install mode (network, writing only the new environment), sealed, checked against their seal before
every reuse and rebuilt when anything changed, and mounted read-only for the proof. The archive's code runs in
the sandbox's proof mode (sandbox.py): no network, a private PID namespace, a private capped tmp, the output's
tail and a memory cap; nothing of the calling process reaches it.

The proof returns what happened (LoadOutcome); the load rules (rules/load.py) say what it means.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

from . import envcache, sandbox, unpack
from .errors import UsageError
from .model.options import LoadOptions, Phase
from .model.testsuite import pytest_command

Record = dict[str, Any]  # one line the runner wrote: a phase's start, end, skip or info
RUNNER = Path(__file__).with_name("_load_runner.py")


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
    choice: Optional[sandbox.SandboxChoice] = None  # which sandbox held the archive's code
    run: Optional[dict[str, object]] = None  # the runner's run: sandbox, caps, bytes of output
    tampered: Optional[tuple[str, ...]] = None  # what had changed in the cached environment (it was rebuilt)
    unsafe: Optional[unpack.UnsafeMember] = None  # the member that could not be unpacked safely


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


def _installer() -> str:
    return "uv" if shutil.which("uv") else "pip"


class Environment(NamedTuple):
    """The environment built (None when installing failed), its phase, the failed install, and whether a cached
    environment had changed since it was sealed (what changed)."""

    path: Optional[Path]
    phase: Phase
    failure: Optional[InstallFailure] = None
    tampered: Optional[tuple[str, ...]] = None


def install_request(project: Path, requirement_files: Sequence[str], python: Interpreter, options: LoadOptions,
                    hashed: bool = False) -> envcache.InstallRequest:
    """What the environment is built from: the archive's requirement files, the interpreter, the install options;
    with --require-hashes when the requirements carry hashes."""
    return envcache.InstallRequest(project, python.path, python.version, tuple(requirement_files) or
                                   ("requirements.txt",), ("pytest",) if options.run_tests else (), options.index_url,
                                   tuple(Path(p) for p in options.find_links), options.offline,
                                   installer=_installer(), require_hashes=hashed and not options.run_tests)


def build_environment(project: Path, requirement_files: Sequence[str], work: Path, python: Interpreter,
                      options: LoadOptions, choice: sandbox.SandboxChoice, hashed: bool = False) -> Environment:
    """The cached environment for these requirements when its seal still holds, else a new one built in the
    install sandbox and sealed; timed as the "environment" phase."""
    request = install_request(project, requirement_files, python, options, hashed)
    folder = cache_root() / "envs" if options.cache else work / "envs"
    limits = sandbox.Limits(timeout=options.timeout, memory_bytes=None)
    prepared = envcache.prepare_environment(request, folder, choice, limits, reuse=options.cache)
    phase: Phase = {"phase": "environment", "installer": request.installer, "python": python.version,
                    "cached": prepared.reused, "key": prepared.key, "ok": prepared.ok,
                    "seconds": prepared.seconds, "sandbox": choice.kind, "require_hashes": request.require_hashes}
    check = prepared.check
    tampered = (*check.added, *check.changed, *check.removed) if check is not None and not check.ok else None
    if not prepared.ok:
        install = prepared.install
        tail = "" if install is None else "\n".join(
            part for part in (install.stderr.text(), install.stdout.text(), install.setup_error or "") if part.strip())
        code = -1 if install is None else None if install.timed_out else install.returncode
        command = [request.installer, "pip", "install"] if request.installer == "uv" else ["pip", "install"]
        failure = InstallFailure(command + ["--require-hashes"] * request.require_hashes, code,
                                 tail or prepared.problem or "")
        return Environment(None, phase, failure, tampered)
    return Environment(prepared.path, phase, None, tampered)


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


def choose(options: LoadOptions) -> sandbox.SandboxChoice:
    """The sandbox `--sandbox` asks for on this machine; UsageError (exit 2) when it is required and missing."""
    try:
        return sandbox.choose_sandbox(options.sandbox)
    except sandbox.SandboxRequired as exc:
        raise UsageError(f"{exc}; the load proof did not run") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _run(environment: Path, project: Path, arguments: Sequence[str], options: LoadOptions,
         choice: sandbox.SandboxChoice, channel: bool = True) -> tuple[Ended, bytes, dict[str, object]]:
    """One run of the environment's Python in the unpacked project, in the proof's sandbox: how it ended (its
    output's tail), what it wrote to the results channel, and the run's record (sandbox, caps, bytes written)."""
    spec = sandbox.proof_spec(environment, project, arguments, sandbox.Limits(timeout=options.timeout),
                              read_only=[RUNNER])
    if not channel:
        spec = dataclasses.replace(spec, channel=False)
    result = sandbox.run(spec, choice)
    if result.setup_error:
        return Ended(-1, f"the sandbox could not be built: {result.setup_error}"), b"", result.as_dict()
    tail = "\n".join(part for part in (result.stdout.text(), result.stderr.text()) if part.strip())
    return Ended(None if result.timed_out else result.returncode, tail), result.channel, result.as_dict()


def prove_load(project: Path, python_version: Optional[str], options: LoadOptions,
               requirement_files: Sequence[str], hashed: bool = False) -> LoadOutcome:
    """Install (with --require-hashes when `hashed`), load, initialize and run the unpacked project, every phase
    timed; the project's tests as well (options.run_tests) once it loaded."""
    choice = choose(options)
    python = find_interpreter(python_version)
    outcome = LoadOutcome(project, options.timeout, [], python.mismatch, choice=choice)
    work = Path(tempfile.mkdtemp(prefix="packflow-load-"))
    try:
        environment = build_environment(project, requirement_files, work, python, options, choice, hashed)
        outcome = outcome._replace(tampered=environment.tampered)
        outcome.phases.append(environment.phase)
        if environment.path is None:
            return outcome._replace(install_failure=environment.failure)
        started = time.perf_counter()
        ended, channel, run = _run(environment.path, project, [str(RUNNER), str(project), sandbox.CHANNEL], options,
                                   choice)
        records = _read_records(channel)
        runner_phases = phases_of(records, time.perf_counter() - started)
        if runner_phases:
            runner_phases[0]["sandbox"] = run  # which sandbox held the archive's code, its caps, its output
        outcome.phases.extend(runner_phases)
        outcome = outcome._replace(records=records, runner=ended, run=run)
        if options.run_tests and loaded(records, ended):
            started = time.perf_counter()
            tests, _, _ = _run(environment.path, project, pytest_command("python")[1:], options, choice, False)
            outcome.phases.append({"phase": "tests", "ok": tests.code == 0, "seconds": time.perf_counter() - started})
            outcome = outcome._replace(tests=tests)
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_records(channel: bytes) -> list[Record]:
    records = []
    for line in channel.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def prove_members(members: Sequence[unpack.Member], python_version: Optional[str], options: LoadOptions,
                  requirement_files: Sequence[str], hashed: bool = False) -> LoadOutcome:
    """Unpack an archive's members into a private folder (unpack.py: nothing but plain files inside it, whatever
    any policy says) and prove them there; the folder goes away afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="packflow-verify-"))
    try:
        started = time.perf_counter()
        project = folder / "project"
        try:
            unpacked = unpack.unpack(members, project)
        except unpack.UnsafeMember as exc:
            extract: Phase = {"phase": "extract", "ok": False, "seconds": time.perf_counter() - started}
            return LoadOutcome(project, options.timeout, [extract], unsafe=exc)
        extract = {"phase": "extract", "ok": True, "seconds": time.perf_counter() - started, "files": unpacked.files}
        outcome = prove_load(project, python_version, options, requirement_files, hashed)
        return outcome._replace(phases=[extract, *outcome.phases])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
