"""The load proof's cost: `verify --load` of a default bake, with an empty and a warm environment cache, with pip
and with uv, beside a hand-written baseline measured in the same run: `python -m venv` + `pip install -r
requirements.txt` + a `python -c` that loads the backend and runs check_io.

Goals (issue 9): cold <= 1.1x the baseline (<= 0.5x with uv); warm <= 2 s and <= 0.2x the baseline.
Needs the package index (pip and uv download packflow and its dependencies); every cold run starts with empty
caches (a fresh HOME, pip cache and PACKFLOW_EXPORT_CACHE).

Run: .venv/bin/python benchmarks/bench_load.py [--runs N]
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from _measure import COOKIECUTTER, PYTHON, REPO, VENV_BIN, benchmark_parser, fresh_dir, measure, print_table, workspace

BASELINE = """
import sys, json
from packflow.loaders import InferenceBackendLoader
backend = InferenceBackendLoader.from_project(sys.argv[1])
print(len(backend.check_io(json.load(open(sys.argv[1] + "/sample_inputs.json")))))
"""


def main():
    args = benchmark_parser(__doc__, runs=3).parse_args()
    with workspace() as (work, env):
        subprocess.run([COOKIECUTTER, "--no-input", str(REPO)], cwd=work, env=dict(os.environ, **env), check=True,
                       capture_output=True)
        out = work / "out"
        subprocess.run([PYTHON, "-m", "packflow_export", "export", str(work / "my-analytic"), "-o", str(out), "-q"],
                       check=True, capture_output=True)
        archive = out / "my_analytic-0.1.0.zip"
        unpacked = work / "unpacked"
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(unpacked)
        no_uv = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                if not (Path(p) / "uv").exists() and Path(p) != VENV_BIN)
        with_uv = str(VENV_BIN) + os.pathsep + no_uv
        baseline = ["sh", "-c", f'"{sys.executable}" -m venv env && env/bin/pip install -q -r requirements.txt '
                                f'&& env/bin/python -c \'{BASELINE}\' "$PWD"']
        verify = [PYTHON, "-m", "packflow_export", "verify", str(archive), "--load", "-q"]

        def cold(path: str, cache: Path):
            def setup():
                fresh_dir(cache)
                fresh_dir(work / "home")
                shutil.rmtree(unpacked / "env", ignore_errors=True)
            return setup, {"HOME": str(work / "home"), "PACKFLOW_EXPORT_CACHE": str(cache), "PATH": path,
                           "PIP_CACHE_DIR": str(work / "home" / "pip")}

        rows = []
        setup, run_env = cold(no_uv, work / "cache-base")
        seconds, rss = measure(baseline, unpacked, args.runs, run_env, setup)
        rows.append({"label": "baseline: venv + pip install -r + load and check_io", "seconds": seconds, "rss": rss})
        for installer, path in (("pip", no_uv), ("uv", with_uv)):
            cache = work / f"cache-{installer}"
            setup, run_env = cold(path, cache)
            seconds, rss = measure(verify, work, args.runs, run_env, setup)
            rows.append({"label": f"verify --load, empty cache, {installer}", "seconds": seconds, "rss": rss,
                         "peer": "baseline: venv + pip install -r + load and check_io"})
            warm_env = dict(run_env)
            seconds, rss = measure(verify, work, max(args.runs, 5), warm_env)
            rows.append({"label": f"verify --load, warm cache, {installer}", "seconds": seconds, "rss": rss,
                         "peer": "baseline: venv + pip install -r + load and check_io"})
    print_table(f"Load proof of a default bake (median of {args.runs}; warm: {max(args.runs, 5)})", rows)


if __name__ == "__main__":
    main()
