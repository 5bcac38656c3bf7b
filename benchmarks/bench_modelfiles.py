"""Model-file scan: ours against picklescan 1.0.5 (plain and --strict), modelscan 0.8.8 and fickling 0.1.12
(--check-safety) on the same labelled corpus, then scan speed in MB/s on a ~100 MB RandomForest joblib and a
~1 GiB torch checkpoint.

    .venv/bin/python benchmarks/bench_modelfiles.py [--no-speed]

It makes benchmarks/.work/peers (a venv with the peers; for the speed files also torch==2.13.0, scikit-learn and
joblib to write them), writes the corpus to benchmarks/.work/modelfiles/ (malicious files from
tests/modelfile_attacks.py, benign ones from tests/data/modelfiles/benign), and deletes the large files after.
A peer "catches" a file when its exit code says it found something (or failed on it); "flags" likewise on benign
files. Peers run one process per file, timed apart from the detection counts.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"
VENV = WORK / "peers"
CORPUS = WORK / "modelfiles"
PEERS = ["picklescan==1.0.5", "modelscan==0.8.8", "fickling==0.1.12", "typing_extensions"]
MAKERS = ["torch==2.13.0", "scikit-learn", "joblib"]

sys.path[:0] = [str(REPO), str(REPO / "tests")]


def _venv(packages: list[str]) -> Path:
    bin_dir = VENV / "bin"
    if not (bin_dir / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", *packages], check=True)
    return bin_dir


def _write_corpus() -> tuple[list[Path], list[Path]]:
    from modelfile_attacks import ATTACKS

    shutil.rmtree(CORPUS, ignore_errors=True)
    (CORPUS / "malicious").mkdir(parents=True)
    (CORPUS / "benign").mkdir(parents=True)
    malicious = []
    for name, attack in sorted(ATTACKS.items()):
        path = CORPUS / "malicious" / name
        path.write_bytes(attack.data)
        malicious.append(path)
    benign = []
    for source in sorted((REPO / "tests" / "data" / "modelfiles" / "benign").iterdir()):
        if source.name != "manifest.json":
            benign.append(Path(shutil.copy2(source, CORPUS / "benign" / source.name)))
    return malicious, benign


def _tools(bin_dir: Path) -> dict[str, Callable[[Path], bool]]:
    """Each tool as `path -> found something`."""
    from packflow_export.modelfiles import scan_path

    def peer(*command: str, clean: tuple[int, ...] = (0,)) -> Callable[[Path], bool]:
        def run(path: Path) -> bool:
            done = subprocess.run([*command, str(path)], capture_output=True, timeout=600, cwd=WORK)
            return done.returncode not in clean
        return run

    return {
        "packflow_export.modelfiles": lambda path: not scan_path(path).ok,
        "picklescan 1.0.5": peer(str(bin_dir / "picklescan"), "-p"),
        "picklescan --strict": peer(str(bin_dir / "picklescan"), "--strict", "-p"),
        "modelscan 0.8.8": peer(str(bin_dir / "modelscan"), "-p", clean=(0, 3)),   # 3: no supported files
        "fickling 0.1.12 --check-safety": peer(str(bin_dir / "fickling"), "--check-safety"),
    }


def detection(bin_dir: Path) -> None:
    malicious, benign = _write_corpus()
    print(f"\ncorpus: {len(malicious)} malicious, {len(benign)} benign (in {CORPUS})\n")
    print("| tool | malicious caught | benign wrongly flagged | seconds |")
    print("|---|---|---|---|")
    missed: dict[str, list[str]] = {}
    for tool, found in _tools(bin_dir).items():
        started = time.perf_counter()
        caught = [path for path in malicious if found(path)]
        flagged = [path for path in benign if found(path)]
        elapsed = time.perf_counter() - started
        missed[tool] = [path.name for path in malicious if path not in caught] + [
            f"{path.name} (benign, flagged)" for path in flagged]
        print(f"| {tool} | {len(caught)}/{len(malicious)} | {len(flagged)}/{len(benign)} | {elapsed:.1f} |")
    print()
    for tool, names in missed.items():
        print(f"{tool} missed or flagged wrongly: {', '.join(names) or 'nothing'}")


def _timed(run: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def speed(bin_dir: Path) -> None:
    from packflow_export.modelfiles import scan_path

    big = WORK / "modelfiles-big"
    subprocess.run([str(bin_dir / "python"), str(REPO / "benchmarks" / "make_model_corpus.py"), "--big", str(big)],
                   check=True)
    try:
        print("\n| file | MB | ours s | ours MB/s | picklescan s | modelscan s | fickling s |")
        print("|---|---|---|---|---|---|---|")
        for path in sorted(big.iterdir()):
            size = path.stat().st_size / 1e6
            scan = scan_path(path)
            assert scan.ok, scan.issues
            ours = _timed(lambda path=path: scan_path(path))
            peers = [_timed(lambda command=command, path=path: subprocess.run(
                         [*command, str(path)], capture_output=True, cwd=WORK), repeat=1)
                     for command in ([str(bin_dir / "picklescan"), "-p"], [str(bin_dir / "modelscan"), "-p"],
                                     [str(bin_dir / "fickling"), "--check-safety"])]
            print(f"| {path.name} | {size:.0f} | {ours:.2f} | {size / ours:,.0f} | "
                  + " | ".join(f"{seconds:.2f}" for seconds in peers) + " |")
    finally:
        shutil.rmtree(big, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-speed", action="store_true", help="skip the large-file speed runs")
    options = parser.parse_args(argv)
    bin_dir = _venv(PEERS + ([] if options.no_speed else MAKERS))
    detection(bin_dir)
    if not options.no_speed:
        speed(bin_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
