"""The scan, modelled on gitleaks: a cheap prefilter finds the few places where a rule could match (its literal
keywords, such as AKIA, ghp_, -----BEGIN, ://, password), and each rule's bounded pattern runs only there.
Every pattern has bounded repeats and is tried at known positions, so a scan is linear in its input whatever
the input holds (long lines, runs of separators or newlines, near misses).

Content is scanned wherever it sits: text line by line; UTF-16/32 text (by its BOM) as the text it is; and
binary files in full, where only printable runs can hold a match. Which anchor finder runs is a matter of
speed, never of findings: hyperscan when installed (one pass for all anchors), else bytes.find.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Union

from .checks import VALIDATORS, entropy, is_placeholder
from .ruleset import WINDOW, CompiledRule, RuleSet, alternation, default_rules

SAMPLE_BYTES = 8192
CHUNK_BYTES = 1 << 20
MAX_HITS_PER_FILE = 1000
Buffer = Union[bytes, bytearray, memoryview]
Candidates = list[tuple[int, int]]  # (position, anchor index), sorted

# In source code an unquoted right-hand side is an expression, never a literal secret: rules that read
# unquoted values (`in_code: false`) stay out of these files.
CODE_SUFFIXES = frozenset({".py", ".pyi", ".pyx", ".ipynb", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java",
                           ".kt", ".scala", ".go", ".rs", ".rb", ".php", ".c", ".cc", ".cpp", ".h", ".hpp", ".cs",
                           ".swift", ".r", ".jl", ".m", ".lua", ".dart"})


def name_rule(name: str, rules: Optional[RuleSet] = None) -> Optional[str]:
    """The description of the path rule a file matches, by its base name or its path (case-insensitively)."""
    rule = (rules or default_rules()).name_rule(name)
    return rule.description if rule else None


class PythonFinder:
    """Anchors by bytes.find over a lower-cased copy where case does not matter: no dependency. Anchors that
    start with a shorter anchor are checked where that one is found, so each distinct root costs one pass."""

    scans_binary_in_full = False

    def __init__(self, rules: Optional[RuleSet] = None):
        self.rules = rules or default_rules()
        self._roots = _anchor_roots(self.rules)

    def __call__(self, buffer: Buffer, low: int, high: int, limit: int, lowered: Callable[[], bytes]) -> Candidates:
        found = []
        for root, ignore_case, members in self._roots:
            haystack: Any = lowered() if ignore_case else buffer
            position = haystack.find(root, low, min(high + len(root) - 1, limit))
            while position != -1:
                for index, text in members:
                    if len(text) == len(root) or (position + len(text) <= limit and
                                                  haystack.startswith(text, position)):
                        found.append((position, index))
                position = haystack.find(root, position + 1, min(high + len(root) - 1, limit))
        found.sort()
        return found


@lru_cache(maxsize=8)
def _anchor_roots(rules: RuleSet) -> tuple[tuple[bytes, bool, tuple[tuple[int, bytes], ...]], ...]:
    """Anchors grouped under the shortest anchor (of the same case mode) each starts with."""
    roots: dict = {}
    for index, anchor in sorted(enumerate(rules.anchors), key=lambda item: len(item[1].text)):
        for length in range(1, len(anchor.text) + 1):
            members = roots.get((anchor.text[:length], anchor.ignore_case))
            if members is not None:
                members.append((index, anchor.text))
                break
        else:
            roots[(anchor.text, anchor.ignore_case)] = [(index, anchor.text)]
    return tuple((root, ignore_case, tuple(members)) for (root, ignore_case), members in roots.items())


class HyperscanFinder:
    """Anchors by hyperscan: one pass for all of them, case-insensitive ones included, at over 1 GB/s."""

    scans_binary_in_full = True

    def __init__(self, rules: Optional[RuleSet] = None):
        import hyperscan

        self.rules = rules or default_rules()
        table = self.rules.anchors
        self._lengths = [len(anchor.text) for anchor in table]
        self._longest = max(self._lengths, default=1)
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._database.compile(
            expressions=[b"".join(b"\\x%02x" % byte for byte in anchor.text) for anchor in table],
            ids=list(range(len(table))), elements=len(table),
            flags=[hyperscan.HS_FLAG_CASELESS if anchor.ignore_case else 0 for anchor in table])

    def __call__(self, buffer: Buffer, low: int, high: int, limit: int, lowered: Callable[[], bytes]) -> Candidates:
        found: Candidates = []
        lengths, span = self._lengths, high - low

        def on_match(index: int, start: int, end: int, flags: int, context: Any) -> None:
            start = end - lengths[index]
            if start < span:
                found.append((low + start, index))

        window: Any = memoryview(buffer)[low:min(high + self._longest - 1, limit)]  # hyperscan reads any buffer
        self._database.scan(window, match_event_handler=on_match)
        found.sort()
        return found


Finder = Union[PythonFinder, HyperscanFinder]
FAST_FINDER_FROM_BYTES = 4 << 20  # below this much content, importing hyperscan costs more than it saves


@lru_cache(maxsize=8)
def _hyperscan_finder(rules: RuleSet) -> Optional[HyperscanFinder]:
    try:
        return HyperscanFinder(rules)
    except Exception:  # noqa: BLE001 - not installed, or no wheel for this platform: the same findings, slower
        return None


def finder_for(total_bytes: int, rules: Optional[RuleSet] = None) -> Finder:
    """The anchor finder for a scan of this much content: the findings are the same whichever it is."""
    rules = rules or default_rules()
    if total_bytes >= FAST_FINDER_FROM_BYTES:
        fast = _hyperscan_finder(rules)
        if fast is not None:
            return fast
    return PythonFinder(rules)


# A byte that can be part of a match (ASCII printable and whitespace) maps to 1, any other byte to 0.
_PRINTABLE = bytes(1 if b in b"\t\n\r\x0b\x0c" or 0x20 <= b < 0x7F else 0 for b in range(256))


def printable_runs(buffer: Union[bytes, bytearray], low: int, high: int, limit: int,
                   min_bytes: Optional[int] = None) -> Iterator[tuple[int, int]]:
    """[start, end) of each run of min_bytes (the rules' shortest match) or more match-capable bytes overlapping
    [low, high)."""
    length = min_bytes or default_rules().min_match_bytes
    run = b"\x01" * length
    marks = buffer.translate(_PRINTABLE)
    position = marks.find(run, low, min(high + length - 1, limit))
    while position != -1:
        end = marks.find(b"\x00", position, limit)
        end = limit if end == -1 else end
        yield position, end
        position = marks.find(run, end, min(high + length - 1, limit))


RUN_GAP_BYTES = 4 << 10  # printable runs closer than this are searched as one region


def merged_runs(runs: Iterable[tuple[int, int]], gap: int = RUN_GAP_BYTES) -> Iterator[tuple[int, int]]:
    """Runs closer than `gap` joined into one region: a finder pass per run costs far more than the bytes between
    them (a zip's 20,000 member names took 3 s run by run). Findings are the same: no match spans a byte that
    cannot be part of one, and hyperscan searches binary files whole."""
    current: Optional[tuple[int, int]] = None
    for start, end in runs:
        if current is not None and start - current[1] < gap:
            current = (current[0], end)
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


class Hit(NamedTuple):
    rule: str  # the rule's description, as findings name it
    line: Optional[int]  # text: the 1-based line; binary: None
    offset: int  # byte offset in the (decoded, for UTF-16) content
    rule_id: str = ""


class Scanner:
    """A streaming content scan: feed() chunks, then finish() gives the hits, one per line (the first rule's)."""

    def __init__(self, binary: bool = False, code: bool = False, finder: Optional[Finder] = None, name: str = ""):
        self.binary, self.code = binary, code
        self._finder: Finder = finder or PythonFinder()
        self.rules = self._finder.rules
        self._skipped = self.rules.skipped_for(name, code)
        # One buffer for the whole scan, grown to at most a chunk plus the context kept from the chunk before:
        # a scan allocates nothing per chunk, and a small file costs a small buffer.
        self._store = bytearray()
        self._base = 0  # content offset of _store[0]
        self._line = 1  # line number at _store[0]
        self._done = 0  # candidates before this index were processed
        self._hits: dict = {}  # line or offset -> (rule index, Hit)
        self._tried: dict = {}  # rule index -> the last content offset its pattern was tried at
        self._anchors = self.rules.anchors
        self._lengths = [len(anchor.text) for anchor in self._anchors]
        self._compiled = self.rules.compiled_rules  # filled as rules are first needed

    @property
    def _size(self) -> int:
        return len(self._store)

    def feed(self, chunk: Buffer) -> None:
        self._store += chunk
        if len(self._store) > CHUNK_BYTES + 3 * WINDOW:
            self._slide()

    def _slide(self) -> None:
        """Process what has enough context after it, then keep the last 2 windows as context for what follows."""
        self._process(self._size - WINDOW)
        keep = self._size - 2 * WINDOW
        if not self.binary:  # lines mean something in text only
            self._line += self._store.count(b"\n", 0, keep)
        del self._store[:keep]  # cheap: bytearray drops a prefix by moving its start
        self._base += keep
        self._done -= keep

    def finish(self) -> list[Hit]:
        self._process(self._size)
        hits = sorted(self._hits.values(), key=lambda item: item[1].offset)
        return [hit for _, hit in hits]

    def _regions(self, low: int, high: int) -> Iterable[tuple[int, int]]:
        if self.binary and not self._finder.scans_binary_in_full:
            return merged_runs(printable_runs(self._store, low, high, self._size, self.rules.min_match_bytes))
        return ((low, high),)

    def _process(self, high: int) -> None:
        low, buffer = self._done, self._store
        if high <= low:
            return
        self._done = high
        cache: list[bytes] = []
        size = len(buffer)

        def lowered() -> bytes:
            if not cache:
                cache.append(bytes(buffer[:size]).lower())
            return cache[0]
        cursor, line = 0, self._line
        for start, end in self._regions(low, high):
            for position, index in self._finder(buffer, max(start, low), min(end, high), size, lowered):
                for rule_index, match in self._matches(position, index):
                    if self.binary:
                        pass
                    elif match.start() >= cursor:
                        line += buffer.count(b"\n", cursor, match.start())
                    else:  # a match may start a little before the anchor that found it
                        line -= buffer.count(b"\n", match.start(), cursor)
                    cursor = match.start()
                    self._record(rule_index, match.start(), line)

    def _matches(self, position: int, index: int) -> list[tuple[int, Any]]:
        """The rules' matches at one anchor occurrence. A group of rules whose `near` pattern fails right after the
        keyword is skipped whole; rules starting at the identifier holding the keyword share that search."""
        found = []
        starts: dict[re.Pattern[bytes], int] = {}
        after = position + self._lengths[index]
        for near, indexes in self.rules.anchor_groups(index):
            if near is not None and near.match(self._store, after, after + WINDOW) is None:
                continue
            for rule_index in indexes:
                if rule_index not in self._skipped:
                    match = self._match(rule_index, position, starts)
                    if match is not None:
                        found.append((rule_index, match))
        return found

    def _record(self, rule_index: int, start: int, line: int) -> None:
        key = start + self._base if self.binary else line
        if key not in self._hits or self._hits[key][0] > rule_index:
            if len(self._hits) < MAX_HITS_PER_FILE or key in self._hits:
                rule = self.rules.content[rule_index]
                hit = Hit(rule.description, None if self.binary else line, self._base + start, rule.id)
                self._hits[key] = (rule_index, hit)

    def _match(self, rule_index: int, position: int, starts: dict[re.Pattern[bytes], int]) -> Any:
        """The rule's match around this anchor occurrence, unless what it holds is not a secret."""
        compiled = self._compiled[rule_index] or self.rules.compiled(rule_index)
        buffer = self._store
        start = position - compiled.offset
        if start < 0:
            return None
        if compiled.back is not None:
            if compiled.back not in starts:
                low = max(0, position - compiled.back_limit)
                before = compiled.back.match(buffer, low, position)
                # An identifier longer than the rule reads is not a name it matches (and not a start to try).
                starts[compiled.back] = before.end() if before else (0 if low == 0 else -1)
            start = starts[compiled.back]
            if start < 0:
                return None
        absolute = self._base + start
        if self._tried.get(rule_index) == absolute:
            return None  # another anchor in the same identifier: this start was tried
        self._tried[rule_index] = absolute
        match = compiled.pattern.match(buffer, start, start + WINDOW)
        if match is None or match.end() <= position or not self._is_secret(compiled, match):
            return None
        return match

    def _is_secret(self, compiled: CompiledRule, match: Any) -> bool:
        rule, secret = compiled.rule, match.group(compiled.group)
        if not secret:
            return False
        allow, allow_match = alternation(compiled.allow), alternation(compiled.allow_match)
        if allow is not None and allow.search(secret):
            return False
        if allow_match is not None and allow_match.search(match.group(0)):
            return False
        verdict = VALIDATORS[rule.validator](secret) if rule.validator else None
        if verdict is False:
            return False
        if is_placeholder(secret, self.rules.placeholder_pattern, self.rules.example_values):
            return False
        return verdict is True or rule.entropy is None or entropy(secret) >= rule.entropy


_CONTROL_BYTES = bytes([0, 1, 2, 3, 4, 5, 6, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 127])
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)


def sniff(sample: bytes) -> str:
    """'utf-16' / 'utf-32' by BOM, 'text' for text (a stray NUL allowed), else 'binary'."""
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    controls = len(sample.translate(None, _NOT_CONTROL))  # NULs and other control bytes, counted in one pass
    return "binary" if controls > max(1, len(sample) // 100) else "text"


def is_code(name: str) -> bool:
    """Source code, where an unquoted right-hand side is an expression."""
    return PurePosixPath(name).suffix.lower() in CODE_SUFFIXES


def scan_chunks(chunks: Iterable[Buffer], name: str = "", finder: Optional[Finder] = None) -> tuple[str, list[Hit]]:
    """Scan content given as chunks: (kind, hits). Its first 8 KiB decide the kind; the name, whether it is code
    and which path-scoped rules apply."""
    code = is_code(name)
    stream = iter(chunks)
    first = bytearray()
    for chunk in stream:
        first += chunk
        if len(first) >= SAMPLE_BYTES:
            break
    kind = sniff(bytes(first[:SAMPLE_BYTES]))
    if kind in ("utf-16", "utf-32"):
        decoder = codecs.getincrementaldecoder(kind)(errors="replace")
        stream = _transcoded(decoder, first, stream)
        scanner = Scanner(binary=False, code=code, finder=finder, name=name)
    else:
        scanner = Scanner(binary=kind == "binary", code=code, finder=finder, name=name)
        scanner.feed(first)
    for chunk in stream:
        scanner.feed(chunk)
    return kind, scanner.finish()


def _transcoded(decoder: codecs.IncrementalDecoder, first: bytearray, rest: Iterable[Buffer]) -> Iterator[bytes]:
    yield decoder.decode(bytes(first)).encode("utf-8")
    for chunk in rest:
        yield decoder.decode(chunk).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")


def example_problems(rules: RuleSet, sources: frozenset[str]) -> list[str]:
    """A fork's rules tested by their own examples when its policy is read: an example its rule does not find,
    or a counter-example it does, is a broken rule (the bundled rules are tested by the suite instead)."""
    problems = []
    for rule in rules.content:
        if rule.source not in sources:
            continue
        alone = PythonFinder(rules.subset([rule.id]))
        for example, must_match in [(text, True) for text in rule.examples] + [
                (text, False) for text in rule.counter_examples]:
            hit = any(hit.rule_id == rule.id for hit in scan_chunks([example.encode()], rule.example_path, alone)[1])
            if hit != must_match:
                kind = "example is not found" if must_match else "counter-example is found"
                problems.append(f"secret rules file {rule.source}: rule {rule.id}: its {kind}: {example!r}")
    for rule in rules.path_rules:
        if rule.source in sources:
            problems += [f"secret rules file {rule.source}: rule {rule.id}: its example name is not matched: {name!r}"
                         for name in rule.examples if name_rule(name, rules) is None]
    return problems
