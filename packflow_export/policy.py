"""The readiness policy: what an organisation requires of a release, edited as data in policy.yaml."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Optional

from .errors import UsageError

BUNDLED_POLICY = Path(__file__).with_name("policy.yaml")
POLICY_KEYS = ("strict", "severity", "required_fields", "allowed_licenses", "license_markers")
LEVELS = ("error", "warning", "info", "off")


class Policy(NamedTuple):
    strict: bool = False
    severity: dict = {}  # rule code -> error | warning | info | off
    required_fields: tuple = ()
    allowed_licenses: tuple = ()
    license_markers: dict = {}  # SPDX id -> phrases that must all appear in LICENSE.txt

    def as_dict(self) -> dict:
        return {"strict": self.strict, "severity": dict(sorted(self.severity.items())),
                "required_fields": list(self.required_fields), "allowed_licenses": list(self.allowed_licenses),
                "license_markers": {k: list(v) for k, v in sorted(self.license_markers.items())}}


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
    return policy_from_data(data, f"policy file {path}")


def policy_from_data(data, source: str) -> Policy:
    """A Policy from parsed data (a policy file, or the one an archive's provenance recorded)."""
    from .findings import all_rules

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
    severity = data.get("severity") or {}
    if not isinstance(severity, dict):
        raise UsageError(f"{source}: severity: must map rule codes to {'|'.join(LEVELS)}")
    rules = all_rules()
    for code, level in severity.items():
        if code not in rules:
            raise UsageError(f"{source}: severity: unknown rule code {code!r} (python -m packflow_export rules lists them)")
        if level not in LEVELS:
            raise UsageError(f"{source}: severity: {code}: {level!r} must be one of {', '.join(LEVELS)}")
    lists = {}
    for key in ("required_fields", "allowed_licenses"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise UsageError(f"{source}: {key}: must be a list of non-empty strings")
        lists[key] = tuple(value)
    markers = data.get("license_markers") or {}
    if not isinstance(markers, dict) or not all(
            isinstance(phrases, list) and phrases and all(isinstance(p, str) and p for p in phrases)
            for phrases in markers.values()):
        raise UsageError(f"{source}: license_markers: must map SPDX ids to lists of phrases")
    return Policy(strict, dict(severity), lists["required_fields"], lists["allowed_licenses"],
                  {str(k): tuple(v) for k, v in markers.items()})
