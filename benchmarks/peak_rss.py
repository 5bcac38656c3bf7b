"""Run a command; write its peak RSS (KiB) and wall seconds to a file: python peak_rss.py REPORT -- COMMAND...

Linux carries a process's high-water RSS across exec, so a command started straight from a large process (a
pytest worker, a benchmark driver) reports its parent's peak. Started from this small process instead, it
reports its own, which this process reads back as RUSAGE_CHILDREN. The time leaves out this process's own
start; the exit code is the command's.
"""

import resource
import subprocess
import sys
import time


def main(argv: list) -> int:
    report, separator, *command = argv
    if separator != "--" or not command:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    start = time.perf_counter()
    returncode = subprocess.call(command)
    elapsed = time.perf_counter() - start
    with open(report, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {elapsed:.6f}\n")
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
