"""Check and start-up time: `python -m packflow_export check` / `--help` against upstream `packflow validate` / `--help`.

Run: .venv/bin/python benchmarks/bench_check.py [--runs N]
"""

from _measure import COOKIECUTTER, PACKFLOW, PYTHON, REPO, benchmark_parser, measure, print_table, workspace


def main():
    args = benchmark_parser(__doc__, runs=11).parse_args()
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
    print_table(f"Check and start-up (median of {args.runs})", results)


if __name__ == "__main__":
    main()
