"""The readiness policy: what an organisation requires of a release, edited as data in policy.yaml and read here
(every mistake refused, none ignored). The Policy type is in findings.py, beside the report that applies it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Optional

from .errors import UsageError
from .findings import Policy

BUNDLED_POLICY = Path(__file__).with_name("policy.yaml")
POLICY_KEYS = ("strict", "severity", "required_fields", "allowed_licenses", "license_markers", "ignore_advisories",
               "advisory_database_max_age_days", "secret_rules", "secret_rules_disabled")
LEVELS = ("error", "warning", "info", "off")

__all__ = ["BUNDLED_POLICY", "Policy", "load_policy", "policy_from_data"]


def load_policy(path: Optional[Path] = None) -> Policy:
    """Read and validate a policy file (the bundled one by default); any mistake is a UsageError, never ignored."""
    path = Path(path) if path else BUNDLED_POLICY
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"policy file {path}: cannot be read: {exc.strerror or exc}") from None
    return _parse_policy(text, str(path))


@lru_cache(maxsize=8)
def _parse_policy(text: bytes, path: str) -> Policy:
    """Parsing and validating is the cost; reading is cheap, so the cache is keyed by content."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text.decode("utf-8"), Loader=loader)
    except UnicodeDecodeError:
        raise UsageError(f"policy file {path}: is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"policy file {path}: is not valid YAML: {exc}") from None
    return policy_from_data(data, f"policy file {path}", Path(path).resolve().parent)


def policy_from_data(data: Any, source: str, folder: Optional[Path] = None) -> Policy:
    """A Policy from parsed data: a policy file (its `folder` given), or one an archive's provenance recorded,
    whose secret-rule files are never read (they name files on the exporting machine, not this one)."""
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
    return Policy(strict, _severity(data.get("severity") or {}, source), _names(data, "required_fields", source),
                  _names(data, "allowed_licenses", source), _markers(data.get("license_markers") or {}, source),
                  _names(data, "ignore_advisories", source), _max_age(data, source),
                  *_secret_rules(data, source, folder))


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


def _secret_rules(data: dict[str, Any], source: str, folder: Optional[Path]) -> tuple[tuple[str, ...], ...]:
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


# What an archive's recorded policy may change in verify (verify.py) ------------------------------------------

RANK = {"off": 0, "info": 1, "warning": 2, "error": 3}


def _level(policy: Policy, code: str, default: str) -> str:
    return policy.severity.get(code, default)


def relaxations(own: Policy, recorded: Policy) -> list[tuple[str, str, str, bool]]:
    """(code, the verifier's level, the recorded level, integrity) for every rule the recorded policy lowers."""
    from .rules import registry

    found = []
    for code, rule in sorted(registry().rules.items()):
        mine, theirs = _level(own, code, rule.severity), _level(recorded, code, rule.severity)
        if RANK[theirs] < RANK[mine]:
            found.append((code, mine, theirs, rule.integrity))
    return found


def accept_recorded(recorded: Policy, lowered: list[tuple[str, str, str, bool]]) -> Policy:
    """The recorded policy, except that no rule guarding the archive's integrity is lower than the verifier's."""
    severity = dict(recorded.severity)
    for code, mine, _, integrity in lowered:
        if integrity:
            severity[code] = mine
    return recorded._replace(severity=severity)
