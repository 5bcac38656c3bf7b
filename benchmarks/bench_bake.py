"""Bake time: `cookiecutter --no-input` of this template against upstream `packflow create NAME --no-input`.

Run: .venv/bin/python benchmarks/bench_bake.py [--runs N]
"""

from _measure import COOKIECUTTER, PACKFLOW, REPO, benchmark_parser, fresh_dir, measure, print_table, workspace


def main():
    args = benchmark_parser(__doc__, runs=7).parse_args()
    with workspace() as (work, env):
        ours_dir, upstream_dir = work / "ours", work / "upstream"
        ours = measure([COOKIECUTTER, "--no-input", "-f", str(REPO)], fresh_dir(ours_dir), args.runs, env,
                       setup=lambda: fresh_dir(ours_dir))
        upstream = measure([PACKFLOW, "create", "my-analytic", "--no-input"], fresh_dir(upstream_dir), args.runs, env,
                           setup=lambda: fresh_dir(upstream_dir))
    print_table(f"Bake a project (median of {args.runs})", [
        {"label": "packflow create my-analytic --no-input", "seconds": upstream[0], "rss": upstream[1]},
        {"label": "cookiecutter --no-input (this template)", "seconds": ours[0], "rss": ours[1],
         "peer": "packflow create my-analytic --no-input"},
    ])


if __name__ == "__main__":
    main()
