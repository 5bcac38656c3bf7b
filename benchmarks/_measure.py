"""Timing and peak-memory measurement of whole commands, shared by the benchmark scripts."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"
VENV_BIN = WORK / "venv" / "bin"
PYTHON = str(VENV_BIN / "python")
PACKFLOW = str(VENV_BIN / "packflow")
COOKIECUTTER = str(VENV_BIN / "cookiecutter")


def prepare_environment() -> None:
    """A venv with upstream packflow and this repository installed as a wheel, as users have them.

    Both sides run from the same interpreter, so start-up costs compare fairly (an editable install would
    add its import hook to every process).
    """
    if not Path(PYTHON).exists():
        subprocess.run([sys.executable, "-m", "venv", str(WORK / "venv")], check=True)
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", "packflow==0.4.1", "cookiecutter", "numpy", "uv", str(REPO)],
                       check=True, cwd=WORK)
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", str(REPO)], check=True, cwd=WORK)  # new dependencies
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(REPO)], check=True,
                   cwd=WORK)


def benchmark_parser(doc: str, runs: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=runs, help="runs of each command (the median is reported)")
    return parser


@contextlib.contextmanager
def workspace():
    """The benchmark venv up to date, and a temporary folder with its own HOME: yields (folder, env)."""
    prepare_environment()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        yield work, {"HOME": str(fresh_dir(work / "home"))}


def run_once(command, cwd, env=None, setup=None):
    """Wall seconds and peak RSS (MiB) of one run, measured by peak_rss.py; setup() runs first, untimed."""
    if setup:
        setup()
    environment = dict(os.environ, **(env or {}))
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # users' installs have bytecode: compiling is not the product
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rss"
        wrapped = [sys.executable, str(Path(__file__).with_name("peak_rss.py")), str(report), "--", *map(str, command)]
        process = subprocess.run(wrapped, cwd=cwd, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if process.returncode != 0:
            raise SystemExit(f"benchmark command failed ({process.returncode}): {' '.join(map(str, command))}\n"
                             f"{process.stderr.decode(errors='replace')[-2000:]}")
        rss_kib, elapsed = report.read_text().split()
        return float(elapsed), int(rss_kib) / 1024


def measure(command, cwd, runs=5, env=None, setup=None):
    """Median wall seconds and the largest peak RSS over several runs."""
    results = [run_once(command, cwd, env, setup) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def print_table(title, rows):
    """Rows are dicts with label, seconds, rss and optionally size and peer (the label to compare with)."""
    by_label = {row["label"]: row for row in rows}
    print(f"\n## {title}\n")
    print("| command | median s | peak RSS MiB | archive bytes | time vs peer | size vs peer |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        peer = by_label.get(row.get("peer"))
        time_ratio = f"{row['seconds'] / peer['seconds']:.2f}x {peer['label']}" if peer else "-"
        size_ratio = (f"{row['size'] / peer['size']:.2f}x" if peer and row.get("size") and peer.get("size") else "-")
        size = f"{row['size']:,}" if row.get("size") else "-"
        print(f"| {row['label']} | {row['seconds']:.3f} | {row['rss']:.0f} | {size} | {time_ratio} | {size_ratio} |")


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
