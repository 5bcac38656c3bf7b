"""The readiness rules, one module per family, and the one list of families.

Each family module defines its rules (`define(code, severity, summary, why=..., fix=...)`) beside the code that
raises them, and declares them and its checks at its end: `RULES = (...)` and `CHECKS = (Check(...), ...)`, each
check with every rule it can raise and what it needs. The registry is built from FAMILIES below, explicitly (no
rule registers itself by being imported); runner.py decides which checks run for check, export and verify.

Families and their codes: files PF1xx, config PF2xx, documents PF3xx, requirements PF40x, locks PF41x,
advisories PF42x, backend PF5xx, git PF6xx, tests PF701-PF703, the commit hook PF704-PF709, contents PF8xx (model
files PF82x), archive PF9xx (verify) and load PF95x (verify --load).
"""

from __future__ import annotations

from functools import lru_cache
from types import ModuleType
from typing import Iterable, Mapping, NamedTuple

from ..findings import Rule, RuleError
from ..model.context import Subject
from . import advisories, archive, backend, commit, config, contents, documents, files, git, load, locks
from . import modelfiles, requirements, tests
from .check import Check

# The order in which the checks run (within a stage) and their findings are listed.
FAMILIES: tuple[ModuleType, ...] = (config, files, requirements, documents, backend, git, contents, commit, tests,
                                    archive, modelfiles, load, locks, advisories)


class Registry(NamedTuple):
    """Every rule by code (sorted) and every check in family order."""

    rules: Mapping[str, Rule]
    checks: tuple[Check, ...]

    @classmethod
    def build(cls, families: Iterable[ModuleType]) -> Registry:
        """The registry of these families; RuleError when a code is defined twice or a check raises an unknown rule."""
        rules: dict[str, Rule] = {}
        checks: list[Check] = []
        for family in families:
            for rule in family.RULES:
                if rule.code in rules:
                    raise RuleError(f"{rule.code} is defined twice (the second time in {family.__name__})")
                rules[rule.code] = rule
            checks.extend(family.CHECKS)
        for check in checks:
            unknown = [rule.code for rule in check.raises if rules.get(rule.code) != rule]
            if unknown:
                raise RuleError(f"check {check.name!r} raises rules no family lists: {', '.join(unknown)}")
            if not check.subjects:
                raise RuleError(f"check {check.name!r} needs both a folder and an archive: it could never run")
        return cls(dict(sorted(rules.items())), tuple(checks))

    def codes_on(self, subject: Subject) -> frozenset[str]:
        """The codes the checks that run on this subject can raise."""
        return frozenset(rule.code for check in self.checks if subject in check.subjects for rule in check.raises)

    def codes_only_on(self, subject: Subject) -> frozenset[str]:
        """The codes only checks of this subject raise (an archive's: what verify adds to what check found)."""
        others = frozenset().union(*(self.codes_on(other) for other in Subject if other is not subject))
        return self.codes_on(subject) - others


@lru_cache(maxsize=None)
def registry() -> Registry:
    """The registry of the bundled families, built once."""
    return Registry.build(FAMILIES)
