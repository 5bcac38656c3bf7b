"""What goes into the archive: no secrets, no stand-ins for missing files, nothing another system cannot
unpack, and everything the package needs (PF8xx). The same rules run on the files export would pack and on
the members verify finds, so export never writes an archive its own verify refuses.
"""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Sequence, Union

from .. import naming, secrets
from ..findings import Finding, Policy, define, with_article
from ..model.config import CONFIG
from ..model.context import Context, ScanEntry
from ..model.requirements import REQUIREMENTS
from ..model.samples import SAMPLES
from ..model.selection import Selection
from ..model.views import CorruptMember, FileChanged, Unreadable
from .archive import CORRUPT
from .check import Check, Need, archive_of, folder_of
from .files import UNREADABLE, unreadable
from .modelfiles import ModelTap, scan_rules, scanning

if TYPE_CHECKING:
    from ..archive import zipformat

NestedHit = tuple[Optional[str], secrets.Hit]  # (the member of a nested archive, or None for the file itself, hit)

SECRET = define(
    "PF801", "error", "a file that looks like a secret would be packed",
    why="An archive is copied to registries, pipelines and laptops; a key inside it leaks everywhere it goes.",
    fix="Remove it, add it to .packflowignore, or pass --allow-secret PATH if it is not secret.")
LINK = define(
    "PF802", "warning", "a symlink or special file would be packed as a copy or is left out",
    why="Archives hold regular files only: a link's target is packed in its place, or nothing is.",
    fix="Replace links with real files, or ignore them.")
ALLOWED_SECRET = define(
    "PF803", "info", "a file that looks like a secret is packed because --allow-secret names it",
    why="Recorded so that whoever reads the report (or verifies the archive) sees the exception.",
    fix="Nothing, if the file holds no secret.")
STAND_IN = define(
    "PF804", "error", "a Git LFS pointer or git-annex link stands where a file's content should be",
    why="The archive would hold a 130-byte pointer instead of the weights: the backend fails on load.",
    fix="Fetch the content first: git lfs pull (or git annex get).")
BAD_NAME = define(
    "PF805", "error",
    "a file name cannot travel in an archive (backslash, control character, not UTF-8, case twin, too long)",
    why="Other systems refuse or mangle such names on unpacking: two case twins become one file on Windows and "
        "macOS, a backslash becomes a folder.",
    fix="Rename the file.", integrity=True)
REQUIRED_LEFT_OUT = define(
    "PF806", "error", "a file the package needs would not be in the archive",
    why="packflow.yaml, requirements.txt, the backend module (loader: local) and sample_inputs.json are what a "
        "runtime reads first; without them the archive does not load.",
    fix="Remove the ignore rule that leaves it out, or move the file.")
UNSCANNED = define(
    "PF807", "info", "content that could not be scanned for secrets",
    why="The scan cannot vouch for what it could not read (an encrypted or oversized nested archive).",
    fix="Check the file by hand, or leave it out of the archive.")
CHANGED = define(
    "PF808", "error", "a file changed while it was being read",
    why="What was checked must be what is packed; a file replaced or modified during the run cannot be trusted.",
    fix="Run the command again once nothing is writing to the project.")
LARGE_FILE = define(
    "PF809", "info", "a large file would be packed (50 MiB or more)",
    why="A file this large (GitHub warns from 50 MiB and refuses 100 MiB in a push) makes the repository slow to "
        "clone and the archive slow to copy, scan and verify; model weights usually belong in Git LFS or a model "
        "store, not in git itself.",
    fix="Track it with Git LFS (git lfs track; run git lfs pull before exporting, since export refuses an LFS "
        "pointer, PF804), or ship the weights separately (a model registry or object storage the backend reads) "
        "and leave them out with .packflowignore. Set PF809: off in the policy if the size is expected.")
LARGE_FILE_BYTES = 50 << 20  # GitHub's warning size for a file in a push

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\n"
_CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_NAME_BYTES = 255
ByteChunk = Union[bytes, bytearray, memoryview]


def check_walk(selection: Selection) -> Iterator[Finding]:
    """What the walk met: links, special files, folders it could not list, names it could not use, ignore files."""
    messages = {"copied": "is a link: packed as a copy of {target}", "outside": "links outside the project: left out",
                "dangling": "is a dangling link: left out",
                "folder": "links to a folder, which is not followed: left out",
                "loop": "is a link that loops: left out"}
    for link in selection.links:
        if link.outcome == "annex":
            yield STAND_IN(f"{link.name} is a git-annex link whose content is not here", link.name, None,
                           "Run git annex get, or unlock the file.")
        else:
            yield LINK(f"{link.name} {messages[link.outcome].format(target=link.target)}", link.name)
    for name, what in selection.special:
        yield LINK(f"{name} is {what}: left out", name)
    for name, reason in selection.unreadable:
        yield unreadable(name, reason)
    for source, reason in selection.rules.problems:
        yield unreadable(source, f"cannot be used as an ignore file: {reason}")
    for shown, reason in selection.bad_names:
        yield BAD_NAME(f"the name of {shown} {reason}", shown, None, "Rename it to UTF-8.")


def check_names(names: Iterable[str]) -> Iterator[Finding]:
    """Names another system would refuse or mangle on unpacking."""
    folded: dict[str, str] = {}
    for name in sorted(names):
        parts = name.split("/")
        if not name or name.startswith("/") or ".." in parts or re.match(r"[A-Za-z]:", name) or "" in parts[:-1]:
            yield BAD_NAME(f"{name!r} is not a relative path inside the archive: unpacking it writes elsewhere", name)
            continue
        if "\\" in name:
            yield BAD_NAME(f"{name} has a backslash in its name, which Windows tools unpack as a folder", name)
        if _CONTROL.search(name):
            yield BAD_NAME(f"{name!r} has a control character in its name", name)
        if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in name.split("/")):
            yield BAD_NAME(f"{name[:60]}... has a name part over {MAX_NAME_BYTES} bytes", name)
        invisible = naming.invisible_character(name) if not _CONTROL.search(name) else None
        if invisible:
            yield BAD_NAME(f"{name!r} holds {invisible}, which is invisible or reorders the name shown", name)
        key = naming.twin_key(name)
        if key in folded:
            yield BAD_NAME(f"{folded[key]!a} and {name!a} differ only {naming.twin_kind(folded[key], name)}: one "
                           f"overwrites the other on Windows and macOS", name)
        else:
            folded[key] = name


def required_files(ctx: Context) -> list[str]:
    """The files an archive of this project must hold."""
    needed = [CONFIG, REQUIREMENTS]
    if ctx.backend_module and ctx.config.fields.get("loader", "local") == "local":
        needed.append(ctx.backend_module)
    if ctx.view.kind(SAMPLES) == "file":
        needed.append(SAMPLES)
    return needed


def check_required(selection: Selection, needed: list[str]) -> Iterator[Finding]:
    """Export refuses to leave out what the package needs, naming the rule that removed it."""
    packed = selection.names
    for name in needed:
        if name not in packed:
            why = selection.why_excluded(name)
            if why:
                yield REQUIRED_LEFT_OUT(f"{name} would be left out of the archive by {why}", name)
            elif any(link.name == name for link in selection.links):
                yield REQUIRED_LEFT_OUT(f"{name} is a link whose target is not packed", name, None,
                                        "Replace the link with the file itself.")


def check_members_hold(members: Iterable[str], needed: list[str]) -> Iterator[Finding]:
    """An archive holds what the package needs."""
    for name in needed:
        if name not in members:
            yield REQUIRED_LEFT_OUT(f"{name} is missing from the archive", name, None,
                                    "Export the project again; packflow_export refuses to leave it out.")


def rules_of(policy: Policy) -> secrets.RuleSet:
    """The secret rules a run's policy asks for: the bundled ones, a fork's files, less the disabled ids."""
    return secrets.configured_rules(policy.secret_rules, policy.secret_rules_disabled)


def scan_contents(entries: Sequence[ScanEntry], allowed: frozenset[str],
                  rules: Optional[secrets.RuleSet] = None) -> Iterator[Finding]:
    """Secret names and content, and LFS pointers, over (name, size, open_chunks, reopen or None): open_chunks()
    yields the bytes, reopen() gives the file back seekable."""
    finder = secrets.finder_for(sum(entry[1] for entry in entries), rules)
    for name, _, open_chunks, reopen in entries:
        yield from scan_file(name, open_chunks, allowed, finder, reopen)


def scan_file(name: str, open_chunks: Callable[[], Iterable[ByteChunk]], allowed: frozenset[str],
              finder: secrets.Finder, reopen: Optional[Callable[[], IO[bytes]]] = None) -> list[Finding]:
    """One file's name and content: secrets (or their allowance), a stand-in for missing content, a changed file.
    A zip archive inside the project is looked into: reopen() gives it back seekable (else it is spooled)."""
    found = _name_findings(name, allowed, finder.rules)
    spool = None if reopen else _Spool()
    tap = ModelTap(name, reopen)  # model files are analysed from the same chunks (rules/modelfiles.py)
    try:
        kind, hits, head = _scan(open_chunks, name, finder, spool, tap)
        found += tap.close()
        if head.startswith(ZIP_MAGIC):
            if reopen is not None:
                with reopen() as handle:
                    hits += _scan_nested(handle, name, finder, depth=1, findings=found)
            elif spool is not None and spool.complete and spool.file is not None:
                hits += _scan_nested(spool.file, name, finder, depth=1, findings=found)
            else:
                found.append(UNSCANNED(f"{name} is a zip archive over {NESTED_SPOOL_BYTES:,} bytes: verify does not "
                                       f"look inside it (export does)", name))
    except FileChanged as exc:
        return found + [CHANGED(f"{name} {exc} while being read", name)]
    except CorruptMember as exc:
        return found + [CORRUPT(f"{name} does not read back intact: {exc}", name)]
    except Unreadable as exc:
        return found + [unreadable(name, str(exc))]
    finally:
        tap.close(complete=False)
        if spool is not None:
            spool.close()
    if head.startswith(LFS_POINTER):
        found.append(STAND_IN(f"{name} is a Git LFS pointer ({len(head)} bytes), not the file: run git lfs pull", name))
    return found + _content_findings(name, hits, allowed)


def _name_findings(name: str, allowed: frozenset[str], rules: secrets.RuleSet) -> list[Finding]:
    """A file that is a secret by its name: blocked, or allowed because --allow-secret names it."""
    rule = secrets.name_rule(name, rules)
    if rule and name in allowed:
        return [ALLOWED_SECRET(f"{name} looks like a secret ({rule}); packed because --allow-secret names it", name)]
    if rule:
        return [SECRET(f"{name} looks like a secret ({rule})", name, None,
                       f"Add {name} to .packflowignore, or pass --allow-secret {name} if it holds no secret.")]
    return []


def _content_findings(name: str, hits: list[NestedHit], allowed: frozenset[str]) -> list[Finding]:
    """Each secret on its line (a file flagged by its name too); one finding per member and kind in an archive."""
    if hits and name in allowed:
        return [ALLOWED_SECRET(f"{name} contains what looks like {with_article(hits[0][1].rule)}; packed because "
                               f"--allow-secret names it", name, hits[0][1].line)]
    fix = (f"Remove it (use an environment variable), add the file to .packflowignore, or pass "
           f"--allow-secret {name}.")
    found: list[Finding] = []
    nested: dict[tuple[str, str], list[secrets.Hit]] = {}
    for inner, hit in hits:
        if inner:  # the member's lines are not the file's
            nested.setdefault((inner, hit.rule), []).append(hit)
            continue
        where = "" if hit.line else f" at byte {hit.offset:,}"
        found.append(SECRET(f"{name} contains{where} what looks like {with_article(hit.rule)}", name, hit.line, fix))
    for (inner, kind), same in nested.items():
        places = [f"line {h.line}" if h.line else f"byte {h.offset:,}" for h in same[:3]]
        where = ", ".join(places) + (f" and {len(same) - 3} more" if len(same) > 3 else "")
        found.append(SECRET(f"{name} contains in {inner} ({where}) what looks like {with_article(kind)}", name, None,
                            fix))
    return found


ZIP_MAGIC = b"PK\x03\x04"
NESTED_SPOOL_BYTES = 64 << 20  # verify keeps a nested archive this large to look inside it; export reopens it
NESTED_INFLATE_BYTES = 256 << 20  # inflated bytes looked at inside one project file, all members and levels together
NESTED_MEMBERS = 10_000  # members walked inside one project file, all levels together (a model zip holds far fewer)
NESTED_DEPTH = 2


class _Spool:
    """Keeps a stream's bytes while it is scanned (in memory up to 8 MiB, then a temporary file), up to a limit."""

    def __init__(self) -> None:
        self.file: Optional[IO[bytes]] = None
        self.complete = True

    def add(self, chunk: ByteChunk) -> None:
        if self.file is None:
            import tempfile

            self.file = tempfile.SpooledTemporaryFile(max_size=8 << 20)
        if self.complete and self.file.tell() + len(chunk) <= NESTED_SPOOL_BYTES:
            self.file.write(chunk)
        else:
            self.complete = False

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _scan(open_chunks: Callable[[], Iterable[ByteChunk]], name: str, finder: secrets.Finder,
          spool: Optional[_Spool], tap: ModelTap) -> tuple[str, list[NestedHit], bytes]:
    """(kind, [(inner name or None, hit)], the first KiB)."""
    head: list[bytes] = []

    def chunks() -> Iterator[ByteChunk]:
        for chunk in open_chunks():
            if not head:
                head.append(bytes(chunk[:1024]))
            if spool is not None and head[0].startswith(ZIP_MAGIC):
                spool.add(chunk)
            tap.feed(chunk)
            yield chunk
    kind, hits = secrets.scan_chunks(chunks(), name, finder)
    return kind, [(None, hit) for hit in hits], head[0] if head else b""


class _Budget:
    """What the look inside one project file may still cost, shared by every archive nested in it: members walked
    and bytes inflated (a zip of a million members, or a zip bomb, stops at these, with one PF807 note)."""

    def __init__(self, file: str) -> None:
        self.file = file  # the project file, which every finding names
        self.members = NESTED_MEMBERS
        self.bytes = NESTED_INFLATE_BYTES
        self.noted = False

    def stop(self, findings: list[Finding]) -> None:
        """The member bound is reached: said once, and every level stops walking."""
        self.members = 0
        if not self.noted:
            self.noted = True
            findings.append(UNSCANNED(f"{self.file} has more than {NESTED_MEMBERS:,} members (counting those of "
                                      f"archives inside it): the rest is not scanned", self.file))


def _scan_nested(handle: IO[bytes], outer: str, finder: secrets.Finder, depth: int, findings: list[Finding],
                 budget: Optional[_Budget] = None) -> list[NestedHit]:
    """Hits inside a zip archive that is itself a file of the project: names, and the content of compressed
    members (stored ones were scanned with the file's own bytes, unless they are UTF-16/32 text or a zip archive,
    whose content those bytes do not show). The directory is walked, never loaded, within the budget; what cannot
    be read is reported as unscanned."""
    from ..archive import zipformat

    budget = budget or _Budget(outer)
    hits: list[NestedHit] = []
    try:
        handle.seek(0)
        for entry in zipformat.walk_central_directory(handle, budget.members):
            if budget.members <= 0:  # archives inside this one used the bound up, and this member is past it
                budget.stop(findings)
                break
            budget.members -= 1
            if not entry.name.endswith("/"):
                hits += _scan_member(handle, entry, outer, finder, depth, findings, budget)
    except zipformat.MemberLimit:
        budget.stop(findings)
    except (zipformat.ZipFormatError, OSError, ValueError) as exc:
        findings.append(UNSCANNED(f"{outer} starts like a zip archive but cannot be read as one ({exc}): its "
                                  f"compressed content is not scanned", budget.file))
    return hits


_TEXT_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def _scan_member(handle: IO[bytes], entry: zipformat.CentralEntry, outer: str, finder: secrets.Finder, depth: int,
                 findings: list[Finding], budget: _Budget) -> list[NestedHit]:
    """One member of a nested archive: its name, then its content unless the outer bytes already showed it."""
    from ..archive import zipformat

    inner = entry.name
    rule = secrets.name_rule(inner, finder.rules)
    if rule:
        findings.append(SECRET(f"{outer} holds {inner}, which looks like a secret ({rule})", budget.file))
    if entry.flags & zipformat.FLAG_ENCRYPTED:
        findings.append(UNSCANNED(f"{outer} holds {inner} encrypted: it cannot be scanned", budget.file))
        return []
    if entry.file_size > budget.bytes:
        findings.append(UNSCANNED(f"{outer}: {inner} is not scanned (it inflates to {entry.file_size:,} bytes, past "
                                  f"the {NESTED_INFLATE_BYTES:,}-byte budget for one file's archives)", budget.file))
        budget.bytes = 0
        return []
    if not entry.file_size:
        return []
    try:
        member = zipformat.MemberReader(handle, entry)
        data_head = member.read(4)
        stored = entry.method == zipformat.STORED
        if stored and not (data_head.startswith(_TEXT_BOMS) or (data_head == ZIP_MAGIC and depth < NESTED_DEPTH)):
            return []  # its bytes, as they are, were scanned with the file holding it
        budget.bytes -= entry.file_size
        return _scan_member_content(data_head, member, entry, outer, finder, depth, findings, stored, budget)
    except (zipformat.ZipFormatError, OSError, ValueError) as exc:
        findings.append(UNSCANNED(f"{outer}: {inner} cannot be read ({exc}): it is not scanned", budget.file))
        return []


def _scan_member_content(data_head: bytes, member: zipformat.MemberReader, entry: zipformat.CentralEntry, outer: str,
                         finder: secrets.Finder, depth: int, findings: list[Finding], stored: bool,
                         budget: _Budget) -> list[NestedHit]:
    """A member's content scanned (a stored zip's own bytes were scanned already: only its members are)."""
    inner = entry.name
    member_chunks = _prefixed(data_head, member, entry.file_size)
    if data_head == ZIP_MAGIC and depth < NESTED_DEPTH:
        import tempfile

        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as nested:
            for piece in member_chunks:
                nested.write(piece)
            nested.seek(0)
            hits: list[NestedHit] = []
            if not stored:
                _, inner_hits = secrets.scan_chunks(iter(lambda: nested.read(1 << 20), b""), inner, finder)
                hits = [(inner, hit) for hit in inner_hits]
            return hits + [(f"{inner}!{deeper}", hit) for deeper, hit in
                           _scan_nested(nested, f"{outer}!{inner}", finder, depth + 1, findings, budget)]
    if data_head == ZIP_MAGIC:
        findings.append(UNSCANNED(f"{outer}: {inner} is an archive nested more than {NESTED_DEPTH} "
                                  f"levels deep: its compressed content is not scanned", budget.file))
    _, inner_hits = secrets.scan_chunks(member_chunks, inner, finder)
    return [(inner, hit) for hit in inner_hits]


def _prefixed(first: bytes, stream: zipformat.MemberReader, limit: int) -> Iterator[bytes]:
    """A member's chunks after its first bytes, never more than its declared size."""
    yield first
    remaining = limit - len(first)
    while remaining > 0 and (chunk := stream.read(min(1 << 20, remaining))):
        remaining -= len(chunk)
        yield chunk


# The checks ---------------------------------------------------------------------------------------------------

def walk(ctx: Context) -> Iterator[Finding]:
    selection = folder_of(ctx).selection
    if selection is not None:
        yield from check_walk(selection)


def names(ctx: Context) -> Iterator[Finding]:
    return check_names(ctx.names())


def required(ctx: Context) -> Iterator[Finding]:
    selection = folder_of(ctx).selection
    if selection is not None:
        yield from check_required(selection, required_files(ctx))


def large_files(ctx: Context) -> Iterator[Finding]:
    """Files the archive would hold that are better kept in Git LFS or shipped apart (info: sizes, not verdicts)."""
    selection = folder_of(ctx).selection
    for item in selection.files if selection is not None else ():
        if item.size >= LARGE_FILE_BYTES:
            yield LARGE_FILE(f"{item.name} is {item.size / (1 << 20):,.1f} MiB ({item.size:,} bytes)", item.name)


def members_hold(ctx: Context) -> Iterator[Finding]:
    return check_members_hold(archive_of(ctx).archive.members, required_files(ctx))


def scan(ctx: Context) -> Iterable[Finding]:
    with scanning(ctx):
        return list(scan_contents(ctx.scan_entries(), ctx.options.allowed_secrets, rules_of(ctx.policy)))


RULES = (SECRET, LINK, ALLOWED_SECRET, STAND_IN, BAD_NAME, REQUIRED_LEFT_OUT, UNSCANNED, CHANGED, LARGE_FILE)
CHECKS = (
    Check("walk", walk, raises=(LINK, STAND_IN, UNREADABLE, BAD_NAME), needs=Need.FOLDER),
    Check("names", names, raises=(BAD_NAME,)),
    Check("required files", required, raises=(REQUIRED_LEFT_OUT,), needs=Need.FOLDER),
    Check("large files", large_files, raises=(LARGE_FILE,), needs=Need.FOLDER),
    Check("members hold", members_hold, raises=(REQUIRED_LEFT_OUT,), needs=Need.ARCHIVE),
    Check("secrets", scan, raises=(SECRET, ALLOWED_SECRET, STAND_IN, UNSCANNED, CHANGED, UNREADABLE) + scan_rules(),
          needs=Need.STREAM | Need.FOLDER),
    # The same scan on an archive's members, which can also fail to read back intact.
    Check("secrets in members", scan,
          raises=(SECRET, ALLOWED_SECRET, STAND_IN, UNSCANNED, CORRUPT, UNREADABLE) + scan_rules(),
          needs=Need.STREAM | Need.ARCHIVE),
)
