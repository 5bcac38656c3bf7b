"""Check and start-up time: `python -m packflow_export check` / `--help` against upstream `packflow validate` / `--help`.

Run: .venv/bin/python benchmarks/bench_check.py [--runs N] [--against TREE]

--against TREE also compares this checkout's `check` and `--help` with another checkout of this repository (say, the
commit before a change: `git worktree add /tmp/before <commit>`): each command runs with one tree, then the other,
first on PYTHONPATH, alternating run by run, so a machine whose load drifts affects both alike.
"""

import os
import statistics
from pathlib import Path

from _measure import COOKIECUTTER, PACKFLOW, PYTHON, REPO, benchmark_parser, measure, print_table, run_once, workspace


def compare_trees(other: Path, project: Path, work: Path, env: dict, runs: int) -> list:
    """Rows for this tree against another, measured interleaved (the order alternates each run)."""
    trees = {"this tree": str(REPO), f"{other}": str(other)}
    commands = {"--help": ["--help"], "check (fresh bake)": ["check", str(project)]}
    rows = []
    for what, arguments in commands.items():
        times = {name: [] for name in trees}
        peaks = {name: 0.0 for name in trees}
        for index in range(runs):
            order = list(trees.items()) if index % 2 == 0 else list(reversed(trees.items()))
            for name, tree in order:
                seconds, rss = run_once([PYTHON, "-m", "packflow_export", *arguments], work, dict(env, PYTHONPATH=tree))
                times[name].append(seconds)
                peaks[name] = max(peaks[name], rss)
        peer = f"{what}, {other}"
        rows.append({"label": peer, "seconds": statistics.median(times[str(other)]), "rss": peaks[str(other)],
                     "peer": None})
        rows.append({"label": f"{what}, this tree", "seconds": statistics.median(times["this tree"]),
                     "rss": peaks["this tree"], "peer": peer})
    return rows


def main():
    parser = benchmark_parser(__doc__, runs=11)
    parser.add_argument("--against", type=Path, metavar="TREE", help="another checkout to compare this one with")
    args = parser.parse_args()
    with workspace() as (work, env):
        measure([COOKIECUTTER, "--no-input", str(REPO)], work, 1, env)
        project = work / "my-analytic"
        ours = [PYTHON, "-m", "packflow_export"]
        rows = [
            ("packflow --help", [PACKFLOW, "--help"], None),
            ("python -m packflow_export --help", ours + ["--help"], "packflow --help"),
            ("packflow validate (fresh bake)", [PACKFLOW, "validate", str(project)], None),
            ("python -m packflow_export check (fresh bake)", ours + ["check", str(project)],
             "packflow validate (fresh bake)"),
            ("python -m packflow_export check --json (fresh bake)", ours + ["check", "--json", str(project)],
             "packflow validate (fresh bake)"),
        ]
        results = []
        for label, command, peer in rows:
            seconds, rss = measure(command, work, args.runs, env)
            results.append({"label": label, "seconds": seconds, "rss": rss, "peer": peer})
        if args.against:
            compared = compare_trees(args.against.resolve(), project, work, env, 3 * args.runs)
    print_table(f"Check and start-up (median of {args.runs})", results)
    if args.against:
        print_table(f"This tree against {args.against} (median of {3 * args.runs}, interleaved)", compared)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("\nnote: PYTHONDONTWRITEBYTECODE is set, so source trees are compiled at every start (installed wheels "
              "are not)")


if __name__ == "__main__":
    main()
