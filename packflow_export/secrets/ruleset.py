"""Secret rules as data: one rule type for content and path rules, read from YAML files (the bundled rules.yaml,
then a fork's own files), merged by id, checked, and compiled only when a scan first needs a rule.

A content rule: the keywords a fast pass looks for (literal anchors), where its match starts relative to one
(`anchor`, or back to the start of the `identifier` or URL `scheme` holding it), a pattern with bounded repeats
and ASCII classes only, the group holding the secret, and what keeps ordinary text quiet (an entropy threshold,
a validator such as a token's checksum, `allow` patterns, file scoping). A path rule names files that are
secrets by their name. Every rule carries the examples it must find and the counter-examples it must not.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, NamedTuple, Optional, Sequence, Union

from .checks import VALIDATORS

BUNDLED_RULES = Path(__file__).with_name("rules.yaml")
WINDOW = 4096  # the longest match a rule may make, and the context a scan keeps on each side of a candidate
START_CLASSES = {"identifier": rb"[A-Za-z0-9_.-]", "scheme": rb"[A-Za-z0-9+.-]"}
START_LIMITS = {"identifier": 80, "scheme": 32}
RULE_KEYS = frozenset({"id", "description", "docs", "keywords", "ignore_case", "start", "pattern", "secret_group",
                       "entropy", "validator", "in_code", "paths", "allow", "allow_match", "generic", "examples",
                       "near", "counter_examples", "example_path", "not_paths"})
FILE_KEYS = frozenset({"version", "rules", "allowed_paths", "placeholders", "example_values"})
# Bytes a match may hold: printable ASCII and whitespace. A binary file can hide a secret only in a run of them.
MATCH_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\n\r\x0b\x0c")


class SecretRulesError(ValueError):
    """A rules file that cannot be used: the message names the file, the rule and the field."""


class SecretRule(NamedTuple):
    id: str
    description: str
    docs: str
    keywords: tuple[str, ...] = ()
    ignore_case: bool = False
    start: Union[str, int] = "anchor"  # anchor, identifier, scheme, or the number of bytes before the keyword
    pattern: str = ""
    secret_group: int = -1  # -1: group 1 when the pattern has groups, else the whole match
    entropy: Optional[float] = None
    validator: Optional[str] = None
    in_code: bool = True
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()  # a secret matching one of these (searched) is not a finding
    allow_match: tuple[str, ...] = ()  # nor is a match (the whole text the pattern matched) matching one of these
    near: str = ""  # a cheap pattern that must match right after the keyword before the rule is tried
    generic: bool = False
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    example_path: str = "example.txt"
    source: str = ""

    @property
    def is_path_rule(self) -> bool:
        """A rule with no pattern matches file names (its paths), not content."""
        return not self.pattern


class CompiledRule(NamedTuple):
    rule: SecretRule
    pattern: "re.Pattern[bytes]"
    group: int
    back: Optional["re.Pattern[bytes]"]  # finds where the identifier or scheme holding an anchor starts
    back_limit: int
    offset: int  # the match starts this many bytes before the keyword
    allow: tuple[str, ...]  # compiled by alternation() when a match first needs them
    allow_match: tuple[str, ...]
    near: Optional["re.Pattern[bytes]"]


class RuleFile(NamedTuple):
    rules: tuple[SecretRule, ...]
    allowed_paths: tuple[str, ...]
    placeholders: tuple[str, ...]
    example_values: tuple[str, ...]


def _fail(source: str, where: str, problem: str) -> SecretRulesError:
    return SecretRulesError(f"secret rules file {source}: {where}: {problem}")


def _strings(value: Any, source: str, where: str, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _fail(source, where, f"{field} must be a list of non-empty strings")
    return tuple(value)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _start(value: Any) -> bool:
    return value in ("anchor", *START_CLASSES) or (type(value) is int and 1 <= value <= 64)


def _entropy(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 8


LIST_FIELDS = ("keywords", "paths", "not_paths", "allow", "allow_match", "examples", "counter_examples")
FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "description": (_text, "description is required text"),
    "docs": (_text, "docs is required text: the URL of the documentation the rule was written from"),
    "pattern": (_text, "pattern must be a regular expression"),
    "near": (_text, "near must be a regular expression"),
    "example_path": (_text, "example_path must be a file name"),
    "ignore_case": (lambda value: isinstance(value, bool), "ignore_case must be true or false"),
    "in_code": (lambda value: isinstance(value, bool), "in_code must be true or false"),
    "generic": (lambda value: isinstance(value, bool), "generic must be true or false"),
    "start": (_start, "start must be anchor, identifier, scheme or a number of bytes (1 to 64) before the keyword"),
    "secret_group": (lambda value: type(value) is int and value >= 0, "secret_group must be a group number"),
    "entropy": (_entropy, "entropy must be a number of bits per character from 0 to 8"),
    "validator": (lambda value: value in VALIDATORS, f"validator must be one of {', '.join(sorted(VALIDATORS))}"),
}


def _rule_from_data(data: Any, source: str, index: int) -> SecretRule:
    """One rule entry, its types and required fields checked (patterns are checked when compiled)."""
    if not isinstance(data, dict):
        raise _fail(source, f"rule #{index + 1}", "must be a mapping of fields")
    rule_id = data.get("id")
    where = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rule #{index + 1}"
    if not isinstance(rule_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,63}", rule_id):
        raise _fail(source, where, "id must be lower-case letters, digits, '-' and '.'")
    unknown = sorted(set(data) - RULE_KEYS)
    if unknown:
        raise _fail(source, where, f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(RULE_KEYS))})")
    fields: dict[str, Any] = {"id": rule_id, "source": source}
    for field in ("description", "docs", *data):
        value = data.get(field)
        if field == "id":
            continue
        if field in LIST_FIELDS:
            fields[field] = _strings(value, source, where, field) if value else ()
            continue
        check, problem = FIELD_CHECKS[field]
        if not check(value):
            raise _fail(source, where, problem)
        fields[field] = str(value).strip() if field in ("description", "docs") else value
    if "entropy" in fields:
        fields["entropy"] = float(fields["entropy"])
    rule = SecretRule(**fields)
    _check_complete(rule, source, where)
    return rule


def _check_complete(rule: SecretRule, source: str, where: str) -> None:
    if rule.is_path_rule and not rule.paths:
        raise _fail(source, where, "a rule needs a pattern (content) or paths (file names)")
    if not rule.is_path_rule and not rule.keywords:
        raise _fail(source, where, "a content rule needs keywords: the literals its matches start from or contain")
    if not rule.is_path_rule and not rule.examples:
        raise _fail(source, where, "a rule needs examples: lines it must find (they are its test)")


def parse_rules_file(text: str, source: str) -> RuleFile:
    """A rules file's rules and lists, every field checked; any mistake raises SecretRulesError."""
    return rules_from_data(_load_yaml(text, source), source)


def _load_yaml(text: str, source: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise SecretRulesError(f"secret rules file {source}: is not valid YAML: {exc}") from None


def rules_from_data(data: Any, source: str) -> RuleFile:
    """The rules and lists of a parsed rules file, every field checked."""
    if not isinstance(data, dict):
        raise SecretRulesError(f"secret rules file {source}: must be a mapping with a `rules:` list")
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise _fail(source, "top level", f"unknown key {unknown[0]!r} (keys: {', '.join(sorted(FILE_KEYS))})")
    entries = data.get("rules") or []
    if not isinstance(entries, list):
        raise _fail(source, "rules", "must be a list of rules")
    rules = tuple(_rule_from_data(entry, source, index) for index, entry in enumerate(entries))
    seen: set = set()
    for rule in rules:
        if rule.id in seen:
            raise _fail(source, f"rule {rule.id!r}", "is defined twice in this file")
        seen.add(rule.id)
    lists = {key: _strings(data[key], source, key, key) if data.get(key) else ()
             for key in ("allowed_paths", "placeholders", "example_values")}
    return RuleFile(rules, **lists)


@lru_cache(maxsize=16)
def _read_rules_file(path: str, mtime_ns: int, size: int) -> RuleFile:
    """Parsing YAML is the cost (20 ms for the bundled file, a tenth of check's start-up): a file is parsed once
    per process while unchanged, and its parsed form is kept as JSON in the user cache, keyed by content."""
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretRulesError(f"secret rules file {path}: cannot be read: {exc}") from None
    cache = _cache_file(raw)
    data = _read_cache(cache)
    if data is None:
        data = _load_yaml(text, path)
        _write_cache(cache, data)
    return rules_from_data(data, path)


def _cache_file(raw: bytes) -> Optional[Path]:
    import hashlib

    try:
        return _cache_root() / "secret-rules" / f"{hashlib.sha256(raw).hexdigest()[:40]}.json"
    except (OSError, RuntimeError, KeyError):  # no home folder: parse every time
        return None


def _cache_root() -> Path:
    """load.cache_root()'s folder, without importing the load proof's module (50 ms) on check's path."""
    import os
    import sys

    override = os.environ.get("PACKFLOW_EXPORT_CACHE")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "packflow-export" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "packflow-export"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "packflow-export"


def _read_cache(cache: Optional[Path]) -> Any:
    import json

    if cache is None:
        return None
    try:
        return json.loads(cache.read_bytes())
    except (OSError, ValueError):
        return None


def _write_cache(cache: Optional[Path], data: Any) -> None:
    """Best effort and atomic: a cache that cannot be written only costs the next run the parse."""
    import json

    from ..fsutil import atomic_write

    if cache is None:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache, json.dumps(data), mode=None)
    except (OSError, TypeError, ValueError):
        pass


def read_rules_file(path: Path) -> RuleFile:
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise SecretRulesError(f"secret rules file {path}: cannot be read: {exc.strerror or exc}") from None
    return _read_rules_file(str(path), stat.st_mtime_ns, stat.st_size)


def load_secret_rules(paths: Sequence[Path] = (), disabled: Iterable[str] = (),
                      bundled: bool = True) -> "RuleSet":
    """The bundled rules, then each file's (a rule with an id already defined replaces it), less the disabled
    ids. The lists (allowed paths, placeholders, example values) add up. An unknown disabled id is an error, so
    a typo never leaves a rule on silently."""
    files = ([BUNDLED_RULES] if bundled else []) + [Path(path) for path in paths]
    by_id: dict = {}
    lists: dict = {"allowed_paths": [], "placeholders": [], "example_values": []}
    for path in files:
        parsed = read_rules_file(path)
        for rule in parsed.rules:
            by_id.pop(rule.id, None)  # a replaced rule takes the new one's place in the order
            by_id[rule.id] = rule
        for key in lists:
            lists[key] += getattr(parsed, key)
    for rule_id in disabled:
        if rule_id not in by_id:
            raise SecretRulesError(f"secret rule {rule_id!r} cannot be disabled: no rule has that id")
        del by_id[rule_id]
    rules = RuleSet(tuple(by_id.values()), tuple(lists["allowed_paths"]), tuple(lists["placeholders"]),
                    tuple(lists["example_values"]))
    if paths:  # the bundled rules are checked by the test suite; a fork's are checked now
        rules.compile_all(frozenset(str(path) for path in files[1 if bundled else 0:]))
    return rules


@lru_cache(maxsize=None)
def default_rules() -> "RuleSet":
    """The bundled rules, read once per process."""
    return load_secret_rules()


@lru_cache(maxsize=8)
def configured_rules(paths: tuple[str, ...] = (), disabled: tuple[str, ...] = ()) -> "RuleSet":
    """The rules a policy asks for (its secret_rules files and secret_rules_disabled ids), built once per process."""
    if not paths and not disabled:
        return default_rules()
    return load_secret_rules([Path(path) for path in paths], disabled)


class Anchor(NamedTuple):
    text: bytes  # lower-case when ignore_case
    ignore_case: bool
    rules: tuple[int, ...]  # indexes into RuleSet.content


class RuleSet:
    """Content rules in the order they win a line (specific before generic), path rules, and the shared lists;
    each pattern compiled when a scan first needs it."""

    def __init__(self, rules: tuple[SecretRule, ...], allowed_paths: tuple[str, ...] = (),
                 placeholders: tuple[str, ...] = (), example_values: tuple[str, ...] = ()):
        content = [rule for rule in rules if not rule.is_path_rule]
        self.content: tuple[SecretRule, ...] = tuple(sorted(content, key=lambda rule: rule.generic))
        self.path_rules: tuple[SecretRule, ...] = tuple(rule for rule in rules if rule.is_path_rule)
        self.allowed_paths = allowed_paths
        self.placeholders = placeholders
        self.example_values = frozenset(value.encode() for value in example_values)
        self._compiled: list[Optional[CompiledRule]] = [None] * len(self.content)
        self._groups: dict = {}  # anchor index -> its rules grouped by `near` pattern

    def subset(self, ids: Iterable[str]) -> "RuleSet":
        """The same lists with only these rules: how a rule's examples are tested on their own."""
        wanted = set(ids)
        return RuleSet(tuple(rule for rule in self.content + self.path_rules if rule.id in wanted), self.allowed_paths,
                       self.placeholders, tuple(value.decode() for value in self.example_values))

    def __repr__(self) -> str:
        return f"RuleSet({len(self.content)} content rules, {len(self.path_rules)} path rules)"

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.content + self.path_rules)

    def anchor_groups(self, index: int) -> tuple[tuple[Optional["re.Pattern[bytes]"], tuple[int, ...]], ...]:
        """The rules an anchor starts, grouped by their `near` pattern: a scan checks each pattern once per anchor
        occurrence and skips the whole group when it fails."""
        found = self._groups.get(index)
        if found is None:  # built once per anchor per process
            groups: dict = {}
            for rule_index in self.anchors[index].rules:
                near = self.content[rule_index].near
                groups.setdefault(near, []).append(rule_index)
            found = self._groups[index] = tuple((_near(self.content[indexes[0]]) if near else None, tuple(indexes))
                                                for near, indexes in groups.items())
        return found

    @property
    def compiled_rules(self) -> list[Optional[CompiledRule]]:
        """The compiled rules by index, None until first needed (compiled() fills them)."""
        return self._compiled

    def compiled(self, index: int) -> CompiledRule:
        found = self._compiled[index]
        if found is None:
            found = self._compiled[index] = compile_rule(self.content[index])
        return found

    def compile_all(self, sources: Optional[frozenset[str]] = None) -> None:
        """Compile and check every pattern now (or those of rules from these files): a fork's file is checked
        when loaded, not when first matched."""
        for index, rule in enumerate(self.content):
            if sources is None or rule.source in sources:
                self._compiled[index] = compile_rule(rule, eager=True)
        _placeholder_pattern(self)

    @property
    def anchors(self) -> tuple[Anchor, ...]:
        return _anchors(self)

    @property
    def min_match_bytes(self) -> int:
        """The shortest text any content rule can match, derived from the patterns: a binary file can only hide
        a secret in a printable run at least this long."""
        return _min_match_bytes(self)

    def skipped_for(self, name: str, code: bool) -> frozenset[int]:
        """Rules that do not run on this file: code-only exclusions and path scoping."""
        return _skipped_for(self, name.lower(), code)

    def name_rule(self, name: str) -> Optional[SecretRule]:
        """The path rule a file matches, by its base name or its POSIX path (case-insensitively)."""
        base = PurePosixPath(name).name.lower()
        allowed, matchers = _name_matchers(self)
        if allowed(base):
            return None
        lowered = name.lower()
        for rule, by_base, by_path in matchers:
            if by_base(base) or by_path(lowered):
                return rule
        return None

    @property
    def placeholder_pattern(self) -> Optional["re.Pattern[bytes]"]:
        return _placeholder_pattern(self)


@lru_cache(maxsize=8)
def _anchors(rules: RuleSet) -> tuple[Anchor, ...]:
    table: dict = {}
    for index, rule in enumerate(rules.content):
        for keyword in rule.keywords:
            text = keyword.encode("ascii")
            key = (text.lower() if rule.ignore_case else text, rule.ignore_case)
            table.setdefault(key, []).append(index)
    return tuple(Anchor(text, ignore_case, tuple(indexes)) for (text, ignore_case), indexes in table.items())


@lru_cache(maxsize=8)
def _min_match_bytes(rules: RuleSet) -> int:
    widths = [_parse(rule).getwidth()[0] for rule in rules.content]
    return max(1, min(widths, default=1))


@lru_cache(maxsize=64)
def _skipped_for(rules: RuleSet, name: str, code: bool) -> frozenset[int]:
    skipped = set()
    base = PurePosixPath(name).name
    for index, rule in enumerate(rules.content):
        if code and not rule.in_code:
            skipped.add(index)
        elif rule.paths and not any(fnmatch.fnmatchcase(base, p) or fnmatch.fnmatchcase(name, p) for p in rule.paths):
            skipped.add(index)
        elif rule.not_paths and any(fnmatch.fnmatchcase(base, p) or fnmatch.fnmatchcase(name, p)
                                    for p in rule.not_paths):
            skipped.add(index)
    return frozenset(skipped)


GlobMatcher = Callable[[str], Optional["re.Match[str]"]]


def _glob_matcher(patterns: Iterable[str]) -> GlobMatcher:
    return re.compile("|".join(fnmatch.translate(p.lower()) for p in patterns) or "(?!)").match


@lru_cache(maxsize=8)
def _name_matchers(rules: RuleSet) -> tuple[GlobMatcher, list[tuple[Any, GlobMatcher, GlobMatcher]]]:
    """(allowed matcher, [(rule, base-name matcher, path matcher)]): one regex per rule, compiled once."""
    matchers = [(rule, _glob_matcher(p for p in rule.paths if "/" not in p),
                 _glob_matcher(p for p in rule.paths if "/" in p)) for rule in rules.path_rules]
    return _glob_matcher(rules.allowed_paths), matchers


@lru_cache(maxsize=8)
def _placeholder_pattern(rules: RuleSet) -> Optional["re.Pattern[bytes]"]:
    if not rules.placeholders:
        return None
    try:
        return re.compile(b"(?i)" + b"|".join(b"(?:" + p.encode("ascii") + b")" for p in rules.placeholders))
    except (re.error, UnicodeEncodeError) as exc:
        raise SecretRulesError(f"secret rules: a placeholder pattern does not compile: {exc}") from None


# Patterns: compiled, and checked to be linear and printable-only -----------------------------------------------

def _sre_parser() -> Any:
    try:
        import re._parser as parser  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse as parser
    return parser


def _parse(rule: SecretRule) -> Any:
    try:
        return _sre_parser().parse(rule.pattern.encode("ascii"))
    except (re.error, UnicodeEncodeError) as exc:
        raise _fail(rule.source, f"rule {rule.id!r}",
                    f"pattern is not a valid ASCII regular expression: {exc}") from None


def _check_tree(items: Any, rule: SecretRule, consuming: bool = True) -> None:
    """Bounded repeats, no backreferences, and (outside lookarounds) only bytes a match may hold."""
    maxrepeat = _sre_parser().MAXREPEAT
    where = f"rule {rule.id!r}"
    for op, value in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            if value[1] == maxrepeat:
                raise _fail(rule.source, where, "pattern has an unbounded repeat (*, + or {n,}): use {m,n}")
            _check_tree(value[2], rule, consuming)
        elif name in ("SUBPATTERN",):
            _check_tree(value[-1], rule, consuming)
        elif name == "ATOMIC_GROUP":
            _check_tree(value, rule, consuming)
        elif name == "BRANCH":
            for branch in value[1]:
                _check_tree(branch, rule, consuming)
        elif name in ("ASSERT", "ASSERT_NOT"):
            _check_tree(value[1], rule, consuming=False)
        elif name in ("GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE", "GROUPREF_LOC_IGNORE", "GROUPREF_UNI_IGNORE"):
            raise _fail(rule.source, where, "pattern uses a backreference, which is not linear")
        elif consuming and not _printable_only(name, value):
            raise _fail(rule.source, where, "pattern can match a byte outside printable ASCII and whitespace "
                                            "(., [^...], \\S, \\W, \\D): list the characters it allows instead")


def _printable_only(name: str, value: Any) -> bool:
    if name == "LITERAL":
        return value in MATCH_BYTES
    if name == "IN":
        for op, item in value:
            kind = str(op)
            if kind == "NEGATE" or (kind == "CATEGORY" and "NOT" in str(item)):
                return False
            if kind == "LITERAL" and item not in MATCH_BYTES:
                return False
            if kind == "RANGE" and not all(byte in MATCH_BYTES for byte in range(item[0], item[1] + 1)):
                return False
        return True
    return name in ("AT",)


def compile_rule(rule: SecretRule, eager: bool = False) -> CompiledRule:
    """A rule's pattern compiled and checked: bounded, printable-only, no longer than the scan's window (eager:
    its allow patterns too, so a fork's mistake is reported when its file is loaded)."""
    where = f"rule {rule.id!r}"
    tree = _parse(rule)
    _check_tree(tree, rule)
    if tree.getwidth()[1] > WINDOW:
        raise _fail(rule.source, where, f"pattern can match more than {WINDOW} bytes")
    pattern = re.compile(rule.pattern.encode("ascii"))
    group = rule.secret_group if rule.secret_group >= 0 else (1 if pattern.groups else 0)
    if group > pattern.groups:
        raise _fail(rule.source, where, f"secret_group {group} is not a group of the pattern")
    back = re.compile(b"(?s).*[^" + START_CLASSES[rule.start][1:]) if isinstance(rule.start, str) and \
        rule.start in START_CLASSES else None
    if eager:
        for field, patterns in (("allow", rule.allow), ("allow_match", rule.allow_match)):
            try:
                alternation(patterns)
            except (re.error, UnicodeEncodeError) as exc:
                raise _fail(rule.source, where, f"an {field} pattern does not compile: {exc}") from None
    offset = rule.start if isinstance(rule.start, int) else 0
    return CompiledRule(rule, pattern, group, back, START_LIMITS.get(str(rule.start), 0), offset, rule.allow,
                        rule.allow_match, _near(rule) if rule.near else None)


def _near(rule: SecretRule) -> "re.Pattern[bytes]":
    """The `near` pattern, checked like the main one (bounded, no backreferences) and shared between rules."""
    near = rule._replace(pattern=rule.near)
    tree = _parse(near)
    _check_tree(tree, near)
    return _compiled_near(rule.near)


@lru_cache(maxsize=64)
def _compiled_near(pattern: str) -> "re.Pattern[bytes]":
    return re.compile(pattern.encode("ascii"))


@lru_cache(maxsize=64)
def alternation(patterns: tuple[str, ...]) -> Optional["re.Pattern[bytes]"]:
    """The allow patterns of a rule as one regex, compiled when a match first needs them (the generic rules'
    take 10 ms to compile, and most scans never need them); rules sharing a list share the regex."""
    if not patterns:
        return None
    return re.compile(b"|".join(b"(?:" + p.encode("ascii") + b")" for p in patterns))
