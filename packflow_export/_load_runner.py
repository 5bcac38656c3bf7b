"""Runs inside the clean environment that `verify --load` builds; never imported by packflow_export itself.

Loads the backend from an unpacked archive the way Packflow's InferenceBackendLoader.from_project does, one
step at a time so a failure names its phase, then runs check_io on the sample inputs. Each step appends one
JSON line to the results file; the parent reads them, so a backend that prints megabytes, hangs, calls
sys.exit or kills the process cannot hide where it failed.

Usage: python -I _load_runner.py PROJECT_DIR RESULTS_FILE
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any, Callable, Optional, TypeVar

T = TypeVar("T")


def record(results: IO[str], **data: Any) -> None:
    results.write(json.dumps(data, default=str) + "\n")
    results.flush()
    try:
        os.fsync(results.fileno())
    except OSError:  # a pipe (the sandbox's results channel) has nothing to sync
        pass


def failure(exc: BaseException, project: Optional[Path] = None) -> dict[str, Any]:
    """What the parent needs to explain an exception: the root cause's type and message, the missing module or
    file, and the last place in the project's own code it passed through."""
    info: dict[str, Any] = {}
    chain: list[BaseException] = []
    cause: Optional[BaseException] = exc
    while cause is not None and len(chain) < 20:
        chain.append(cause)
        if isinstance(cause, ModuleNotFoundError) and cause.name:
            info.setdefault("missing_module", cause.name)
        if isinstance(cause, FileNotFoundError) and cause.filename:
            info.setdefault("missing_file", str(cause.filename))
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    root = chain[-1]
    info.update(type=type(root).__name__, message=str(root)[:2000])
    frames = [frame for error in chain for frame in traceback.extract_tb(error.__traceback__)]
    own = [frame for frame in frames if project and frame.filename.startswith(str(project))]
    if own or frames:
        last = (own or frames)[-1]
        info["where"] = f"{last.filename}:{last.lineno}"
    info["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]
    return info


def step(results: IO[str], phase: str, work: Callable[[], T], project: Optional[Path] = None) -> T:
    record(results, phase=phase, event="start")
    started = time.perf_counter()
    try:
        value = work()
    except SystemExit as exc:
        record(results, phase=phase, event="end", ok=False, seconds=time.perf_counter() - started,
               error={"type": "SystemExit", "message": f"the backend called sys.exit({exc.code!r})"})
        raise
    except BaseException as exc:  # everything a backend can raise is a finding, not a crash of the runner
        record(results, phase=phase, event="end", ok=False, seconds=time.perf_counter() - started,
               error=failure(exc, project))
        raise
    record(results, phase=phase, event="end", ok=True, seconds=time.perf_counter() - started)
    return value


def main(project_dir: str, results_path: str) -> int:
    with open(results_path, "a", encoding="utf-8") as results:
        try:
            run(project_dir, results)
        except BaseException:  # noqa: BLE001 - recorded by step(); the exit code says it failed
            return 1
    return 0


def run(project_dir: str, results: IO[str]) -> None:
    project = Path(project_dir).resolve()

    def configure() -> Any:
        import packflow
        from packflow.loaders.config import PackflowConfig, apply_env_vars

        config = PackflowConfig.from_project_path(project)
        apply_env_vars(config)
        if str(project) not in sys.path:
            sys.path.insert(0, str(project))
        record(results, phase="configure", event="info", packflow=getattr(packflow, "__version__", "?"),
               python=sys.version.split()[0], loader=config.loader, backend=config.inference_backend)
        return config

    config = step(results, "configure", configure, project)

    def import_backend() -> Any:
        from packflow.loaders.local import LocalLoader
        from packflow.loaders.module import ModuleLoader

        if config.loader == "local":
            loader = LocalLoader(config.inference_backend, base_dir=project)
        else:
            loader = ModuleLoader(config.inference_backend)
        return loader.load_backend_module()

    backend_class = step(results, "import", import_backend, project)

    def initialize() -> Any:
        from packflow import InferenceBackend

        backend = backend_class(**config.backend_config) if isinstance(backend_class, type) else backend_class
        if not isinstance(backend, InferenceBackend):
            raise TypeError(f"{config.inference_backend} is a {type(backend).__name__}, not an InferenceBackend")
        return backend

    backend = step(results, "initialize", initialize, project)
    samples_path = project / "sample_inputs.json"
    if not samples_path.is_file():
        record(results, phase="check_io", event="skipped", reason="the archive has no sample_inputs.json")
        return

    def check_io() -> int:
        samples = json.loads(samples_path.read_text(encoding="utf-8"))
        outputs = backend.check_io(samples)
        return len(outputs)

    count = step(results, "check_io", check_io, project)
    record(results, phase="check_io", event="info", records=count)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
