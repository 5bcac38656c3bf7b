"""The finding model shared by check, export and verify: rules, immutable findings, and the report.

Each rule is defined beside the code that raises it (packflow_export/rules/<family>.py) with what it
means, why it matters and how to fix it; defining it registers it here. The report is the one place where
the policy decides a finding's severity (as flake8's DecisionEngine does).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Optional

SEVERITIES = ("error", "warning", "info")
RULES: dict = {}


class Finding(NamedTuple):
    """One thing a rule found, and where. Immutable: the report makes a copy with the policy's severity."""

    code: str
    message: str
    path: Optional[str] = None
    line: Optional[int] = None
    hint: Optional[str] = None
    severity: str = "error"

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "path": self.path, "line": self.line,
                "message": self.message, "hint": self.hint}


class Rule(NamedTuple):
    """A stable code with its default severity; calling it makes a finding (the hint defaults to the fix)."""

    code: str
    severity: str
    summary: str
    why: str
    fix: str
    group: Optional[str] = None  # how several findings of this rule in one file read as one line: "placeholders left"

    def __call__(self, message: str, path: Optional[str] = None, line: Optional[int] = None,
                 hint: Optional[str] = None) -> Finding:
        return Finding(self.code, message, path, line, self.fix if hint is None else hint, self.severity)


def define(code: str, severity: str, summary: str, *, why: str, fix: str, group: Optional[str] = None) -> Rule:
    """Define and register a rule; a code is defined once."""
    assert code not in RULES and severity in SEVERITIES, code
    RULES[code] = rule = Rule(code, severity, summary, why, fix, group)
    return rule


def all_rules() -> dict:
    """Every rule, by code (imports every rule family once)."""
    from . import rules  # noqa: F401 - defining the rules registers them

    return dict(sorted(RULES.items()))


class Report:
    """The findings about one project or archive, at the severities the policy gives, and the verdict."""

    def __init__(self, subject: str, policy, strict: bool = False):
        self.subject = str(subject)
        self.policy = policy
        self.strict = strict or policy.strict
        self._findings: list = []

    def blocks(self, findings: Iterable[Finding]) -> bool:
        """Whether these findings would block, at the policy's severities (without recording them)."""
        levels = [self.policy.severity.get(item.code, item.severity) for item in findings]
        return "error" in levels or (self.strict and "warning" in levels)

    def add(self, findings: Iterable[Finding]) -> None:
        """Record findings at the severity the policy gives their rule; `off` drops them."""
        for item in findings:
            level = self.policy.severity.get(item.code, item.severity)
            if level != "off":
                self._findings.append(item if level == item.severity else item._replace(severity=level))

    @property
    def findings(self) -> tuple:
        return tuple(self._findings)

    def count(self, severity: str) -> int:
        return sum(1 for item in self._findings if item.severity == severity)

    def has(self, code: str) -> bool:
        return any(item.code == code for item in self._findings)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0 and not (self.strict and self.count("warning"))

    def as_dict(self) -> dict:
        return {"ok": self.ok, "errors": self.count("error"), "warnings": self.count("warning"),
                "infos": self.count("info"), "strict": self.strict,
                "findings": [item.as_dict() for item in self._findings]}
