"""Named points where tests pause or fail a run on purpose, so races and faults are driven deterministically.

Inactive unless PACKFLOW_EXPORT_TEST_POINTS is set, as `point=action[,point=action...]` where action is
`wait:<file>` (block until that file exists, at most 60 s) or `fail:<errno name>` (raise that OSError).
"""

from __future__ import annotations

import os

VARIABLE = "PACKFLOW_EXPORT_TEST_POINTS"


def point(name: str, detail: str = "") -> None:
    """Pause or fail here if a test asked for it; do nothing otherwise."""
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    for item in spec.split(","):
        key, _, action = item.partition("=")
        if key != name and key != f"{name}:{detail}":
            continue
        kind, _, argument = action.partition(":")
        if kind == "wait":
            import time

            reached = argument + ".reached"
            open(reached, "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(argument) and time.monotonic() < deadline:
                time.sleep(0.005)
        elif kind == "fail":
            import errno

            code = getattr(errno, argument)
            raise OSError(code, os.strerror(code))
