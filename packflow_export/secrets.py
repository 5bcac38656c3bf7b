"""Secret detection by file name and by content, modelled on gitleaks: a cheap prefilter finds the few places
where a rule could match (literal anchors such as AKIA, ghp_, -----BEGIN, ://, password), and each rule's
bounded pattern runs only there. Every pattern has bounded repeats and is tried at known positions, so a scan
is linear in its input whatever the input holds (long lines, runs of separators or newlines, near misses).

Content is scanned wherever it sits: text line by line; UTF-16/32 text (by its BOM) as the text it is; and
binary files in full, where only printable runs can hold a match. Which anchor finder runs is a matter of
speed, never of findings: hyperscan when installed (one pass for all anchors), else bytes.find.
"""

from __future__ import annotations

import codecs
import fnmatch
import re
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Protocol, Union

SAMPLE_BYTES = 8192
CHUNK_BYTES = 1 << 20
WINDOW = 4096  # context kept on each side of a candidate: longer than any match a rule can make
MAX_HITS_PER_FILE = 1000
Buffer = Union[bytes, bytearray]
NameMatcher = Callable[[str], Optional["re.Match[str]"]]


class NameRule(NamedTuple):
    rule: str
    patterns: tuple[str, ...]  # fnmatch patterns, matched case-insensitively against the file name or the POSIX path


NAME_RULES = (
    NameRule("dotenv file", (".env", ".env.*", "*.env", ".envrc")),
    NameRule("private key file", ("*.pem", "*.key", "id_rsa", "id_rsa_*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
                                  "*.p12", "*.pfx", "*.jks", "*.keystore", "*.ppk", "*.gpg", "*.asc")),
    NameRule("credentials file", (".netrc", "_netrc", ".pypirc", ".git-credentials", ".npmrc", ".dockercfg",
                                  "*/.docker/config.json", ".aws/credentials", "*/.aws/credentials", "credentials.json",
                                  "client_secret*.json", "application_default_credentials.json", "*.tfstate",
                                  "service-account*.json", "htpasswd", ".htpasswd")),
    NameRule("kubeconfig", ("kubeconfig", "*.kubeconfig", ".kube/config", "*/.kube/config")),
)
# Example files whose names look like secrets but that exist to be shared (their content is still scanned).
NAME_ALLOWED = ("*.example", "*.sample", "*.template", "*.dist", "*.pub", ".env.example", ".env.sample")


@lru_cache(maxsize=None)
def _name_matchers() -> tuple[NameMatcher, list[tuple[str, NameMatcher, NameMatcher]]]:
    """(allowed matcher, [(rule, base-name matcher, path matcher)]), compiled once: one regex per rule."""
    def matcher(patterns: Iterable[str]) -> NameMatcher:
        return re.compile("|".join(fnmatch.translate(p) for p in patterns) or "(?!)").match

    rules = [(rule.rule, matcher([p for p in rule.patterns if "/" not in p]),
              matcher([p for p in rule.patterns if "/" in p])) for rule in NAME_RULES]
    return matcher(NAME_ALLOWED), rules


def name_rule(name: str) -> Optional[str]:
    """The name rule a file matches, by its base name or its path (case-insensitively)."""
    base = PurePosixPath(name).name.lower()
    allowed, rules = _name_matchers()
    if allowed(base):
        return None
    for rule, by_base, by_path in rules:
        if by_base(base) or by_path(name.lower()):
            return rule
    return None


# Content rules -------------------------------------------------------------------------------------------------
#
# A rule: its anchors (literals every match starts with, or that its locator starts from), whether they are
# matched ignoring case, a pattern tried with .match() at each start the locator gives, and the group holding
# the secret value (checked against placeholders). Patterns use only ASCII classes and bounded repeats.

class ContentRule(NamedTuple):
    rule: str
    anchors: tuple[bytes, ...]
    ignore_case: bool
    pattern: re.Pattern[bytes]
    group: int
    locate: Callable[[Buffer, int, bytes], Iterable[int]]  # (buffer, anchor position, anchor) -> starts to try


def _at_anchor(buffer: Buffer, position: int, anchor: bytes) -> Iterator[int]:
    yield position


_SCHEME_TAIL = re.compile(rb"[a-z][a-z0-9+.-]{0,31}\Z")
_ENV_PREFIX = re.compile(rb"[ \t]*(?:export[ \t]+)?[A-Za-z0-9_]{0,256}\Z")


def _url_start(buffer: Buffer, position: int, anchor: bytes) -> Iterator[int]:
    """A URL's scheme ends at '://': the longest run of scheme characters (at most 32) before it."""
    low = max(0, position - 32)
    match = _SCHEME_TAIL.search(buffer, low, position)
    if match:
        yield match.start()


_TOKEN_TAIL = re.compile(rb"[A-Za-z0-9_-]{1,210}\Z")


def _openai_start(buffer: Buffer, position: int, anchor: bytes) -> Iterator[int]:
    """OpenAI keys hold T3BlbkFJ after 'sk-': the key starts where the run of key characters before it does."""
    match = _TOKEN_TAIL.search(buffer, max(0, position - 210), position)
    if match and buffer.startswith(b"sk-", match.start()):
        yield match.start()


def _env_line_start(buffer: Buffer, position: int, anchor: bytes) -> Iterator[int]:
    """`[export ]NAME=value` lines: the keyword is inside NAME, and only spaces, 'export' and NAME precede it."""
    line_start = buffer.rfind(b"\n", max(0, position - 300), position) + 1
    if line_start == 0 and position > 300:
        return  # the line is longer than any variable assignment this rule reads
    match = _ENV_PREFIX.match(buffer, line_start, position)
    if match:
        name = re.match(rb"[A-Za-z0-9_]*", match.group()[::-1])
        yield position - (len(name.group()) if name else 0)


def _printable_except(excluded: bytes) -> bytes:
    """A regex class of printable ASCII (no space) without the given bytes, as ranges: matches hold printable
    bytes only, so a binary file can hide one only in a printable run (which the bytes.find finder relies on)."""
    ranges: list[bytes] = []
    start: Optional[int] = None
    for byte in range(0x21, 0x80):
        inside = byte < 0x7F and byte not in excluded
        if inside and start is None:
            start = byte
        elif not inside and start is not None:
            ranges.append(b"\\x%02x-\\x%02x" % (start, byte - 1) if byte - 1 > start else b"\\x%02x" % start)
            start = None
    return b"[" + b"".join(ranges) + b"]"


_QUOTE = rb"""\\?["']"""
_VALUE = _printable_except(b"\"'\\")
_URL_PART = _printable_except(b"/:@'\"")
_HOST = _printable_except(b"'\"")
_ENV_FIRST, _ENV_REST = _printable_except(b"\"'#$"), _printable_except(b"\"'#")
_ASSIGNMENT_KEYWORDS = (b"password", b"passwd", b"pwd", b"secret", b"api_key", b"apikey", b"access_token",
                        b"accesstoken", b"auth_token", b"authtoken", b"private_key", b"privatekey")
_ENV_KEYWORDS = (b"password", b"passwd", b"secret", b"api_key", b"apikey", b"token")

CONTENT_RULES = (
    ContentRule("PEM private key", (b"-----BEGIN",), False,
                re.compile(rb"-----BEGIN (?:[A-Z0-9]{1,20} ){0,5}PRIVATE KEY(?: BLOCK)?-----"), 0, _at_anchor),
    ContentRule("AWS access key id", (b"AKIA", b"ASIA", b"ABIA", b"ACCA"), False,
                re.compile(rb"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b"), 1, _at_anchor),
    ContentRule("AWS secret access key", (b"aws_secret", b"awssecret"), True,
                re.compile(rb"(?i)aws_?secret_?access_?key" + _QUOTE + rb"?[ \t]{0,32}[:=][ \t]{0,32}" + _QUOTE +
                           rb"?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"), 1, _at_anchor),
    ContentRule("GitHub token", (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"), False,
                re.compile(rb"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b"), 1,
                _at_anchor),
    ContentRule("GitLab token", (b"glpat-",), False, re.compile(rb"\b(glpat-[A-Za-z0-9_-]{20})\b"), 1, _at_anchor),
    ContentRule("Slack token", (b"xox",), False, re.compile(rb"\b(xox[abposr]-[A-Za-z0-9-]{10,256})\b"), 1,
                _at_anchor),
    ContentRule("Stripe live key", (b"sk_live_", b"rk_live_"), False,
                re.compile(rb"\b((?:sk|rk)_live_[A-Za-z0-9]{24,256})\b"), 1, _at_anchor),
    ContentRule("Google API key", (b"AIza",), False, re.compile(rb"\b(AIza[0-9A-Za-z_-]{35})\b"), 1, _at_anchor),
    ContentRule("OpenAI API key", (b"T3BlbkFJ",), False,
                re.compile(rb"\b(sk-(?:proj-)?[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200})\b"), 1,
                _openai_start),
    ContentRule("Hugging Face token", (b"hf_",), False, re.compile(rb"\b(hf_[A-Za-z0-9]{34,256})\b"), 1, _at_anchor),
    ContentRule("PyPI token", (b"pypi-AgEIcHlwaS5vcmc",), False,
                re.compile(rb"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1024})"), 1, _at_anchor),
    ContentRule("npm token", (b"npm_",), False, re.compile(rb"\b(npm_[A-Za-z0-9]{36})\b"), 1, _at_anchor),
    ContentRule("password in a URL", (b"://",), False,
                re.compile(rb"\b[a-z][a-z0-9+.-]{0,31}://" + _URL_PART + rb"{1,256}:(" + _URL_PART + rb"{3,256})@"
                           + _HOST),
                1, _url_start),
    ContentRule("password or token assignment", _ASSIGNMENT_KEYWORDS, True,
                re.compile(rb"(?i)(?:password|passwd|pwd|secret|api_?key|access_?token|auth_?token|private_?key)\b"
                           + _QUOTE + rb"?[ \t]{0,32}[:=][ \t]{0,32}" + _QUOTE + rb"(" + _VALUE + rb"{8,256})"
                           + _QUOTE), 1,
                _at_anchor),
    ContentRule("password or token in an env line", _ENV_KEYWORDS, True,
                re.compile(rb"(?i)[A-Z0-9_]{0,256}(?:PASSWORD|PASSWD|SECRET|API_KEY|APIKEY|TOKEN)[A-Z0-9_]{0,256}"
                           rb"[ \t]{0,32}=[ \t]{0,32}(" + _ENV_FIRST + _ENV_REST
                           + rb"{7,512})[ \t]{0,64}(?:\r?\n|\Z)"), 1,
                _env_line_start),
)
# The shortest text any content rule can match: a binary file can only hide a secret in a printable run this long.
MIN_MATCH_BYTES = 11

ENV_LINE_RULE = len(CONTENT_RULES) - 1
# In source code an unquoted right-hand side is an expression, never a literal secret: env-line rules stay out.
CODE_SUFFIXES = frozenset({".py", ".pyi", ".pyx", ".ipynb", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java",
                           ".kt", ".scala", ".go", ".rs", ".rb", ".php", ".c", ".cc", ".cpp", ".h", ".hpp", ".cs",
                           ".swift", ".r", ".jl", ".m", ".lua", ".dart"})
# A value shaped like an attribute path or a call (tokenizer.eos_token, os.getenv("X")) is an expression.
EXPRESSION = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+|[A-Za-z_][A-Za-z0-9_.]*\(.*")

PLACEHOLDER_WORDS = re.compile(
    rb"(?i)example|sample|dummy|placeholder|changeme|change_me|your[_-]|xxxx|\*\*\*|redacted|fake|test|<|>|\$\{|\{\{|%\("
    rb"|os\.environ|getenv")


def is_placeholder(value: bytes) -> bool:
    """True for values that only stand for a secret: `<your-token>`, `${TOKEN}`, `AKIAXXXXXXXXXXXXXXXX`, ..."""
    if PLACEHOLDER_WORDS.search(value):
        return True
    core = value[4:] if value[:4].isupper() else value
    return len(set(core)) <= 3


class Anchor(NamedTuple):
    text: bytes  # lower-case when ignore_case
    ignore_case: bool
    rules: tuple[int, ...]  # indexes into CONTENT_RULES


Candidates = list[tuple[int, int]]  # (position, anchor index), sorted


class Finder(Protocol):
    """Finds where anchors occur in buffer[low:high] (a match may run on to `limit`); `lowered` gives the buffer
    lower-cased, computed once when a finder needs it."""

    scans_binary_in_full: bool

    def __call__(self, buffer: Buffer, low: int, high: int, limit: int, lowered: Callable[[], bytes]) -> Candidates: ...


@lru_cache(maxsize=None)
def anchors() -> tuple[Anchor, ...]:
    """Every anchor once, with the rules it can start."""
    table: dict[tuple[bytes, bool], list[int]] = {}
    for index, rule in enumerate(CONTENT_RULES):
        for text in rule.anchors:
            key = (text.lower() if rule.ignore_case else text, rule.ignore_case)
            table.setdefault(key, []).append(index)
    return tuple(Anchor(text, ci, tuple(rules)) for (text, ci), rules in table.items())


class PythonFinder:
    """Anchors by bytes.find, one pass per anchor over a lower-cased copy: no dependency, about 50 MB/s."""

    scans_binary_in_full = False

    def __call__(self, buffer: Buffer, low: int, high: int, limit: int, lowered: Callable[[], bytes]) -> Candidates:
        found = []
        for index, anchor in enumerate(anchors()):
            haystack = lowered() if anchor.ignore_case else buffer
            end = min(high + len(anchor.text) - 1, limit)
            position = haystack.find(anchor.text, low, end)
            while position != -1:
                found.append((position, index))
                position = haystack.find(anchor.text, position + 1, end)
        found.sort()
        return found


class HyperscanFinder:
    """Anchors by hyperscan: one pass for all of them, case-insensitive ones included, at over 1 GB/s."""

    scans_binary_in_full = True

    def __init__(self) -> None:
        import hyperscan

        table = anchors()
        self._lengths = [len(anchor.text) for anchor in table]
        self._longest = max(self._lengths)
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


FAST_FINDER_FROM_BYTES = 4 << 20  # below this much content, importing hyperscan costs more than it saves


@lru_cache(maxsize=None)
def _hyperscan_finder() -> Optional[HyperscanFinder]:
    try:
        return HyperscanFinder()
    except Exception:  # noqa: BLE001 - not installed, or no wheel for this platform: the same findings, slower
        return None


def finder_for(total_bytes: int) -> Finder:
    """The anchor finder for a scan of this much content: the findings are the same whichever it is."""
    if total_bytes >= FAST_FINDER_FROM_BYTES:
        fast = _hyperscan_finder()
        if fast is not None:
            return fast
    return PythonFinder()


# A byte that can be part of a match (ASCII printable and whitespace) maps to 1, any other byte to 0.
_PRINTABLE = bytes(1 if b in b"\t\n\r" or 0x20 <= b < 0x7F else 0 for b in range(256))
_RUN = b"\x01" * MIN_MATCH_BYTES


def printable_runs(buffer: Buffer, low: int, high: int, limit: int) -> Iterator[tuple[int, int]]:
    """[start, end) of each run of MIN_MATCH_BYTES or more match-capable bytes overlapping [low, high)."""
    marks = buffer.translate(_PRINTABLE)
    position = marks.find(_RUN, low, min(high + MIN_MATCH_BYTES - 1, limit))
    while position != -1:
        end = marks.find(b"\x00", position, limit)
        end = limit if end == -1 else end
        yield position, end
        position = marks.find(_RUN, end, min(high + MIN_MATCH_BYTES - 1, limit))


class Hit(NamedTuple):
    rule: str
    line: Optional[int]  # text: the 1-based line; binary: None
    offset: int  # byte offset in the (decoded, for UTF-16) content


class Scanner:
    """A streaming content scan: feed() chunks, then finish() gives the hits, one per line (the first rule's)."""

    def __init__(self, binary: bool = False, code: bool = False, finder: Optional[Finder] = None):
        self.binary, self.code = binary, code
        self._finder: Finder = finder or PythonFinder()
        # One buffer for the whole scan, grown to at most a chunk plus the context kept from the chunk before:
        # a scan allocates nothing per chunk, and a small file costs a small buffer.
        self._store = bytearray()
        self._base = 0  # content offset of _store[0]
        self._line = 1  # line number at _store[0]
        self._done = 0  # candidates before this index were processed
        self._hits: dict[int, tuple[int, Hit]] = {}  # line or offset -> (rule index, Hit)
        self._anchors = anchors()

    @property
    def _size(self) -> int:
        return len(self._store)

    def feed(self, chunk: Union[bytes, bytearray, memoryview]) -> None:
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

    def _process(self, high: int) -> None:
        low, buffer = self._done, self._store
        if high <= low:
            return
        self._done = high
        cache: list[bytes] = []

        def lowered() -> bytes:
            if not cache:
                cache.append(bytes(buffer[:self._size]).lower())
            return cache[0]
        regions: Iterable[tuple[int, int]]
        if self.binary and not self._finder.scans_binary_in_full:
            regions = printable_runs(buffer, low, high, self._size)
        else:
            regions = ((low, high),)
        cursor, line = 0, self._line
        for start, end in regions:
            for position, index in self._finder(buffer, max(start, low), min(end, high), self._size, lowered):
                anchor = self._anchors[index]
                for rule_index in anchor.rules:
                    if rule_index == ENV_LINE_RULE and self.code:
                        continue
                    rule = CONTENT_RULES[rule_index]
                    match = _match_rule(rule, buffer, position, anchor.text, self._size)
                    if match is None:
                        continue
                    if self.binary:
                        pass
                    elif match.start() >= cursor:
                        line += buffer.count(b"\n", cursor, match.start())
                    else:  # a match may start a little before the anchor that found it
                        line -= buffer.count(b"\n", match.start(), cursor)
                    cursor = match.start()
                    self._record(rule_index, rule, match.start(), line)

    def _record(self, rule_index: int, rule: ContentRule, start: int, line: int) -> None:
        """Keep one hit per line (text) or offset (binary): the first rule's, up to MAX_HITS_PER_FILE."""
        key = start + self._base if self.binary else line
        if key not in self._hits or self._hits[key][0] > rule_index:
            if len(self._hits) < MAX_HITS_PER_FILE or key in self._hits:
                self._hits[key] = (rule_index, Hit(rule.rule, None if self.binary else line, self._base + start))


def _match_rule(rule: ContentRule, buffer: Buffer, position: int, anchor: bytes,
                limit: int) -> Optional[re.Match[bytes]]:
    """The rule's match starting from this anchor occurrence, unless its secret is a placeholder."""
    for start in rule.locate(buffer, position, anchor):
        match = rule.pattern.match(buffer, start, min(limit, start + WINDOW))
        if match and not is_placeholder(match.group(rule.group)) and not (
                rule.locate is _env_line_start and EXPRESSION.fullmatch(match.group(rule.group))):
            return match
    return None


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
    return PurePosixPath(name).suffix.lower() in CODE_SUFFIXES


def scan_chunks(chunks: Iterable[Union[bytes, bytearray, memoryview]], name: str = "",
                finder: Optional[Finder] = None) -> tuple[str, list[Hit]]:
    """Scan content given as chunks: (kind, hits). Its first 8 KiB decide the kind; the name, whether it is code."""
    code = is_code(name)
    chunks = iter(chunks)
    first = bytearray()
    for chunk in chunks:
        first += chunk
        if len(first) >= SAMPLE_BYTES:
            break
    kind = sniff(bytes(first[:SAMPLE_BYTES]))
    if kind in ("utf-16", "utf-32"):
        decoder = codecs.getincrementaldecoder(kind)(errors="replace")
        chunks = _transcoded(decoder, first, chunks)
        scanner = Scanner(binary=False, code=code, finder=finder)
    else:
        scanner = Scanner(binary=kind == "binary", code=code, finder=finder)
        scanner.feed(first)
    for chunk in chunks:
        scanner.feed(chunk)
    return kind, scanner.finish()


def _transcoded(decoder: codecs.IncrementalDecoder, first: bytearray,
                rest: Iterable[Union[bytes, bytearray, memoryview]]) -> Iterator[bytes]:
    yield decoder.decode(bytes(first)).encode("utf-8")
    for chunk in rest:
        yield decoder.decode(chunk).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")

