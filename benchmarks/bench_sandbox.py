"""The sandbox's cost per load proof, measured interleaved in one run (the machine may be loaded; ratios hold).

- start-up: `/bin/true` through sandbox.run with bubblewrap, through sandbox.run unsandboxed (same wrapper, same
  pipes), and a bare subprocess.run;
- the warm proof: the load runner on a default bake in a sealed environment (packflow, numpy, pydantic...),
  sandboxed vs unsandboxed, and the seal check a warm run adds before reusing the environment (stat walk, and
  a full re-hash for comparison);
- the one-time costs: installing the environment (uv, --link-mode=copy, in the install sandbox, from the offline
  wheelhouse) against sealing it.

Goal (issue 15): a warm `verify --load` with the sandbox <= 1.2x the warm run without it. Needs bwrap, uv and the
wheelhouse the README's test command downloads; no network.

Run: python benchmarks/bench_sandbox.py [--runs N] [--wheelhouse DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from packflow_export import envcache, sandbox  # noqa: E402

RUNNER = REPO / "packflow_export" / "_load_runner.py"


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def interleaved(runs: int, actions: dict) -> dict:
    """Each action once per round, rounds repeated: the medians see the same machine load."""
    times: dict = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            times[name].append(timed(action))
    return {name: statistics.median(values) for name, values in times.items()}


def bake(work: Path) -> Path:
    cookiecutter = shutil.which("cookiecutter") or str(Path(sys.executable).parent / "cookiecutter")
    env = dict(os.environ, HOME=str(work), PYTHONPATH=str(REPO))
    subprocess.run([cookiecutter, "--no-input", "-o", str(work), str(REPO)], check=True, env=env,
                   capture_output=True)
    return work / "my-analytic"


def check_loaded(result: sandbox.RunResult) -> None:
    if b'"phase": "check_io", "event": "end", "ok": true' not in result.channel:
        sys.exit(f"the proof failed: {result.stderr.text()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--wheelhouse", type=Path, default=Path(os.environ.get(
        "PACKFLOW_TEST_WHEELHOUSE", Path(sys.prefix) / "wheelhouse")))
    args = parser.parse_args()
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    bwrap, off = sandbox.choose_sandbox("require"), sandbox.choose_sandbox("off")
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as folder:
        work = Path(folder)
        project = bake(work)
        request = envcache.InstallRequest(project, sys.executable, "{}.{}.{}".format(*sys.version_info[:3]),
                                          find_links=(args.wheelhouse,), offline=True)
        limits = sandbox.Limits(timeout=900, memory_bytes=None)
        started = time.perf_counter()
        prepared = envcache.prepare_environment(request, work / "envs", bwrap, limits)
        build = time.perf_counter() - started
        if not prepared.ok or prepared.path is None or prepared.seal is None:
            sys.exit(f"the environment did not build: {prepared.problem}")
        env, seal = prepared.path, prepared.seal
        files = sum(1 for entry in seal.files.values() if entry[0] == "file")
        size = sum(entry[2] for entry in seal.files.values() if entry[0] == "file")

        true = sandbox.RunSpec(("/bin/true",), work)
        proof = sandbox.proof_spec(env, project, [str(RUNNER), str(project), sandbox.CHANNEL],
                                   sandbox.Limits(timeout=300), read_only=[RUNNER])
        check_loaded(sandbox.run(proof, bwrap))
        startup = interleaved(args.runs * 3, {
            "bare subprocess.run(/bin/true)": lambda: subprocess.run(["/bin/true"], check=True),
            "sandbox.run(/bin/true), unsandboxed": lambda: sandbox.run(true, off),
            "sandbox.run(/bin/true), bwrap": lambda: sandbox.run(true, bwrap)})
        warm = interleaved(args.runs, {
            "proof unsandboxed": lambda: check_loaded(sandbox.run(proof, off)),
            "proof in bwrap": lambda: check_loaded(sandbox.run(proof, bwrap)),
            "seal check (stat walk) + proof in bwrap": lambda: (envcache.check_seal(env, seal),
                                                                 check_loaded(sandbox.run(proof, bwrap))),
            "seal check (stat walk)": lambda: envcache.check_seal(env, seal),
            "seal check (full re-hash)": lambda: envcache.check_seal(env, seal, full=True)})

    print(f"environment: {files} files, {size / 1e6:.1f} MB; built (venv + sandboxed uv install + seal) in "
          f"{build:.2f} s, of which sealing {seal.seconds:.3f} s ({seal.seconds / build:.1%})")
    print(f"\nstart-up, median of {args.runs * 3}:")
    base = startup["bare subprocess.run(/bin/true)"]
    for name, seconds in startup.items():
        print(f"  {name:45s} {seconds * 1000:8.1f} ms  {seconds / base:5.2f}x")
    print(f"\nwarm load proof (default bake), median of {args.runs}:")
    base = warm["proof unsandboxed"]
    for name, seconds in warm.items():
        print(f"  {name:45s} {seconds * 1000:8.1f} ms  {seconds / base:5.2f}x")
    print("\ngoal: 'seal check + proof in bwrap' <= 1.20x 'proof unsandboxed' "
          f"(measured {warm['seal check (stat walk) + proof in bwrap'] / base:.2f}x)")


if __name__ == "__main__":
    main()
