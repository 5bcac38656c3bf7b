"""Export speed, memory and size against upstream `packflow export` and Info-ZIP `zip -r` (-6 and -0).

Fixtures, generated here: (a) a default bake; (b) "weights": a 1 GiB incompressible file, a 256 MiB
compressible int32 file and 2,000 small text files in nested folders; (c) a bake with a real virtualenv as
`.venv` (gitignored) and a second one as `env/` (not ignored).

Run: .venv/bin/python benchmarks/bench_export.py [--runs N] [--zip-runs N] [--fixtures abc]
"""

import os
import subprocess
from pathlib import Path

from _measure import COOKIECUTTER, PACKFLOW, PYTHON, REPO, benchmark_parser, fresh_dir, measure, print_table, workspace

ARCHIVE = "my_analytic-0.1.0.zip"


def bake(work: Path, env: dict) -> Path:
    subprocess.run([COOKIECUTTER, "--no-input", str(REPO)], cwd=work, env=dict(os.environ, **env), check=True)
    return work / "my-analytic"


def add_weights(project: Path) -> None:
    with (project / "weights.bin").open("wb") as handle:
        for _ in range(128):
            handle.write(os.urandom(8 << 20))
    script = ("import numpy, sys; numpy.random.default_rng(0).integers(0, 256, size=64 << 20, dtype=numpy.int32)"
              ".tofile(sys.argv[1])")
    subprocess.run([PYTHON, "-c", script, str(project / "embeddings.int32")], check=True)
    for index in range(2000):
        folder = project / "assets" / f"group{index // 100:02d}" / f"sub{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"item{index:04d}.txt").write_text(f"token {index} " * 40 + "\n")


def add_virtualenvs(project: Path) -> None:
    for name in (".venv", "env"):
        subprocess.run([PYTHON, "-m", "venv", str(project / name)], check=True)
    gitignore = project / ".gitignore"
    gitignore.write_text("".join(line for line in gitignore.read_text().splitlines(True) if line.strip() != "env/"))


def run_fixture(label: str, project: Path, work: Path, runs: int, zip_runs: int, env: dict) -> list:
    out = work / f"out-{label}"
    ours = [PYTHON, "-m", "packflow_export", "export", str(project), "-o", str(out), "--quiet"]
    peers = [
        ("upstream packflow export", [PACKFLOW, "export", str(project)], runs, None),
        ("packflow_export export", ours, runs, "upstream packflow export"),
        ("zip -r -6", ["zip", "-r", "-q", "-6", str(out / ARCHIVE), "."], zip_runs, None),
        ("zip -r -0", ["zip", "-r", "-q", "-0", str(out / ARCHIVE), "."], zip_runs, None),
    ]
    rows = []
    for name, command, count, peer in peers:
        cwd = out if name.startswith("upstream") else project
        setup = lambda: fresh_dir(out)  # noqa: E731 - each run starts without an archive
        measure(command, cwd, 1, env, setup)  # warm the page cache
        seconds, rss = measure(command, cwd, count, env, setup)
        size = (out / ARCHIVE).stat().st_size
        rows.append({"label": f"({label}) {name}", "seconds": seconds, "rss": rss, "size": size,
                     "peer": f"({label}) {peer}" if peer else None})
    return rows


def main():
    parser = benchmark_parser(__doc__, runs=3)
    parser.add_argument("--zip-runs", type=int, default=1, help="runs of zip -r (slow on the weights fixture)")
    parser.add_argument("--fixtures", default="acb", help="which fixtures, in order (the weights fixture last: its writeback slows later fsyncs)")
    args = parser.parse_args()
    with workspace() as (work, env):
        rows = []
        for label in args.fixtures:
            folder = fresh_dir(work / label)
            project = bake(folder, env)
            if label == "b":
                add_weights(project)
            if label == "c":
                add_virtualenvs(project)
            rows += run_fixture(label, project, work, args.runs, args.zip_runs, env)
    print_table(f"Export (median of {args.runs}; zip -r: {args.zip_runs})", rows)


if __name__ == "__main__":
    main()
