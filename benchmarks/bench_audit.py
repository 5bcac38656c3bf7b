"""Audit many projects at once: 1,000 generated projects' locks (100 hashed pins each) against an OSV dump of
10,000 synthetic advisories shaped like the real ones plus the 398 real ones (osv-pypi-subset.zip).

Each scenario runs in its own process (peak RSS measured by peak_rss.py): open the dump and index it, read every
project's requirements.txt, audit them all. The peer is the one-project audit in the same run: the ratio shows
that 1,000 projects cost far less than 1,000 one-project audits (the index is built once, each distinct pin
matched once). A naive peer that reopens the database for every project is measured on a few projects and
scaled, to show what indexing once saves.

Wall times on a shared machine vary with its load; the process's CPU time (cpu s, and the ratio on it) does not.

Run: .venv/bin/python benchmarks/bench_audit.py [--runs N] [--projects N] [--pins N] [--advisories N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work" / "audit"
PEAK_RSS = Path(__file__).with_name("peak_rss.py")
SUBSET = [Path(os.environ.get("PACKFLOW_TEST_OSV_SUBSET", "/nonexistent")),
          REPO.parent / "shared" / "osv-pypi-subset" / "osv-pypi-subset.zip",
          Path("/work/shared/osv-pypi-subset/osv-pypi-subset.zip")]
WORDS = ("data", "torch", "fast", "py", "ml", "vision", "text", "stream", "flow", "core", "utils", "net", "io",
         "serve", "model", "graph", "lite", "json", "http", "async", "cloud", "queue", "tensor", "token")


def subset_path() -> Path:
    for candidate in SUBSET:
        if candidate.is_dir():
            candidate = candidate / "osv-pypi-subset.zip"
        if candidate.is_file():
            return candidate
    sys.exit("bench_audit: osv-pypi-subset.zip not found; set PACKFLOW_TEST_OSV_SUBSET")


def release_history(rng: random.Random) -> list[str]:
    """20-150 releases, PEP 440, in order, with some pre-releases as real projects have."""
    versions, major, minor, patch = [], rng.randint(0, 2), 0, 0
    for _ in range(rng.randint(20, 150)):
        roll = rng.random()
        if roll < 0.05:
            major, minor, patch = major + 1, 0, 0
            versions += [f"{major}.0.0rc1", f"{major}.0.0"]
            continue
        if roll < 0.3:
            minor, patch = minor + 1, 0
            if rng.random() < 0.2:
                versions.append(f"{major}.{minor}.0b1")
        else:
            patch += 1
        versions.append(f"{major}.{minor}.{patch}")
    return versions


def synthetic_advisory(rng: random.Random, number: int, name: str, releases: list[str]) -> dict:
    """One advisory like the PyPA database's: 1-3 intervals (events sometimes out of order), GIT range, versions
    list that stops short of the ranges, aliases, long details, references, sometimes severity or a summary."""
    events, listed = [], []
    start = 0
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if start >= len(releases) - 1:
            break
        low = rng.randint(start, len(releases) - 2)
        high = rng.randint(low + 1, min(len(releases) - 1, low + 15))  # most are fixed within a few releases
        from_zero = start == 0 and rng.random() < 0.6
        events.append({"introduced": "0" if from_zero else releases[low]})
        roll = rng.random()
        if roll < 0.03:
            events.append({"last_affected": releases[high]})
        elif roll < 0.98 or start:
            events.append({"fixed": releases[high]})
        else:  # not fixed yet: every later release is affected
            listed += releases[0 if from_zero else low:]
            break
        listed += releases[0 if from_zero else low:high]
        start = high + 1
    if rng.random() < 0.2:
        pairs = [events[i:i + 2] for i in range(0, len(events), 2)]
        rng.shuffle(pairs)
        events = [event for pair in pairs for event in pair]
    sha = hashlib.sha1(f"{name}{number}".encode()).hexdigest()
    year = rng.randint(2014, 2024)
    record = {
        "id": f"SYN-{year}-{number}", "modified": f"{year}-06-01T00:00:00Z", "published": f"{year}-05-01T00:00:00Z",
        "aliases": [f"CVE-{year}-{10000 + number}", f"GHSA-{sha[:4]}-{sha[4:8]}-{sha[8:12]}"],
        "details": " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 300))),
        "affected": [{"package": {"name": name, "ecosystem": "PyPI", "purl": f"pkg:pypi/{name}"},
                      "ranges": [{"type": "ECOSYSTEM", "events": events}],
                      "versions": listed[:rng.randint(max(1, len(listed) // 2), max(1, len(listed)))]}],
        "references": [{"type": "WEB", "url": f"https://example.org/{name}/{number}/{i}"} for i in range(4)]}
    if rng.random() < 0.7:
        record["affected"][0]["ranges"].append({"type": "GIT", "repo": f"https://github.com/example/{name}",
                                                "events": [{"introduced": "0"}, {"fixed": sha}]})
    if rng.random() < 0.1:
        record["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    if rng.random() < 0.3:
        record["summary"] = f"{name} " + " ".join(rng.choice(WORDS) for _ in range(8))
    if rng.random() < 0.005:
        record["withdrawn"] = f"{year + 1}-01-01T00:00:00Z"
    return record


def generate(advisories: int, projects: int, pins: int) -> tuple[Path, Path]:
    """The dump (synthetic + real) and the projects' locks, made once per size and kept under benchmarks/.work."""
    folder = WORK / f"a{advisories}-p{projects}-n{pins}"
    dump, inbox = folder / "all.zip", folder / "projects"
    if (folder / "done").is_file():
        return dump, inbox
    rng = random.Random(20261201)
    # 12,000 packages in locks, ranked by popularity; advisories fall on the 4,000 most popular, a few of them
    # holding hundreds (as tensorflow does), most none, as on PyPI.
    names = [f"{rng.choice(WORDS)}-{rng.choice(WORDS)}{i}" for i in range(12000)]
    releases = {name: release_history(rng) for name in names}
    weights = [1 / (rank + 1) ** 0.9 for rank in range(4000)]
    pin_weights = [1 / (rank + 1) ** 0.6 for rank in range(len(names))]
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dump, "w", zipfile.ZIP_DEFLATED) as out, zipfile.ZipFile(subset_path()) as real:
        for number, name in enumerate(rng.choices(names[:4000], weights, k=advisories)):
            record = synthetic_advisory(rng, number, name, releases[name])
            out.writestr(f"{record['id']}.json", json.dumps(record, indent=2))
        for member in real.namelist():
            out.writestr(member, real.read(member))
    inbox.mkdir(exist_ok=True)
    for index in range(projects):
        chosen = sorted(set(rng.choices(names, pin_weights, k=pins * 2)))[:pins]
        lines = ["# This file was autogenerated by uv via the following command:",
                 "#    python -m packflow_export lock"]
        for name in chosen:
            digest = hashlib.sha256(f"{name}{index}".encode()).hexdigest()
            history = releases[name]  # locks pin recent releases mostly, some pins are years old
            version = history[-1 - min(int(rng.expovariate(1 / 8)), len(history) - 1)]
            lines += [f"{name}=={version} --hash=sha256:{digest}", "    # via -r requirements.in"]
        project = inbox / f"{index:04d}"
        project.mkdir(exist_ok=True)
        (project / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "done").write_text("", encoding="utf-8")
    return dump, inbox


def worker(dump: Path, inbox: Path, count: int, reopen: bool) -> None:
    """One scenario in this process: index the dump, read `count` locks, audit them; prints its own timings."""
    sys.path.insert(0, str(REPO))
    from packflow_export.deps.audit import audit_projects
    from packflow_export.deps.database import open_database
    from packflow_export.deps.records import ProjectInput
    from packflow_export.deps.reqfile import read_requirements_text

    start = time.perf_counter()
    folders = sorted(inbox.iterdir())[:count]
    projects = [ProjectInput(folder.name, "1.0", str(folder), read_requirements_text(
        (folder / "requirements.txt").read_text(encoding="utf-8")).requirements, (), "3.11") for folder in folders]
    read = time.perf_counter()
    if reopen:  # the naive peer: every project opens and indexes the database again
        audits = [audit_projects([project], open_database(dump))[0] for project in projects]
        opened = read
    else:
        database = open_database(dump)
        opened = time.perf_counter()
        audits = list(audit_projects(projects, database))
    done = time.perf_counter()
    print(json.dumps({"read": read - start, "index": opened - read, "audit": done - opened, "cpu": time.process_time(),
                      "hits": sum(len(audit.hits) for audit in audits),
                      "pins": sum(len(project.requirements) for project in projects)}))


def measure(dump: Path, inbox: Path, count: int, reopen: bool, runs: int) -> dict:
    """Median wall time, peak RSS and the worker's own split over `runs` processes."""
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "rss"
            command = [sys.executable, str(PEAK_RSS), str(report), "--", sys.executable, __file__, "--worker",
                       str(count), "--dump", str(dump), "--inbox", str(inbox)] + (["--reopen"] if reopen else [])
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rss, seconds = report.read_text().split()
            samples.append({**json.loads(output), "seconds": float(seconds), "rss": int(rss) / 1024})
    middle = statistics.median(sample["seconds"] for sample in samples)
    chosen = min(samples, key=lambda sample: abs(sample["seconds"] - middle))
    return {**chosen, "rss": max(sample["rss"] for sample in samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--pins", type=int, default=100)
    parser.add_argument("--advisories", type=int, default=10000)
    parser.add_argument("--naive-projects", type=int, default=5, help="projects the reopening peer audits")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--inbox", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reopen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.dump, args.inbox, args.worker, args.reopen)
        return
    dump, inbox = generate(args.advisories, args.projects, args.pins)
    print(f"database: {args.advisories:,} synthetic + 398 real advisories, {dump.stat().st_size / 2**20:.1f} MiB zip; "
          f"{args.projects:,} projects x {args.pins} pins; median of {args.runs} runs; machine: {os.cpu_count()} cores")
    one = measure(dump, inbox, 1, False, args.runs)
    many = measure(dump, inbox, args.projects, False, args.runs)
    naive = measure(dump, inbox, args.naive_projects, True, 1)
    rows = [(f"1 project ({one['pins']} pins)", one, 1.0),
            (f"{args.projects:,} projects ({many['pins']:,} pins)", many, many["seconds"] / one["seconds"]),
            (f"naive: reopen per project, {args.naive_projects} projects", naive, naive["seconds"] / one["seconds"])]
    print(f"{'scenario':44} {'wall s':>7} {'cpu s':>6} {'read s':>7} {'index s':>8} {'audit s':>8} {'hits':>8} "
          f"{'peak MiB':>9} {'x one':>6} {'x one cpu':>9}")
    for label, row, ratio in rows:
        print(f"{label:44} {row['seconds']:7.2f} {row['cpu']:6.2f} {row['read']:7.2f} {row['index']:8.2f} "
              f"{row['audit']:8.2f} {row['hits']:8,} {row['rss']:9.0f} {ratio:6.1f} {row['cpu'] / one['cpu']:9.1f}")
    naive_total = naive["seconds"] / args.naive_projects * args.projects
    print(f"\n{args.projects:,} projects cost {many['seconds'] / one['seconds']:.1f}x one project (not "
          f"{args.projects:,}x); reopening the database per project would take about {naive_total:,.0f} s "
          f"({naive_total / many['seconds']:.0f}x the indexed run).")


if __name__ == "__main__":
    main()
