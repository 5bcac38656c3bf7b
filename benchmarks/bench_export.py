"""Export speed, memory and size on the model folders that matter, against upstream `packflow export` and
Info-ZIP `zip -r -1` in the same run, plus the secret scan alone in MB/s.

Fixtures, generated here (deterministic content, not only random bytes):
  bake     a default bake
  weights  1 GiB of random weights, 256 MiB of int32 tables and 2,000 Python/text files totalling 20 MB
  text     a tokenizer-like 50 MB JSON and a 200 MB CSV of evaluation data
  small    20,000 small files
  venv     a default bake with a virtual environment (pip included) in .venv
Each fixture's archive is then verified beside `python -m zipfile -t` and `unzip -tq`, and the floor is timed: one
pass that writes the archive's bytes and hashes them (export cannot do less than that).
Goals (issue 11): scan >= 200 MB/s on Python source, JSON and CSV; weights <= 0.5x upstream's time and <= 0.9x its
size; text <= 1.0x upstream's time while compressing (upstream stores); small <= 0.5x; bake <= 0.25x; peak RSS
<= 64 MiB everywhere.

Goals (issue 21): weights <= 0.6x upstream, text <= 0.8x, small <= 0.5x, bake <= 0.25x, venv <= 0.10x; verify <=
1.0x `python -m zipfile -t` on every fixture.

Run: .venv/bin/python benchmarks/bench_export.py [--runs N] [--fixtures bake,venv,small,text,weights]
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from _measure import COOKIECUTTER, PACKFLOW, PYTHON, REPO, benchmark_parser, fresh_dir, measure, print_table, workspace

ARCHIVE = "my_analytic-0.1.0.zip"
STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


def bake(work: Path, env: dict) -> Path:
    subprocess.run([COOKIECUTTER, "--no-input", str(REPO)], cwd=work, env=dict(os.environ, **env), check=True,
                   capture_output=True)
    return work / "my-analytic"


def python_source(size: int) -> bytes:
    """Real Python source (the standard library's), as much as asked for."""
    chunks, total = [], 0
    for path in sorted(STDLIB.rglob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        total += len(data)
        if total >= size:
            break
    return b"".join(chunks)[:size]


def add_text_files(project: Path, count: int, total: int) -> None:
    source = python_source(total)
    per_file = total // count
    for index in range(count):
        folder = project / "src" / f"group{index // 100:02d}" / f"sub{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        suffix = ".py" if index % 2 else ".txt"
        (folder / f"module{index:04d}{suffix}").write_bytes(source[index * per_file:(index + 1) * per_file])


def add_weights(project: Path) -> None:
    with (project / "weights.bin").open("wb") as handle:
        for _ in range(128):
            handle.write(os.urandom(8 << 20))
    script = ("import numpy, sys; numpy.random.default_rng(0).integers(0, 256, size=64 << 20, dtype=numpy.int32)"
              ".tofile(sys.argv[1])")
    subprocess.run([PYTHON, "-c", script, str(project / "embeddings.int32")], check=True)
    add_text_files(project, 2000, 20 << 20)


def add_text_data(project: Path) -> None:
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    with (project / "tokenizer.json").open("w") as handle:
        handle.write('{"version": "1.0", "added_tokens": [{"id": 0, "content": "[PAD]", "special": true}],\n')
        handle.write('"model": {"type": "BPE", "vocab": {')
        written, index = 0, 0
        while written < 40 << 20:
            token = "".join(rng.choice(letters) for _ in range(rng.randint(2, 12)))
            entry = f'"{"Ġ" if index % 3 == 0 else ""}{token}": {index}, '
            handle.write(entry)
            written += len(entry)
            index += 1
        handle.write('"[UNK]": 1}, "merges": [')
        while written < 50 << 20:
            merge = f'"{rng.choice(letters)}{rng.choice(letters)} {rng.choice(letters)}", '
            handle.write(merge)
            written += len(merge)
        handle.write('"a b"]}}\n')
    with (project / "evaluation.csv").open("w") as handle:
        handle.write("id,text,label,score,latency_ms\n")
        written, index = 0, 0
        words = ["good", "great", "late", "product", "delivery", "broken", "excellent", "refund", "support", "fast"]
        while written < 200 << 20:
            row = (f"{index},\"{' '.join(rng.choice(words) for _ in range(rng.randint(3, 12)))}\","
                   f"{rng.choice(['positive', 'neutral', 'negative'])},{rng.random():.6f},{rng.randint(1, 900)}\n")
            handle.write(row)
            written += len(row)
            index += 1


def add_small_files(project: Path) -> None:
    source = python_source(20_000 * 600)
    for index in range(20_000):
        folder = project / "data" / f"shard{index // 500:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"record{index:05d}.json").write_text(json.dumps(
            {"id": index, "text": source[index * 400:index * 400 + 400].decode("utf-8", "replace")}))


SCAN_SCRIPT = """
import sys, time
from packflow_export.secrets import PythonFinder, finder_for, scan_chunks
data = open(sys.argv[1], "rb").read()
chunks = [data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
for finder in (finder_for(len(data)), PythonFinder()):
    best = 9e9
    for _ in range(3):
        started = time.perf_counter()
        scan_chunks(chunks, sys.argv[2], finder)
        best = min(best, time.perf_counter() - started)
    print(type(finder).__name__, len(data) / best / 1e6)
"""


def scan_speeds(work: Path) -> list:
    """The secret scan alone on one core, in MB/s, per kind of text and per anchor finder: the one export picks
    for content this large (hyperscan where installed) and the pure-Python fallback."""
    samples = {"Python source": python_source(64 << 20)}
    project = fresh_dir(work / "scan")
    add_text_data(project)
    samples["tokenizer JSON"] = (project / "tokenizer.json").read_bytes()[:64 << 20]
    samples["CSV"] = (project / "evaluation.csv").read_bytes()[:64 << 20]
    samples["random binary"] = os.urandom(64 << 20)
    rows = []
    for label, data in samples.items():
        path = work / "scan-sample"
        path.write_bytes(data)
        name = {"Python source": "sample.py", "tokenizer JSON": "sample.json", "CSV": "sample.csv"}.get(label, "x.bin")
        lines = subprocess.run([PYTHON, "-c", SCAN_SCRIPT, str(path), name], capture_output=True, text=True,
                               check=True).stdout.split("\n")
        speeds = dict((finder, float(speed)) for finder, speed in (line.split() for line in lines if line))
        rows.append((label, len(data), speeds))
    return rows


def run_fixture(label: str, project: Path, work: Path, runs: int, env: dict) -> list:
    """Each command once per round, the rounds repeated: peers see the same machine state (page cache, writeback)."""
    out = work / f"out-{label}"
    # The standard library's source holds example passwords (its tests): they are found, but must not block.
    policy = work / "benchmark-policy.yaml"
    policy.write_text("severity: {PF801: warning, PF506: 'off'}\n")
    ours = [PYTHON, "-m", "packflow_export", "export", str(project), "-o", str(out), "--quiet", "--policy", str(policy)]
    peers = [
        ("upstream packflow export", [PACKFLOW, "export", str(project)], None),
        ("packflow_export export", ours, "upstream packflow export"),
        ("zip -r -1", ["zip", "-r", "-q", "-1", str(out / ARCHIVE), "."], None),
    ]
    setup = lambda: fresh_dir(out)  # noqa: E731 - each run starts without an archive
    results = {name: [] for name, _, _ in peers}
    sizes = {}
    for round_number in range(runs + 1):  # round 0 warms the page cache and is not counted
        for name, command, _ in peers:
            cwd = out if name.startswith("upstream") else project
            seconds, rss = measure(command, cwd, 1, env, setup)
            sizes[name] = (out / ARCHIVE).stat().st_size
            if round_number:
                results[name].append((seconds, rss))
    return table_rows(label, peers, results, sizes) + run_archive_peers(label, ours, out, work, runs, env, policy)


def table_rows(label: str, peers: list, results: dict, sizes: dict) -> list:
    """One row per command: its median time, its largest peak RSS, the archive it wrote, the peer it is compared to."""
    rows = []
    for name, _, peer in peers:
        times = sorted(seconds for seconds, _ in results[name])
        rows.append({"label": f"({label}) {name}", "seconds": times[len(times) // 2],
                     "rss": max(rss for _, rss in results[name]), "size": sizes.get(name),
                     "peer": f"({label}) {peer}" if peer else None})
    return rows


def run_archive_peers(label: str, ours: list, out: Path, work: Path, runs: int, env: dict, policy: Path) -> list:
    """On our archive of the fixture: the floor (one pass that writes its bytes and hashes them with sha256, what
    export cannot do without), and verify beside `python -m zipfile -t` and `unzip -tq` (the usual ways to trust
    an archive), each round interleaved."""
    fresh_dir(out)
    subprocess.run(ours, check=True, env=dict(os.environ, **env), capture_output=True)
    archive, copy = out / ARCHIVE, work / "floor-copy.zip"
    peers = [
        ("floor: write + sha256 of our archive", ["sh", "-c", f"tee '{copy}' < '{archive}' | sha256sum > /dev/null"],
         None),
        ("python -m zipfile -t", [PYTHON, "-m", "zipfile", "-t", str(archive)], None),
        ("unzip -tq", ["unzip", "-tq", str(archive)], None),
        ("packflow_export verify", [PYTHON, "-m", "packflow_export", "verify", str(archive), "--quiet", "--policy",
                                    str(policy)], "python -m zipfile -t"),
    ]
    results: dict = {name: [] for name, _, _ in peers}
    for round_number in range(runs + 1):
        for name, command, _ in peers:
            seconds, rss = measure(command, work, 1, env, lambda: copy.unlink(missing_ok=True))
            if round_number:
                results[name].append((seconds, rss))
    copy.unlink(missing_ok=True)
    return table_rows(label, peers, results, {})


GOALS = {"bake": 0.25, "small": 0.5, "text": 0.8, "weights": 0.6, "venv": 0.10}  # issue 21: ours / upstream


def print_ratios(labels: list, rows: list) -> None:
    """Each fixture's export against upstream, `zip -r -1` and the floor, and verify against `zipfile -t`."""
    seconds = {row["label"]: row["seconds"] for row in rows}
    print("\n## Ratios (export: ours / peer; verify: ours / python -m zipfile -t)\n")
    print("| fixture | vs upstream (goal) | vs zip -r -1 | vs floor | verify vs zipfile -t | verify vs unzip -tq |")
    print("|---|---|---|---|---|---|")
    for label in labels:
        time = lambda name, label=label: seconds[f"({label}) {name}"]  # noqa: E731
        ours, verify = time("packflow_export export"), time("packflow_export verify")
        print(f"| {label} | {ours / time('upstream packflow export'):.2f}x ({GOALS.get(label, '-')}x) "
              f"| {ours / time('zip -r -1'):.2f}x | {ours / time('floor: write + sha256 of our archive'):.2f}x "
              f"| {verify / time('python -m zipfile -t'):.2f}x | {verify / time('unzip -tq'):.2f}x |")


def add_venv(project: Path) -> None:
    """A project with its development environment inside (`.venv`, pip included), as many are."""
    subprocess.run([PYTHON, "-m", "venv", str(project / ".venv")], check=True)


FIXTURES = {"bake": None, "weights": add_weights, "text": add_text_data, "small": add_small_files, "venv": add_venv}


def main():
    parser = benchmark_parser(__doc__, runs=3)
    parser.add_argument("--fixtures", default="bake,venv,small,text,weights", help="which fixtures, in order")
    parser.add_argument("--no-scan", action="store_true", help="skip the scan-alone measurement")
    args = parser.parse_args()
    with workspace() as (work, env):
        rows = []
        for label in args.fixtures.split(","):
            project = bake(fresh_dir(work / label), env)
            if FIXTURES[label]:
                FIXTURES[label](project)
            rows += run_fixture(label, project, work, args.runs, env)
            fresh_dir(work / label)
        speeds = [] if args.no_scan else scan_speeds(work)
    print_table(f"Export (median of {args.runs})", rows)
    print_ratios(args.fixtures.split(","), rows)
    if speeds:
        print("\n## Secret scan alone (one core, best of 3), MB/s\n")
        finders = list(speeds[0][2])
        print(f"| content | MB | {' | '.join(finders)} |\n|---|---|{'---|' * len(finders)}")
        for label, size, by_finder in speeds:
            print(f"| {label} | {size / 1e6:.0f} | {' | '.join(f'{by_finder[f]:.0f}' for f in finders)} |")


if __name__ == "__main__":
    main()
