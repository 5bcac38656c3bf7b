"""The load proof (PF95x, verify --load): what failed when the archive was installed, loaded and run in a clean
environment, with the evidence and the fix. The proof itself runs in load.py and _load_runner.py and says what
happened; this family says what it means.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

from ..findings import Finding, define
from ..model.backend import distribution_of
from ..model.config import CONFIG
from ..model.context import Context
from .check import Check, Need, Stage, archive_of
from .requirements import HASH_MISMATCH, REACHES_OUTSIDE
from .tests import NO_TESTS, TESTS_FAIL

if TYPE_CHECKING:
    from ..load import InstallFailure, LoadOutcome
    from ..model.records import ArchiveFile
    from ..unpack import Member

INSTALL_FAILED = define(
    "PF951", "error", "the requirements do not install in a clean environment",
    why="A runtime installs requirements.txt before it loads anything; if that fails here it fails there.",
    fix="Fix requirements.txt (names, versions, markers), or point --index-url/--find-links at where they are.")
IMPORT_FAILED = define(
    "PF952", "error", "the backend module does not import in a clean environment",
    why="It imports something the archive does not hold and requirements.txt does not install.",
    fix="Add the missing distribution to requirements.txt, or ship the missing module in the project.")
INITIALIZE_FAILED = define(
    "PF953", "error", "the backend fails when Packflow creates it (initialize())",
    why="Usually a file the backend loads (weights, vocabularies) is not in the archive.",
    fix="Ship what initialize() reads (see .gitignore and .packflowignore), or fetch it and document how.")
CHECK_IO_FAILED = define(
    "PF954", "error", "the backend breaks Packflow's I/O contract on the sample inputs",
    why="check_io runs the backend on sample_inputs.json the way a runtime calls it.",
    fix="Run python validate.py in the project and fix the backend.")
TIMED_OUT = define(
    "PF955", "error", "the load proof did not finish within its time limit",
    why="A backend that hangs while loading or on a handful of records will hang in production too.",
    fix="Find what blocks (a network call, a lock, an input() prompt), or raise --load-timeout for a slow model.")
PYTHON_MISMATCH = define(
    "PF956", "warning", "the Python packflow.yaml declares is not on this machine",
    why="The proof ran on another Python than the project declares.",
    fix="Install the declared Python (pythonX.Y on PATH), or update python_version.")
NOTHING_RUN = define(
    "PF957", "info", "the backend was loaded and initialized, but not run: the archive has no sample inputs",
    why="Without sample_inputs.json the proof cannot call the backend.",
    fix="Add sample_inputs.json to the project.")
PROCESS_ENDED = define(
    "PF958", "error", "the backend ended the process while being loaded or run",
    why="sys.exit(), os._exit() or a crash in the backend takes the runtime's process down with it.",
    fix="Raise exceptions instead of exiting; find the crash in the output shown.")

UNSAFE_MEMBER = define(
    "PF959", "error", "an archive member cannot be unpacked safely, so the load proof did not run",
    why="The proof unpacks only plain files and folders inside its own folder, whatever any policy says: an "
        "absolute name, a `..` part, a link, a device or a name that is both a file and a folder is refused.",
    fix="Export the project again with packflow_export; do not edit the archive.", integrity=True)
NOT_SANDBOXED = define(
    "PF960", "warning", "the load proof ran the archive's code without a sandbox",
    why="Without bubblewrap the archive's code runs with your rights: it can read your files, reach the network "
        "and start processes that outlive the proof.",
    fix="Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and pass --sandbox require when you verify "
        "archives from others.")
ENVIRONMENT_CHANGED = define(
    "PF961", "warning", "a cached load-proof environment had changed since it was sealed, and was rebuilt",
    why="Something wrote into an environment the proofs share (an archive's code run without the sandbox, or "
        "another process): reusing it would run that code in the next archive's proof.",
    fix="Nothing for this archive (it ran in a fresh environment); find what wrote there, and use --sandbox "
        "require.")

PHASE_RULES = {"configure": IMPORT_FAILED, "import": IMPORT_FAILED, "initialize": INITIALIZE_FAILED,
               "check_io": CHECK_IO_FAILED}
PHASE_WORDS = {"configure": "reading packflow.yaml", "import": "importing the backend",
               "initialize": "creating the backend (initialize())", "check_io": "running check_io on the sample inputs"}


def _last_line(text: str, markers: tuple[str, ...] = ("ERROR:", "error:", "×", "Because")) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    chosen = [line for line in lines if line.startswith(markers)]
    return (chosen[-1] if chosen else lines[-1] if lines else "no output")[:500]


def explanation(text: str, lines: int = 12) -> str:
    """The installer's own explanation: its last meaningful lines (uv's resolver tree, pip's ERROR lines)."""
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip() and not line.startswith("[...")]
    return "\n".join(kept[-lines:])[-2000:] or "no output"


# What uv and pip say when a file does not match its --hash (uv: "Hash mismatch for `pkg==1.0`"; pip: "THESE
# PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE").
HASH_WORDS = ("hash mismatch", "do not match the hashes")


def install_failed(failure: InstallFailure, timeout: float) -> Finding:
    command, code, tail = failure
    tool = command[0]
    if code is None:
        return TIMED_OUT(f"installing the requirements ({tool}) took more than {timeout:g} s", "requirements.txt")
    if any(words in tail.lower() for words in HASH_WORDS):
        return HASH_MISMATCH(f"{' '.join(command)} -r requirements.txt refused a file:\n{explanation(tail)}",
                             "requirements.txt", None, None)
    return INSTALL_FAILED(f"{' '.join(command)} -r requirements.txt failed (exit {code}):\n{explanation(tail)}",
                          "requirements.txt", None, None)


def _distribution_hint(module: str) -> str:
    top = module.split(".")[0]
    return f"Add {distribution_of(top)}==<version> to requirements.txt (import name {top})."


def _failure_finding(phase: str, error: dict[str, Any], project: Path) -> Finding:
    rule = PHASE_RULES.get(phase, IMPORT_FAILED)
    message = f"{error.get('type')}: {error.get('message')} while {PHASE_WORDS.get(phase, phase)}"
    hint = None
    if error.get("missing_module"):
        rule = IMPORT_FAILED
        module = error["missing_module"]
        message = f"No module named {module!r} while {PHASE_WORDS.get(phase, phase)}"
        hint = _distribution_hint(module)
    elif error.get("missing_file"):
        missing = Path(error["missing_file"])
        try:
            shown = missing.resolve().relative_to(project.resolve()).as_posix()
        except (ValueError, OSError):
            shown = str(missing)
        message = f"{PHASE_WORDS.get(phase, phase)} could not open {shown}: the archive does not hold it"
        hint = f"Ship {shown} in the archive (is it ignored by .gitignore? re-include it in .packflowignore)."
    elif error.get("type") == "SystemExit":
        return PROCESS_ENDED(f"{error.get('message')} while {PHASE_WORDS.get(phase, phase)}", None)
    where = error.get("where", "")
    if where.startswith(str(project)):
        where = where[len(str(project)) + 1:]
    detail = f"{message}" + (f" (at {where})" if where else "")
    return rule(detail, None, None, hint)


def findings_of(records: Sequence[dict[str, Any]], code: Optional[int], tail: str, timeout: float,
                project: Path) -> list[Finding]:
    """Findings from what the runner recorded and how it ended."""
    started = [r["phase"] for r in records if r.get("event") == "start"]
    ended = {r["phase"]: r for r in records if r.get("event") == "end"}
    for phase in started:
        record = ended.get(phase)
        if record is None:
            if code is None:
                return [TIMED_OUT(f"{PHASE_WORDS.get(phase, phase)} did not finish within {timeout:g} s", None)]
            return [PROCESS_ENDED(f"the process ended (exit {code}) while {PHASE_WORDS.get(phase, phase)}; last "
                                  f"output: {_last_line(tail, ())}", None)]
        if not record["ok"]:
            return [_failure_finding(phase, record.get("error") or {}, project)]
    if code is None:
        return [TIMED_OUT(f"the load did not finish within {timeout:g} s", None)]
    if not started or code != 0:
        return [PROCESS_ENDED(f"the runner ended (exit {code}) before loading anything: {_last_line(tail, ())}", None)]
    if any(r.get("event") == "skipped" and r.get("phase") == "check_io" for r in records):
        return [NOTHING_RUN("loaded and initialized; no inputs were tried (the archive has no sample_inputs.json)",
                            None)]
    return []


def tests_findings(code: Optional[int], tail: str, timeout: float) -> list[Finding]:
    if code is None:
        return [TESTS_FAIL(f"the tests did not finish within {timeout:g} s in the clean environment", None)]
    if code == 5:
        return [NO_TESTS("pytest found no tests in the archive", None)]
    if code != 0:
        lines = "\n".join(tail.strip().splitlines()[-15:])
        return [TESTS_FAIL(f"the tests fail in a clean environment (exit {code}):\n{lines}", None)]
    return []


def sandbox_findings(outcome: LoadOutcome) -> Iterator[Finding]:
    """Which sandbox held the archive's code, when it was none; a cached environment found changed."""
    if outcome.choice is not None and outcome.choice.kind != "bwrap":
        yield NOT_SANDBOXED(outcome.choice.reason, None)
    if outcome.tampered is not None:
        changed = ", ".join(outcome.tampered[:5])
        yield ENVIRONMENT_CHANGED(f"the cached environment differed from its seal ({changed}); it was rebuilt "
                                  f"before this proof", None)


def outcome_findings(outcome: LoadOutcome) -> Iterator[Finding]:
    """What the proof's outcome means, in the order it happened."""
    if outcome.unsafe is not None:
        yield UNSAFE_MEMBER(f"{outcome.unsafe}: nothing was unpacked", outcome.unsafe.member)
        return
    yield from sandbox_findings(outcome)
    if outcome.python_mismatch:
        yield PYTHON_MISMATCH(outcome.python_mismatch, CONFIG)
    if outcome.install_failure is not None:
        yield install_failed(outcome.install_failure, outcome.timeout)
    if outcome.runner is not None:
        yield from findings_of(outcome.records or [], outcome.runner.code, outcome.runner.tail, outcome.timeout,
                               outcome.project)
    if outcome.tests is not None:
        yield from tests_findings(outcome.tests.code, outcome.tests.tail, outcome.timeout)


def members_of(archive: ArchiveFile) -> list[Member]:
    """The archive's members as unpack.py reads them: name, the Unix mode its directory declares, size, bytes."""
    from ..archive import zipformat
    from ..unpack import Member

    return [Member(entry.name, entry.external_attr >> 16 if entry.create_system == zipformat.UNIX else 0,
                   entry.file_size, partial(archive.member_chunks, entry.name)) for entry in archive.entries]


def prove(ctx: Context) -> Iterator[Finding]:
    """Unpack the archive and load it in a clean environment (the runner runs this only on an intact archive)."""
    from ..load import prove_members

    archive_ctx, options = archive_of(ctx), ctx.options.load
    if options is None or ctx.config.data is None:
        return
    outside = ctx.requirements.reaching_outside
    if outside:
        lines = "; ".join(f"{item.path}:{item.line}" for item in outside)
        yield REACHES_OUTSIDE(f"requirements reach outside the archive ({lines}; see PF405/PF407): nothing was "
                              f"installed or run", outside[0].path, outside[0].line)
        return
    outcome = prove_members(members_of(archive_ctx.archive), ctx.config.text_field("python_version"), options,
                            ctx.requirements.files, ctx.requirements.hashed)
    ctx.phases.extend(outcome.phases)
    yield from outcome_findings(outcome)


RULES = (INSTALL_FAILED, IMPORT_FAILED, INITIALIZE_FAILED, CHECK_IO_FAILED, TIMED_OUT, PYTHON_MISMATCH, NOTHING_RUN,
         PROCESS_ENDED, UNSAFE_MEMBER, NOT_SANDBOXED, ENVIRONMENT_CHANGED)
CHECKS = (
    Check("load proof", prove, raises=RULES + (TESTS_FAIL, NO_TESTS, REACHES_OUTSIDE, HASH_MISMATCH), needs=Need.LOAD,
          stage=Stage.RUN),
)
