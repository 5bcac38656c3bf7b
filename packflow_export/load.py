"""The load proof (verify --load, export --load): an unpacked archive, in a fresh environment holding only its
requirements, loaded the way Packflow loads it and run on its sample inputs, in a subprocess.

Environments are cached by what decides their content (the requirement files, the interpreter, the install
options), so re-verifying a release with unchanged requirements does not reinstall. Nothing of the calling
process reaches the subprocess: no PYTHONPATH, no user site-packages, a private HOME and temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple, Optional

READY_MARKER = ".packflow-export-env.json"
OUTPUT_TAIL_BYTES = 8192


class LoadOptions(NamedTuple):
    index_url: Optional[str] = None
    find_links: tuple = ()
    offline: bool = False
    cache: bool = True
    timeout: float = 600.0
    run_tests: bool = False


class LoadResult(NamedTuple):
    findings: list
    phases: list  # one dict per phase: name, seconds, ok, and what else is worth reporting


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


def find_interpreter(python_version: Optional[str]) -> tuple:
    """(interpreter, its X.Y.Z, None) for the declared python_version; the running one with a note when absent."""
    running = "{}.{}.{}".format(*sys.version_info[:3])
    if not python_version:
        return sys.executable, running, None
    wanted = ".".join(python_version.split(".")[:2])
    if running.startswith(wanted + "."):
        return sys.executable, running, None
    path = shutil.which(f"python{wanted}")
    if path:
        try:
            probe = subprocess.run([path, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                                   capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            found = probe.stdout.strip()
            if probe.returncode == 0 and found.startswith(wanted + "."):
                return path, found, None
        except (OSError, subprocess.SubprocessError):
            pass
    return sys.executable, running, f"python_version is {python_version}, but no working python{wanted} is on PATH: " \
                                    f"loaded with Python {running} instead"


def _bin(environment: Path, name: str) -> Path:
    return environment / ("Scripts" if sys.platform == "win32" else "bin") / (name + (".exe" if sys.platform == "win32" else ""))


def requirement_files(project: Path) -> list:
    """requirements.txt and the files it includes (-r/-c), inside the project."""
    from .project import DirectoryView
    from .rules.requirements import read_requirements

    return read_requirements(DirectoryView(project)).files


def environment_key(project: Path, python: str, version: str, options: LoadOptions, installer: str) -> str:
    digest = hashlib.sha256()
    for rel in requirement_files(project):
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


def _install_commands(environment: Path, python: str, options: LoadOptions, installer: str) -> list:
    """The commands that create the environment and install the requirements (run in the unpacked project)."""
    extras = ["pytest"] if options.run_tests else []
    sources = []
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


def _child_environment(home: Path) -> dict:
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


def run_limited(command: list, cwd: Path, env: dict, timeout: float, output: Path) -> tuple:
    """(exit code or None on timeout, the tail of its output); output goes to a file, the process group is killed."""
    with open(output, "wb") as sink:
        try:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=sys.platform != "win32")
        except OSError as exc:
            return -1, f"{command[0]} could not be started: {exc.strerror or exc}"
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
    return code, tail


def _kill(process) -> None:
    import signal

    try:
        if sys.platform != "win32":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (OSError, ProcessLookupError):
        pass
    process.wait()


def build_environment(project: Path, work: Path, python: str, version: str, options: LoadOptions) -> tuple:
    """(environment or None, phase dict, findings): the cached environment for these requirements, or a new one."""
    from .archive import folder_lock
    from .rules.load import install_failed

    installer = _installer()
    key = environment_key(project, python, version, options, installer)
    phase = {"phase": "environment", "installer": installer, "python": version, "cached": False, "key": key}
    started = time.perf_counter()
    if options.cache:
        envs = cache_root() / "envs"
        envs.mkdir(parents=True, exist_ok=True)
        environment = envs / key
    else:
        environment = work / "env"
    with folder_lock(environment.parent) if options.cache else _nothing():
        if (environment / READY_MARKER).is_file() and _bin(environment, "python").exists():
            phase.update(cached=True, ok=True, seconds=time.perf_counter() - started)
            return environment, phase, []
        shutil.rmtree(environment, ignore_errors=True)
        env = _child_environment(work)
        for command in _install_commands(environment, python, options, installer):
            code, tail = run_limited(command, project, env, options.timeout, work / "install.log")
            if code != 0:
                shutil.rmtree(environment, ignore_errors=True)
                phase.update(ok=False, seconds=time.perf_counter() - started)
                return None, phase, [install_failed(command, code, tail, options.timeout)]
        (environment / READY_MARKER).write_text(json.dumps({"key": key, "python": version, "installer": installer}))
    phase.update(ok=True, seconds=time.perf_counter() - started)
    return environment, phase, []


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def prove_load(project: Path, python_version: Optional[str], options: LoadOptions) -> LoadResult:
    """Install, load, initialize and run the unpacked project; every failure a finding, every phase timed."""
    from .rules import load as load_rules

    findings, phases = [], []
    python, version, mismatch = find_interpreter(python_version)
    if mismatch:
        findings.append(load_rules.PYTHON_MISMATCH(mismatch, "packflow.yaml"))
    work = Path(tempfile.mkdtemp(prefix="packflow-load-"))
    try:
        environment, phase, problems = build_environment(project, work, python, version, options)
        phases.append(phase)
        findings += problems
        if environment is None:
            return LoadResult(findings, phases)
        results = work / "results.jsonl"
        runner = Path(__file__).with_name("_load_runner.py")
        started = time.perf_counter()
        code, tail = run_limited([str(_bin(environment, "python")), "-I", str(runner), str(project), str(results)],
                                 project, _child_environment(work), options.timeout, work / "load.log")
        records = _read_records(results)
        phases += load_rules.phases_of(records, time.perf_counter() - started)
        findings += load_rules.findings_of(records, code, tail, options.timeout, project)
        if options.run_tests and not any(f.severity == "error" for f in findings):
            from .rules.tests import pytest_command

            started = time.perf_counter()
            code, tail = run_limited(pytest_command(str(_bin(environment, "python"))), project,
                                     _child_environment(work), options.timeout, work / "tests.log")
            phases.append({"phase": "tests", "ok": code == 0, "seconds": time.perf_counter() - started})
            findings += load_rules.tests_findings(code, tail, options.timeout)
        return LoadResult(findings, phases)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_records(path: Path) -> list:
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
