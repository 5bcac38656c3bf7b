"""The finding model shared by check, export and verify: rules, immutable findings, the policy's data, and the report.

Each rule is defined beside the code that raises it (packflow_export/rules/<family>.py) with what it means, why it
matters and how to fix it; the family lists it, and rules/__init__.py builds the registry from the families. The
report is the one place where the policy decides a finding's severity (as flake8's DecisionEngine does).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from types import MappingProxyType
from typing import Any, Iterable, Literal, Mapping, NamedTuple, Optional, Union

Severity = Literal["error", "warning", "info"]
Level = Literal["error", "warning", "info", "off"]  # what a policy may set a rule to
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
CODE = re.compile(r"PF[0-9]{3}")


class Finding(NamedTuple):
    """One thing a rule found, and where. Immutable: the report makes a copy with the policy's severity."""

    code: str
    message: str
    path: Optional[str] = None
    line: Optional[int] = None
    hint: Optional[str] = None
    severity: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "path": self.path, "line": self.line,
                "message": self.message, "hint": self.hint}


class Rule(NamedTuple):
    """A stable code with its default severity; calling it makes a finding (the hint defaults to the fix).

    integrity: the rule guards whether the archive can be read and unpacked at all (its records, its members'
    bytes, names that unpack safely); nothing that unpacks the archive runs while one of these is an error.
    """

    code: str
    severity: Severity
    summary: str
    why: str
    fix: str
    group: Optional[str] = None  # how several findings of this rule in one file read as one line: "placeholders left"
    integrity: bool = False

    def __call__(self, message: str, path: Optional[str] = None, line: Optional[int] = None,
                 hint: Optional[str] = None) -> Finding:
        return Finding(self.code, message, path, line, self.fix if hint is None else hint, self.severity)


class RuleError(ValueError):
    """A rule or a family is declared wrongly (a bug in packflow_export or in a fork's rule family)."""


def define(code: str, severity: Severity, summary: str, *, why: str, fix: str, group: Optional[str] = None,
           integrity: bool = False) -> Rule:
    """A rule, checked as it is defined; its family lists it so that the registry knows it."""
    if not CODE.fullmatch(code):
        raise RuleError(f"rule code {code!r} is not PF followed by three digits")
    if severity not in SEVERITIES:
        raise RuleError(f"{code}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    if not (summary and why and fix):
        raise RuleError(f"{code}: a rule says what it means, why it matters and how to fix it")
    return Rule(code, severity, summary, why, fix, group, integrity)


class AllowListData(NamedTuple):
    """One allow-list the policy's model_allowlist adds, frozen (hashable: the allow-list built from it is cached, and
    equal contents compare equal wherever they were read from). The format is modelfiles/allowlist.py's."""

    globals: tuple[tuple[str, tuple[str, ...]], ...]  # (module.name or package.*, its actions), sorted
    extensions: tuple[tuple[int, str], ...] = ()  # (EXT code, module.name), sorted

    def as_data(self) -> dict[str, Any]:
        """The allow-list file format, as parsed YAML (and as the archive records it)."""
        data: dict[str, Any] = {"globals": {key: list(actions) for key, actions in self.globals}}
        if self.extensions:
            data["extensions"] = dict(self.extensions)
        return data


# A model_allowlist item: an allow-list read when the policy was loaded, or the path of a file nobody read (what an
# archive's recorded policy names: shown, never read, never applied).
AllowListItem = Union[AllowListData, str]


class Policy(NamedTuple):
    """What an organisation requires of a release (policy.py reads it from policy.yaml)."""

    strict: bool = False
    severity: Mapping[str, str] = MappingProxyType({})  # rule code -> error | warning | info | off
    required_fields: tuple[str, ...] = ()
    allowed_licenses: tuple[str, ...] = ()
    license_markers: Mapping[str, tuple[str, ...]] = MappingProxyType({})  # SPDX id -> phrases all in LICENSE.txt
    ignore_advisories: tuple[str, ...] = ()  # advisory ids or aliases (CVE, GHSA) the audit reports as ignored
    advisory_database_max_age_days: int = 30  # an offline database older than this is stale (0: never)
    secret_rules: tuple[str, ...] = ()  # a fork's secret-rule files, absolute (only a policy file names them)
    secret_rules_disabled: tuple[str, ...] = ()  # ids of secret rules that do not run
    model_allowlist: tuple[AllowListItem, ...] = ()  # what extends the bundled model-file allow-list

    def as_dict(self) -> dict[str, Any]:
        return {"strict": self.strict, "severity": dict(sorted(self.severity.items())),
                "required_fields": list(self.required_fields), "allowed_licenses": list(self.allowed_licenses),
                "license_markers": {k: list(v) for k, v in sorted(self.license_markers.items())},
                "ignore_advisories": list(self.ignore_advisories),
                "advisory_database_max_age_days": self.advisory_database_max_age_days,
                "secret_rules": [PurePath(path).name for path in self.secret_rules],  # names: the same anywhere
                "secret_rules_disabled": list(self.secret_rules_disabled),
                "model_allowlist": [item if isinstance(item, str) else item.as_data() for item in self.model_allowlist]}


class Report:
    """The findings about one project or archive, at the severities the policy gives, and the verdict."""

    def __init__(self, subject: str, policy: Policy, strict: bool = False):
        self.subject = str(subject)
        self.policy = policy
        self.strict = strict or policy.strict
        self._findings: list[Finding] = []

    def level(self, finding: Finding) -> str:
        """The severity the policy gives a finding (`off`: not reported)."""
        return self.policy.severity.get(finding.code, finding.severity)

    def blocks(self, findings: Iterable[Finding]) -> bool:
        """Whether these findings would block, at the policy's severities (without recording them)."""
        levels = [self.level(item) for item in findings]
        return "error" in levels or (self.strict and "warning" in levels)

    def add(self, findings: Iterable[Finding]) -> None:
        """Record findings at the severity the policy gives their rule; `off` drops them."""
        for item in findings:
            level = self.level(item)
            if level != "off":
                self._findings.append(item if level == item.severity else item._replace(severity=level))

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(self._findings)

    def count(self, severity: str) -> int:
        return sum(1 for item in self._findings if item.severity == severity)

    def has(self, code: str) -> bool:
        return any(item.code == code for item in self._findings)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0 and not (self.strict and self.count("warning"))

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": self.count("error"), "warnings": self.count("warning"),
                "infos": self.count("info"), "strict": self.strict,
                "findings": [item.as_dict() for item in self._findings]}


# Letters whose names start with a vowel sound: "an AWS key", "an SSH key", "an RSA key" (but "a JWT", "a URL").
_VOWEL_SOUND_LETTERS = frozenset("AEFHILMNORSX")
_INITIALISMS_IN_LOWER_CASE = frozenset({"npm"})
_YOU_OR_WON_SOUND = ("uni", "use", "usu", "user", "uti", "eu", "one", "once")  # a vowel letter, a consonant sound
_SILENT_H = ("hour", "honest", "honour", "honor", "heir")


def with_article(phrase: str) -> str:
    """The phrase after "a" or "an", chosen by how its first word sounds: "an AWS access key ID", "a JWT"."""
    word = phrase.split(maxsplit=1)[0].strip("\"'`(") if phrase.strip() else ""
    lower = word.lower()
    if not word:
        sound_is_vowel = False
    elif word[0].isdigit():  # "an 8-bit", "an 11-digit", "an 18000-step"; "a 1Password", "a 110-line"
        digits = word[:len(word) - len(word.lstrip("0123456789"))]
        sound_is_vowel = digits.startswith("8") or (len(digits) % 3 == 2 and digits[:2] in ("11", "18"))
    elif (len(word) > 1 and word[:2].isupper()) or lower in _INITIALISMS_IN_LOWER_CASE:
        sound_is_vowel = word[0].upper() in _VOWEL_SOUND_LETTERS  # read letter by letter
    elif lower.startswith(_SILENT_H):
        sound_is_vowel = True
    else:
        sound_is_vowel = lower[0] in "aeiou" and not lower.startswith(_YOU_OR_WON_SOUND)
    return f"{'an' if sound_is_vowel else 'a'} {phrase}"
