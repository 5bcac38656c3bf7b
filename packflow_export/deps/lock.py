"""Lock: compile `requirements.in` into a hash-checked `requirements.txt` with uv, and tell when it is stale.

The lock is `uv pip compile --universal --generate-hashes --python-version X.Y`: every transitive pin, with
the hashes of every file the index serves for it, valid on every platform (platform-only packages carry their
markers), for the project's Python and later. pip installs it unchanged (`pip install --require-hashes -r`),
and so does anything that reads requirements files. uv's header names `python -m packflow_export lock`
instead of the command line actually run (which holds local paths), and one line of ours records what the
lock was made from:

    # packflow-export lock: requirements.in sha256=<digest> python_version=3.11 universal

Staleness is decided from that line, not by resolving again: the digest is of requirements.in's normalised
content (comments, blank lines, spacing, name spelling and specifier order do not count; included -r/-c
files do), so `check` can say "out of date" instantly, offline and without uv; a hand edit that drops or
contradicts a direct requirement is caught by comparing requirements.in with the pins. Re-resolving would
also notice new releases, but that is what `lock --upgrade` is for, not a staleness signal.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..errors import EXIT_BLOCKED
from ..model.requirements import URL_HASH
from .records import DepsError, RequirementRecord, normalize_name
from .reqfile import logical_lines, read_requirements_text

LOCK_COMMAND = "python -m packflow_export lock"
HEADER_TAG = "# packflow-export lock:"
HEADER_LINE = re.compile(r"# packflow-export lock: (?P<source>\S+) sha256=(?P<digest>[0-9a-f]{64}) "
                         r"python_version=(?P<python>\S+)")
PYTHON_VERSION = re.compile(r"\d+\.\d+(\.\d+)?")
INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")


class LockError(DepsError):
    """The lock could not be made: uv is missing or failed (its error is in the message): exit 1."""

    exit_code = EXIT_BLOCKED


@dataclass(frozen=True)
class LockOptions:
    """Where packages come from, as for the load proof: an index, local wheelhouses, offline."""

    index_url: Optional[str] = None
    find_links: tuple[str, ...] = ()
    offline: bool = False  # uv --offline --no-index: only --find-links folders (and uv's cache)
    upgrade: bool = False  # ignore the pins of the existing lock
    timeout: float = 600.0


@dataclass(frozen=True)
class LockResult:
    """A lock written: where, from what digest, for which Python, how many pins."""

    path: Path
    digest: str
    python_version: str
    pins: int


@dataclass(frozen=True)
class LockStatus:
    """Whether requirements.txt is the lock of requirements.in, and whether pip can check its hashes."""

    locked: bool  # requirements.in exists, so requirements.txt is meant to be its lock
    stale: tuple[str, ...]  # why the lock is out of date (empty: up to date, or nothing to compare)
    unhashed: tuple[RequirementRecord, ...]  # pins without --hash
    unpinned: tuple[RequirementRecord, ...]  # requirements --require-hashes refuses: not ==, or a URL

    @property
    def up_to_date(self) -> bool:
        """No reason to lock again."""
        return not self.stale


def find_uv() -> str:
    """The uv binary: the `uv` package's (the `lock` extra), else uv on PATH; LockError with the fix otherwise."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found:
        return found
    raise LockError("lock needs uv: pip install 'packflow-export[lock]' (or put uv on PATH)")


def _normalised_lines(file: Path, root: Path, seen: set[Path]) -> Iterable[str]:
    """requirements.in's content as it matters to a resolver, includes inlined."""
    seen.add(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield f"unreadable {file.relative_to(root).as_posix()}: {type(exc).__name__}"
        return
    for _, line in logical_lines(text):
        if line.startswith("-"):
            option, _, value = line.replace("=", " ", 1).partition(" ")
            value = value.strip()
            yield f"{option} {value}".strip()
            target = (file.parent / value).resolve()
            if option in INCLUDE_OPTIONS and target not in seen and target.is_file() \
                    and target.is_relative_to(root.resolve()):
                yield from _normalised_lines(target, root, seen)
            continue
        try:
            parsed = Requirement(line)
        except InvalidRequirement:
            yield " ".join(line.split())
            continue
        extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
        target_text = f" @ {parsed.url}" if parsed.url else str(parsed.specifier)
        marker = f"; {parsed.marker}" if parsed.marker else ""
        yield f"{normalize_name(parsed.name)}{extras}{target_text}{marker}"


def source_digest(project: Path, source: str = "requirements.in") -> str:
    """sha256 of requirements.in's normalised content (and of the files it includes)."""
    project = Path(project)
    lines = _normalised_lines(project / source, project, set())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def header_line(source: str, digest: str, python_version: str) -> str:
    """Our line of the lock's header: what it was made from."""
    return f"{HEADER_TAG} {source} sha256={digest} python_version={python_version} universal"


def _uv_command(uv: str, python_version: str, options: LockOptions, output: str, source: str) -> list[str]:
    command = [uv, "pip", "compile", "--no-config", "--quiet", "--no-progress", "--universal", "--generate-hashes",
               "--python-version", python_version, "--custom-compile-command", LOCK_COMMAND, "-o", output]
    if options.index_url:
        command += ["--index-url", options.index_url]
    for folder in options.find_links:
        command += ["--find-links", str(Path(folder).resolve()) if "://" not in folder else folder]
    if options.offline:
        command += ["--offline", "--no-index"]
    if options.upgrade:
        command.append("--upgrade")
    return [*command, source]


def one_line_per_requirement(text: str) -> str:
    """Each requirement with its --hash options on one line (pip reads both forms alike).

    uv writes each hash on a continuation line; upstream `packflow validate` reads requirements.txt line by line
    and warns "Package '--hash' ... is not installed" for every one of them (hundreds in a real lock)."""
    lines: list[str] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        continued = stripped.endswith("\\")
        if pending or (continued and not stripped.startswith("#")):
            pending.append(stripped[:-1].strip() if continued else stripped)
            if not continued:
                lines.append(" ".join(part for part in pending if part))
                pending = []
            continue
        lines.append(line)
    if pending:
        lines.append(" ".join(part for part in pending if part))
    return "\n".join(lines) + "\n"


def _with_header(text: str, line: str) -> str:
    """uv's output with our line after uv's header comment (or first, when uv wrote none)."""
    kept = [item for item in text.splitlines() if not item.startswith(HEADER_TAG)]
    at = 0
    while at < len(kept) and kept[at].startswith("#"):
        at += 1
    return "\n".join([*kept[:at], line, *kept[at:]]) + "\n"


def _usable_as_preferences(path: Path) -> bool:
    """Whether the current requirements.txt can seed uv's pins (uv refuses the whole run over a bad line)."""
    try:
        return not read_requirements_text(path.read_text(encoding="utf-8"), path.name).problems
    except (OSError, UnicodeDecodeError):
        return False


def lock(project: Path, python_version: str, options: LockOptions = LockOptions(), *,
         source: str = "requirements.in", output: str = "requirements.txt", uv: Optional[str] = None) -> LockResult:
    """Compile requirements.in into requirements.txt (pins kept unless upgrade); nothing half-written on failure."""
    project = Path(project)
    if not PYTHON_VERSION.fullmatch(python_version or ""):
        raise LockError(f"python_version {python_version!r} is not X.Y or X.Y.Z: set it in packflow.yaml")
    if not (project / source).is_file():
        raise LockError(f"{project / source}: no such file; list the project's direct requirements there first")
    uv = uv or find_uv()
    target = project / output
    partial = project / f".{output}.{secrets.token_hex(6)}.partial"
    try:
        if _usable_as_preferences(target):
            shutil.copyfile(target, partial)  # uv keeps the pins it finds in its output file
        env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
        try:
            run = subprocess.run(_uv_command(uv, python_version, options, partial.name, source), cwd=project, env=env,
                                 capture_output=True, text=True, timeout=options.timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise LockError(f"uv pip compile did not finish within {options.timeout:.0f} s") from exc
        except OSError as exc:
            raise LockError(f"{uv} could not be started: {exc.strerror or exc}") from exc
        if run.returncode != 0:
            raise LockError(f"uv pip compile failed: {_tail(run.stderr or run.stdout)}")
        digest = source_digest(project, source)
        text = _with_header(one_line_per_requirement(partial.read_text(encoding="utf-8")),
                            header_line(source, digest, python_version))
        with open(partial, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    pins = sum(1 for item in read_requirements_text(text, output).requirements if item.pinned_version)
    return LockResult(target, digest, python_version, pins)


def _tail(text: str, lines: int = 12) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:]) or "no output"


def hash_problems(requirements: Iterable[RequirementRecord]) -> tuple[tuple[RequirementRecord, ...],
                                                                      tuple[RequirementRecord, ...]]:
    """(pins and URLs without --hash, requirements pip's hash-checking mode refuses: neither == pins nor URLs)."""
    unhashed, unpinned = [], []
    for item in requirements:
        if item.pinned_version is None and not item.url:
            unpinned.append(item)
        elif not item.hashes and not URL_HASH.search(item.url or ""):  # pip checks a URL's #sha256= too
            unhashed.append(item)
    return tuple(unhashed), tuple(unpinned)


def _direct_requirement_problems(project: Path, source: str, pins: dict[str, list[str]]) -> list[str]:
    """requirements.in's direct requirements that the lock lacks or pins outside their specifier."""
    problems = []
    text = (project / source).read_text(encoding="utf-8", errors="replace")
    for item in read_requirements_text(text, source).requirements:
        versions = pins.get(item.key)
        if item.url:
            continue
        if not versions:
            problems.append(f"{item.display} ({item.where}) is not in the lock")
            continue
        try:
            specifier = SpecifierSet(item.specifier)
            allowed = [version for version in versions if specifier.contains(Version(version), prereleases=True)]
        except (InvalidSpecifier, InvalidVersion):
            continue
        if not allowed:
            problems.append(f"{item.display} ({item.where}) but the lock pins {item.name}=={', '.join(versions)}")
    return problems


def lock_status(project: Path, python_version: Optional[str], *, source: str = "requirements.in",
                output: str = "requirements.txt") -> LockStatus:
    """Whether requirements.txt is an up-to-date, hash-checked lock of requirements.in (offline, no uv)."""
    project = Path(project)
    locked = (project / source).is_file()
    try:
        text = (project / output).read_text(encoding="utf-8")
    except FileNotFoundError:
        missing = (f"{output} is missing: run `{LOCK_COMMAND}`",) if locked else ()
        return LockStatus(locked, missing, (), ())
    except (OSError, UnicodeDecodeError) as exc:
        raise DepsError(f"{project / output}: cannot be read ({exc})") from exc
    requirements = read_requirements_text(text, output).requirements
    unhashed, unpinned = hash_problems(requirements)
    if not locked:
        return LockStatus(False, (), unhashed, unpinned)
    stale: list[str] = []
    recorded = next((match for match in map(HEADER_LINE.match, text.splitlines()[:10]) if match), None)
    if recorded is None:
        stale.append(f"{output} was not made by `{LOCK_COMMAND}` (its header has no '{HEADER_TAG}' line)")
    else:
        if recorded["digest"] != source_digest(project, source):
            stale.append(f"{source} changed since {output} was locked")
        if python_version and recorded["python"] != python_version:
            stale.append(f"{output} was locked for Python {recorded['python']}, the project declares {python_version}")
    pins: dict[str, list[str]] = {}
    for item in requirements:
        if item.pinned_version:
            pins.setdefault(item.key, []).append(item.pinned_version)
    stale += _direct_requirement_problems(project, source, pins)
    return LockStatus(True, tuple(stale), unhashed, unpinned)
