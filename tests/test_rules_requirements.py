"""rules/requirements.py (PF4xx): parseable, portable, pinned, packflow declared and in the tested range."""

from __future__ import annotations

import pytest

from helpers import codes, findings_of, inspect

REQUIREMENT_CASES = [
    ("numpy>=1.26", "PF404", 2),
    ("numpy", "PF404", 2),
    ("numpy==1.26.*", "PF404", 2),
    ("numpy==1.26.4\nnumpy==1.26.4", "PF406", 3),
    ("this is not a requirement!", "PF401", 2),
    ("--weird-option", "PF401", 2),
    ("-e .", "PF405", 2),
    ("./libs/helper", "PF405", 2),
    ("../wheels/helper-1.0-py3-none-any.whl", "PF405", 2),
    ("helper @ file:///opt/helper", "PF405", 2),
    ("-r missing.txt", "PF407", 2),
    ("-r ../outside.txt", "PF407", 2),
    ("-f ./wheels", "PF405", 2),
    ("--index-url http://pypi.internal/simple", "PF408", 2),
    ("--trusted-host pypi.internal", "PF408", 2),
    ("--extra-index-url https://pypi.internal/simple", "PF408", 2),
]


@pytest.mark.parametrize("extra, code, line", REQUIREMENT_CASES)
def test_requirement_rule_fires(project, extra, code, line):
    (project / "requirements.txt").write_text(f"packflow==0.4.1\n{extra}\n")
    (project.parent / "outside.txt").write_text("numpy==1.26.4\n")
    assert any(f["line"] == line and f["path"] == "requirements.txt" for f in findings_of(inspect(project), code))


def test_good_requirements_pass(project):
    (project / "requirements.txt").write_text(
        "# pinned\n--index-url https://pypi.org/simple\npackflow==0.4.1  # the SDK\n"
        "numpy==1.26.4 ; python_version < '3.12'\nnumpy==2.1.0 ; python_version >= '3.12'\n"
        "scikit-learn==1.5.2 \\\n    --hash=sha256:abc\nhelper @ https://example.org/helper-1.0.tar.gz\n-r more.txt\n")
    (project / "more.txt").write_text("requests==2.32.3\n")
    assert not {c for c in codes(inspect(project)) if c.startswith("PF4")}


def test_packflow_missing_unpinned_and_untested(project):
    (project / "requirements.txt").write_text("numpy==1.26.4\n")
    report = inspect(project)
    assert not report.ok and "PF402" in codes(report)
    (project / "requirements.txt").write_text("packflow>=0.4\n")
    assert findings_of(inspect(project), "PF403")[0]["line"] == 1
    (project / "requirements.txt").write_text("packflow==0.3.0\n")
    (untested,) = findings_of(inspect(project), "PF409")
    assert untested["severity"] == "warning" and "outside the Packflow versions" in untested["message"]


def test_weak_sources_are_errors_when_the_policy_says_so(project, tmp_path):
    from packflow_export.policy import load_policy

    (project / "requirements.txt").write_text("--extra-index-url https://pypi.internal/simple\npackflow==0.4.1\n")
    assert inspect(project).ok
    policy = tmp_path / "policy.yaml"
    policy.write_text("severity: {PF408: error}\n")
    report = inspect(project, load_policy(policy))
    (weak,) = findings_of(report, "PF408")
    assert not report.ok and weak["severity"] == "error" and "replace an internal one" in weak["message"]


def test_included_requirements_are_followed(project):
    (project / "requirements.txt").write_text("-r base.txt\n")
    (project / "base.txt").write_text("packflow==0.4.1\nnumpy\n")
    report = inspect(project)
    assert "PF402" not in codes(report) and findings_of(report, "PF404")[0]["path"] == "base.txt"
