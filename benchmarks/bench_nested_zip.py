"""`check` on a default bake with and without a .npz of N empty members: time and peak RSS, and their ratio.

    /work/main/.venv/bin/python benchmarks/bench_nested_zip.py [--members 20000] [--runs 3] [--tree PATH]

Runs with the interpreter that runs this script (which needs cookiecutter) and the packflow_export of --tree (this
checkout unless told: pass another checkout, say the commit before a change, to measure it the same way). The
.npz's members are empty and stored, named features/0.npy, features/1.npy ...: the cost measured is walking its
central directory, which used to be loaded whole (issue 15 item 12: 1,000,000 members took 42 s and 534 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from _measure import REPO, run_once


def write_npz(path: Path, members: int) -> None:
    """A zip of `members` empty stored members, written fast (zipfile's writestr costs little per member)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(members):
            archive.writestr(f"features/{index}.npy", b"")


def check_command(project: Path) -> list:
    return [sys.executable, "-m", "packflow_export", "check", "--json", str(project)]


def measure(project: Path, env: dict, runs: int) -> tuple:
    """Median seconds and largest peak RSS (MiB) of `check`; its exit code may say "not ready" (PF823 is an error)."""
    results = []
    for _ in range(runs):
        results.append(run_once(["sh", "-c", '"$@"; exit 0', "sh", *check_command(project)], project.parent, env))
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=20_000, help="members of the .npz (default 20,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (the median is reported)")
    parser.add_argument("--tree", type=Path, default=REPO, help="the packflow_export checkout to measure")
    args = parser.parse_args()
    tree = args.tree.resolve()
    env = {"PYTHONPATH": str(tree), "HOME": ""}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env["HOME"] = str(work / "home")
        cookiecutter = Path(sys.executable).with_name("cookiecutter")
        subprocess.run([str(cookiecutter), "--no-input", "-o", str(work), str(REPO)], check=True,
                       env=dict(os.environ, HOME=env["HOME"]), stdout=subprocess.DEVNULL)
        project = next(path for path in work.iterdir() if (path / "packflow.yaml").exists())
        plain = measure(project, env, args.runs)
        write_npz(project / "features.npz", args.members)
        size = (project / "features.npz").stat().st_size
        nested = measure(project, env, args.runs)
        report = subprocess.run(check_command(project), capture_output=True, text=True, cwd=work,
                                env=dict(os.environ, **env))  # not from a checkout: -m would import its package
    print(f"tree: {tree}")
    print(f"check, default bake:                          {plain[0]:8.3f} s  {plain[1]:7.1f} MiB peak RSS")
    print(f"check, default bake + .npz of {args.members:,} members ({size:,} bytes): "
          f"{nested[0]:8.3f} s  {nested[1]:7.1f} MiB peak RSS")
    print(f"ratio: {nested[0] / plain[0]:.2f}x time, {nested[1] / plain[1]:.2f}x peak RSS (median of {args.runs})")
    shown: dict = {}
    for finding in json.loads(report.stdout)["findings"]:
        if finding.get("path") == "features.npz":
            shown.setdefault(finding["code"], []).append(finding["message"])
    for code, messages in sorted(shown.items()):
        print(f"findings on features.npz: {len(messages)} x {code}, first: {messages[0][:150]}")


if __name__ == "__main__":
    main()
