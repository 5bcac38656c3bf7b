"""The options of one run (what the command line asked for), and the record of a phase of the load proof."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Optional

# One phase of the load proof as reported: "phase", "ok" (None when skipped), "seconds", and what else it found
# worth saying (the installer, the Python version, whether the environment was cached, the number of records).
Phase = dict[str, Any]


class LoadOptions(NamedTuple):
    """How the load proof builds its clean environment and how long it may take."""

    index_url: Optional[str] = None
    find_links: tuple[Path, ...] = ()
    offline: bool = False
    cache: bool = True
    timeout: float = 600.0
    run_tests: bool = False
    sandbox: str = "auto"  # auto | require | off (sandbox.py)
    unsafe_model_files: bool = False  # load even when a model file has a blocking finding (recorded in the report)


class RunOptions(NamedTuple):
    """What a run of the checks was asked to do beyond the policy."""

    strict: bool = False
    allowed_secrets: frozenset[str] = frozenset()
    run_tests: bool = False
    test_timeout: float = 600.0
    load: Optional[LoadOptions] = None
    osv_db: Optional[Path] = None  # the advisory source --db names (else the environment's, else no audit)
    osv_url: Optional[str] = None  # the OSV API --osv-url names
    committed: tuple[str, ...] = ()  # the hook: the files being committed, as pre-commit names them
