"""The project's own tests and validate.py pass (PF7xx, with --run-tests). This family runs project code,
in subprocesses with a time limit, and only when asked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Mapping, Optional

from ..findings import Finding, define
from ..model.context import Context
from .check import Check, Need, Stage, folder_of

TESTS_FAIL = define(
    "PF701", "error", "the project's tests fail",
    why="A release whose own tests fail is known to be broken.",
    fix="Run python -m pytest in the project and fix the failures.")
VALIDATE_FAILS = define(
    "PF702", "error", "validate.py fails",
    why="validate.py runs Packflow's check_io on the sample inputs: the backend breaks Packflow's I/O contract.",
    fix="Run python validate.py in the project and fix the backend.")
NO_TESTS = define(
    "PF703", "warning", "the project has no tests",
    why="Nothing shows the backend works before it ships.",
    fix="Add pytest tests (the template's test_inference.py is a start).")


def run_project_tests(project: Path, timeout: float, python: str = sys.executable,
                      env: Optional[Mapping[str, str]] = None) -> Iterator[Finding]:
    """Run the project's pytest suite and validate.py, each in a subprocess with a timeout."""
    from ..model.testsuite import pytest_command

    env = dict(os.environ if env is None else env, PYTHONDONTWRITEBYTECODE="1")
    runs = [(TESTS_FAIL, "the tests", pytest_command(python))]
    if (project / "validate.py").is_file():
        runs.append((VALIDATE_FAILS, "validate.py", [python, "validate.py"]))
    for rule, what, command in runs:
        try:
            result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                                    errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            yield rule(f"{what} did not finish within {timeout:g} s", None)
            continue
        except OSError as exc:
            yield rule(f"{what} could not be started: {exc}", None)
            continue
        if rule is TESTS_FAIL and result.returncode == 5:
            yield NO_TESTS("pytest found no tests in the project (test_*.py, *_test.py or tests.py)", None)
        elif rule is TESTS_FAIL and "No module named pytest" in result.stderr:
            yield rule("pytest is not installed in this environment", None, None, "python -m pip install pytest")
        elif result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            yield rule(f"{what} failed (exit {result.returncode}):\n{tail}", None)


def check_tests(ctx: Context) -> Iterator[Finding]:
    return run_project_tests(folder_of(ctx).root, ctx.options.test_timeout)


RULES = (TESTS_FAIL, VALIDATE_FAILS, NO_TESTS)
CHECKS = (
    Check("tests", check_tests, raises=RULES, needs=Need.TESTS, stage=Stage.RUN),
)
