"""How a project's own tests are run: pytest over the file names Packflow's scaffold and this template use."""

from __future__ import annotations

# Packflow 0.4's own scaffold names its tests tests.py.
TEST_FILE_PATTERNS = "test_*.py *_test.py tests.py"


def pytest_command(python: str) -> list[str]:
    """The command that runs a project's pytest suite with `python`, writing no cache into the project."""
    return [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", f"python_files={TEST_FILE_PATTERNS}"]
