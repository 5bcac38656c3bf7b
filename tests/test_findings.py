"""findings.py: one immutable finding, rules documented beside their code, the policy applied in one place."""

from __future__ import annotations


import pytest

from helpers import REPO, run_cli

from packflow_export.findings import Finding, Report
from packflow_export.rules import registry
from packflow_export.policy import Policy

RULES = registry().rules


def test_a_finding_cannot_be_changed():
    finding = RULES["PF301"]("placeholder left", "MODEL_CARD.md", 3)
    with pytest.raises(AttributeError):
        finding.severity = "error"
    assert finding == Finding("PF301", "placeholder left", "MODEL_CARD.md", 3, RULES["PF301"].fix, "warning")


def test_the_report_applies_the_policy_once():
    policy = Policy(severity={"PF301": "error", "PF504": "off"})
    report = Report("p", policy)
    report.add([RULES["PF301"]("a", "x"), RULES["PF504"]("b", "y"), RULES["PF205"]("c", "z")])
    assert [(f.code, f.severity) for f in report.findings] == [("PF301", "error"), ("PF205", "warning")]
    assert not report.ok and report.count("error") == 1


def test_strict_makes_warnings_block():
    report = Report("p", Policy(), strict=True)
    report.add([RULES["PF205"]("c", "z")])
    assert not report.ok


def test_every_rule_says_what_why_and_fix():
    for code, rule in RULES.items():
        assert code == rule.code and len(code) == 5 and code.startswith("PF")
        assert rule.summary and rule.why and rule.fix, code
        assert rule.severity in ("error", "warning", "info")


def test_readme_documents_every_rule():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for code, rule in RULES.items():
        assert f"| {code} | {rule.severity} | {rule.summary} | {rule.fix} |" in readme, code


def test_rules_command_lists_and_explains():
    listed = run_cli("rules")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == len(RULES)
    explained = run_cli("rules", "pf218")
    assert explained.returncode == 0 and "Why:" in explained.stdout and RULES["PF218"].fix in explained.stdout
    unknown = run_cli("rules", "PF000")
    assert unknown.returncode == 2 and "no rule" in unknown.stderr
