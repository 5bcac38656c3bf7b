"""The readiness policy: what an organisation requires of a release, edited as data in policy.yaml and read here
(every mistake refused, none ignored). The Policy type is in findings.py, beside the report that applies it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Optional

from .errors import UsageError
from .findings import AllowListData, AllowListItem, Policy

BUNDLED_POLICY = Path(__file__).with_name("policy.yaml")
POLICY_KEYS = ("strict", "severity", "required_fields", "allowed_licenses", "license_markers", "ignore_advisories",
               "advisory_database_max_age_days", "secret_rules", "secret_rules_disabled", "model_allowlist")
LEVELS = ("error", "warning", "info", "off")

__all__ = ["BUNDLED_POLICY", "Policy", "load_policy", "policy_from_data"]


def load_policy(path: Optional[Path] = None) -> Policy:
    """Read and validate a policy file (the bundled one by default); any mistake is a UsageError, never ignored."""
    path = Path(path) if path else BUNDLED_POLICY
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"policy file {path}: cannot be read: {exc.strerror or exc}") from None
    policy = _parse_policy(text, str(path), str(path.absolute().parent))
    return _read_allowlist_files(policy, f"policy file {path}")


@lru_cache(maxsize=8)
def _parse_policy(text: bytes, path: str, folder: str) -> Policy:
    """Parsing and validating is the cost; reading is cheap, so the cache is keyed by content (and by the folder
    relative allow-list paths are resolved against, which the files it names are read from after the cache)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text.decode("utf-8"), Loader=loader)
    except UnicodeDecodeError:
        raise UsageError(f"policy file {path}: is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"policy file {path}: is not valid YAML: {exc}") from None
    return policy_from_data(data, f"policy file {path}", Path(folder))


def policy_from_data(data: Any, source: str, folder: Optional[Path] = None) -> Policy:
    """A Policy from parsed data (a policy file, or the one an archive's provenance recorded). `folder`: where the
    policy file is, against which model_allowlist's relative paths resolve; None (a recorded policy) keeps the paths
    it names as written, never to be read."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{source}: must be a mapping of policy keys, e.g. 'strict: false'")
    unknown = sorted(set(map(str, data)) - set(POLICY_KEYS))
    if unknown:
        raise UsageError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(POLICY_KEYS)}")
    strict = data.get("strict", False)
    if not isinstance(strict, bool):
        raise UsageError(f"{source}: strict: must be true or false, not {strict!r}")
    secret_rules, secret_rules_disabled = _secret_rules(data, source, folder)
    return Policy(strict, _severity(data.get("severity") or {}, source), _names(data, "required_fields", source),
                  _names(data, "allowed_licenses", source), _markers(data.get("license_markers") or {}, source),
                  _names(data, "ignore_advisories", source), _max_age(data, source), secret_rules,
                  secret_rules_disabled, _model_allowlist(data.get("model_allowlist"), source, folder))


def _severity(severity: Any, source: str) -> MappingProxyType[str, str]:
    """Rule code -> level, every code a rule of the registry and every level one a policy may set."""
    from .rules import registry

    if not isinstance(severity, dict):
        raise UsageError(f"{source}: severity: must map rule codes to {'|'.join(LEVELS)}")
    rules = registry().rules
    for code, level in severity.items():
        if code not in rules:
            raise UsageError(f"{source}: severity: unknown rule code {code!r} (python -m packflow_export rules lists "
                             f"them)")
        if level not in LEVELS:
            raise UsageError(f"{source}: severity: {code}: {level!r} must be one of {', '.join(LEVELS)}")
    return MappingProxyType(dict(severity))


def _names(data: dict[str, Any], key: str, source: str) -> tuple[str, ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise UsageError(f"{source}: {key}: must be a list of non-empty strings")
    return tuple(value)


def _markers(markers: Any, source: str) -> MappingProxyType[str, tuple[str, ...]]:
    if not isinstance(markers, dict) or not all(
            isinstance(phrases, list) and phrases and all(isinstance(p, str) and p for p in phrases)
            for phrases in markers.values()):
        raise UsageError(f"{source}: license_markers: must map SPDX ids to lists of phrases")
    return MappingProxyType({str(k): tuple(v) for k, v in markers.items()})


def _max_age(data: dict[str, Any], source: str) -> int:
    """advisory_database_max_age_days: a whole number of days, 0 to never call a database stale."""
    value = data.get("advisory_database_max_age_days", Policy().advisory_database_max_age_days)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{source}: advisory_database_max_age_days: must be a whole number of days >= 0 (0: never "
                         f"stale), not {value!r}")
    return value


def _secret_rules(data: dict[str, Any], source: str,
                  folder: Optional[Path]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """secret_rules (files, relative to the policy file) and secret_rules_disabled (ids), loaded once now so a
    mistake is refused when the policy is read, naming the policy, the file and the rule."""
    files = _names(data, "secret_rules", source) if folder is not None else ()
    disabled = _names(data, "secret_rules_disabled", source)
    paths = tuple(str(folder / name) for name in files) if folder is not None else ()
    if paths or disabled:
        from .secrets import SecretRulesError, configured_rules, example_problems

        try:
            problems = example_problems(configured_rules(paths, disabled), frozenset(paths))
        except SecretRulesError as exc:
            raise UsageError(f"{source}: secret_rules: {exc}") from None
        if problems:
            raise UsageError(f"{source}: secret_rules: {problems[0]}; fix the rule's pattern or its examples")
    return paths, disabled


# model_allowlist: what extends the bundled model-file allow-list (modelfiles/allowlist.py has the format) -----------

_ALLOWLIST_FORMAT = ("write each item as the path of an allow-list file (relative to the policy file's folder) or "
                     "as an inline mapping such as {globals: {mymodule.MyClass: [new, build]}}; "
                     "packflow_export/modelfiles/allowlist.yaml shows the format")


def _model_allowlist(value: Any, source: str, folder: Optional[Path]) -> tuple[AllowListItem, ...]:
    """Every item checked now, not at first use: a path (made absolute against the policy's folder, so the run's
    working folder never matters) or an inline allow-list, frozen."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise UsageError(f"{source}: model_allowlist: must be a list; {_ALLOWLIST_FORMAT}")
    items: list[AllowListItem] = []
    for number, item in enumerate(value, 1):
        if isinstance(item, str) and item.strip():
            items.append(str(folder / item) if folder is not None else item)
        elif isinstance(item, dict):
            items.append(_frozen_allowlist(item, f"{source}: model_allowlist: item {number}"))
        else:
            raise UsageError(f"{source}: model_allowlist: item {number} ({item!r}) is neither a file path nor a "
                             f"mapping; {_ALLOWLIST_FORMAT}")
    return tuple(items)


def _frozen_allowlist(data: Any, where: str, fix: str = _ALLOWLIST_FORMAT) -> AllowListData:
    """An allow-list in the allow-list file format, checked by its own parser and frozen."""
    from .modelfiles.allowlist import AllowListError, parse_allowlist

    if isinstance(data, dict) and isinstance(data.get("extensions"), dict):  # JSON (a recorded policy) has text keys
        data = {**data, "extensions": {int(code) if isinstance(code, str) and code.isdigit() else code: target
                                       for code, target in data["extensions"].items()}}
    try:
        parsed = parse_allowlist(data, where)
    except AllowListError as exc:
        raise UsageError(f"{exc}; {fix}") from None
    entries = [*parsed.exact.items(), *((package + ".*", granted) for package, granted in parsed.patterns)]
    return AllowListData(tuple(sorted((key, tuple(sorted(granted))) for key, granted in entries)),
                         tuple(sorted(parsed.extensions.items())))


def _read_allowlist_files(policy: Policy, source: str) -> Policy:
    """The policy with every allow-list file it names read and checked (a file that cannot be used is a UsageError
    naming the policy, the item and the file)."""
    if not any(isinstance(item, str) for item in policy.model_allowlist):
        return policy
    import yaml

    items: list[AllowListItem] = []
    for number, item in enumerate(policy.model_allowlist, 1):
        if not isinstance(item, str):
            items.append(item)
            continue
        where = f"{source}: model_allowlist: item {number} ({item})"
        try:
            text = Path(item).read_text(encoding="utf-8")
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except OSError as exc:
            raise UsageError(f"{where}: the allow-list file cannot be read: {exc.strerror or exc}; check the path "
                             f"(a relative one is read from the policy file's folder)") from None
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise UsageError(f"{where}: the allow-list file is not valid YAML: {exc}") from None
        items.append(_frozen_allowlist(data, where, "fix the allow-list file (packflow_export/modelfiles/"
                                                      "allowlist.yaml shows the format)"))
    return policy._replace(model_allowlist=tuple(items))


def recorded_allowlist(own: Policy, recorded: Policy) -> tuple[str, ...]:
    """What an archive's recorded model_allowlist would add to the verifier's allow-list (the bundled one and its
    policy's): the globals, extension codes and files (never read) it names. Shown by verify, never applied."""
    from .rules.modelfiles import allowlist_of

    allow = allowlist_of(own)
    patterns = dict(allow.patterns)
    added: list[str] = []
    for item in recorded.model_allowlist:
        if isinstance(item, str):
            added.append(f"{item!r} (named, never read)")
            continue
        for key, actions in item.globals:
            if key.endswith(".*"):
                granted = patterns.get(key[:-2], frozenset())
            else:
                module, _, name = key.partition(":") if ":" in key else key.rpartition(".")
                granted = allow.actions(module, name) or frozenset()
            extra = sorted(set(actions) - granted)
            if extra:  # ref, implied by every other action, is named alone
                added.append(f"{key} [{', '.join([action for action in extra if action != 'ref'] or extra)}]")
        added += [f"EXT {code} {target}" for code, target in item.extensions if allow.extensions.get(code) != target]
    return tuple(dict.fromkeys(added))


# What an archive's recorded policy may change in verify (verify.py) ------------------------------------------

RANK = {"off": 0, "info": 1, "warning": 2, "error": 3}


def _level(policy: Policy, code: str, default: str) -> str:
    return policy.severity.get(code, default)


def relaxations(own: Policy, recorded: Policy) -> list[tuple[str, str, str, bool]]:
    """(code, the verifier's level, the recorded level, kept) for every rule the recorded policy lowers; kept: a rule
    guarding the archive's integrity, or one that keeps a model file from running code when loaded (lowering it
    would widen the model-file allow-list by another name), which stays at the verifier's level whatever is accepted."""
    from .rules import registry
    from .rules.modelfiles import REFUSING_LOAD

    gated = {rule.code for rule in REFUSING_LOAD}
    found = []
    for code, rule in sorted(registry().rules.items()):
        mine, theirs = _level(own, code, rule.severity), _level(recorded, code, rule.severity)
        if RANK[theirs] < RANK[mine]:
            found.append((code, mine, theirs, rule.integrity or code in gated))
    return found


def accept_recorded(own: Policy, recorded: Policy, lowered: list[tuple[str, str, str, bool]]) -> Policy:
    """The recorded policy, except that no kept rule is lower than the verifier's, and that the model-file allow-list
    is the verifier's: an archive never widens it, and a path it records is never read on the verifier's machine."""
    severity = dict(recorded.severity)
    for code, mine, _, kept in lowered:
        if kept:
            severity[code] = mine
    return recorded._replace(severity=severity, model_allowlist=own.model_allowlist)
