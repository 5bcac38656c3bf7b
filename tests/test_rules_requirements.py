"""rules/requirements.py (PF4xx): parseable, portable, pinned, packflow declared and in the tested range."""

from __future__ import annotations

import pytest

from helpers import codes, findings_of, inspect
from hostile import BRANCH_REFERENCE, LOCAL_FORMS

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
    (project / "requirements.in").unlink()  # a hand-written requirements.txt, not a lock of it (PF411)
    (project / "requirements.txt").write_text(
        "# pinned\n--index-url https://pypi.org/simple\npackflow==0.4.1  # the SDK\n"
        "numpy==1.26.4 ; python_version < '3.12'\nnumpy==2.1.0 ; python_version >= '3.12'\n"
        "scikit-learn==1.5.2 \\\n    ; python_version >= '3.8'\nhelper @ https://example.org/helper-1.0.tar.gz\n-r more.txt\n")
    (project / "more.txt").write_text("requests==2.32.3\n")
    assert not {c for c in codes(inspect(project)) if c.startswith("PF4") and c != "PF412"}


def test_one_hash_puts_the_whole_file_in_hash_checking_mode(project):
    """pip refuses every unhashed requirement once one line has --hash: PF413, naming what has none."""
    (project / "requirements.txt").write_text("packflow==0.4.1\nscikit-learn==1.5.2 \\\n    --hash=sha256:abc\n")
    (finding,) = findings_of(inspect(project), "PF413")
    assert finding["severity"] == "error" and finding["path"] == "requirements.txt"


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


@pytest.mark.parametrize("form", sorted(LOCAL_FORMS))
def test_every_way_to_install_from_the_local_machine_is_an_error(project, form):
    """Issue 15 item 7: local indexes (`--index-url file://`, `=file://`, `-i /abs/path`) and local URLs
    (`git+file://`, `FILE://` in capitals, `file://`) are PF405 errors on the line that says so."""
    places = {"index": "/srv/simple", "wheel": "/srv/evilpkg-1.0-py3-none-any.whl", "repo": "/srv/repo"}
    text = LOCAL_FORMS[form].format(**places)
    (project / "requirements.txt").write_text("packflow==0.4.1\n" + text)
    report = inspect(project)
    (local,) = findings_of(report, "PF405")
    assert not report.ok and local["severity"] == "error" and local["line"] == 2, local


def test_a_vcs_branch_or_tag_is_not_a_pin_and_a_full_commit_is(project):
    """Issue 15 item 7: `git+https://…@main` (and a tag) is PF404; a full commit hash is pinned."""
    (project / "requirements.txt").write_text("packflow==0.4.1\n" + BRANCH_REFERENCE +
                                              "other @ git+https://example.org/other.git@v1.2.0\n")
    unpinned = findings_of(inspect(project), "PF404")
    assert [f["line"] for f in unpinned] == [2, 3] and "branch or a tag" in unpinned[0]["message"]
    commit = "0123456789abcdef0123456789abcdef01234567"
    (project / "requirements.txt").write_text(f"packflow==0.4.1\nmylib @ git+https://example.org/mylib.git@{commit}\n")
    assert not findings_of(inspect(project), "PF404")


def test_hashes_are_read_and_say_the_proof_requires_them(tmp_path):
    from packflow_export.model.requirements import read_requirements
    from packflow_export.model.views import DirectoryView

    (tmp_path / "requirements.txt").write_text("packflow==0.4.1 \\\n    --hash=sha256:aa --hash sha256:bb\nnumpy==2.1.0\n")
    requirements = read_requirements(DirectoryView(tmp_path))
    assert requirements.hashed and [item.hashes for item in requirements.items] == [("sha256:aa", "sha256:bb"), ()]
    assert requirements.items[0].pinned and requirements.items[0].version == "0.4.1"
