"""policy.py: the organisation's policy as data; every mistake in it is exit 2 with the file and the key."""

from __future__ import annotations

import pytest

from helpers import FORK_SECRET_RULES, codes, edit, findings_of, inspect, run_cli

from packflow_export.errors import UsageError
from packflow_export.policy import load_policy


def write_policy(tmp_path, text):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_policy_strict_and_severity(project, tmp_path):
    assert not inspect(project, load_policy(write_policy(tmp_path, "strict: true\n"))).ok
    report = inspect(project, load_policy(write_policy(tmp_path, "severity: {PF301: error, PF504: 'off'}\n")))
    assert not report.ok and codes(report, "error") == {"PF301"} and "PF504" not in codes(report)


def test_policy_required_fields(project, tmp_path):
    policy = load_policy(write_policy(tmp_path, "required_fields: [classification, description]\n"))
    report = inspect(project, policy)
    assert not report.ok and "'classification'" in findings_of(report, "PF214")[0]["message"]
    assert len(findings_of(report, "PF214")) == 1
    edit(project / "packflow.yaml", "extra:\n", "extra:\n  classification: internal\n")
    assert inspect(project, policy).ok


def test_policy_allowed_licenses(project, tmp_path):
    declared = next(line.split('"')[1] for line in (project / "packflow.yaml").read_text().splitlines()
                    if line.startswith("  license: "))  # the template's default
    other = "MIT" if declared == "Apache-2.0" else "Apache-2.0"
    report = inspect(project, load_policy(write_policy(tmp_path, f"allowed_licenses: [{other}]\n")))
    assert not report.ok and f"'{declared}' is not allowed" in findings_of(report, "PF215")[0]["message"]
    assert inspect(project, load_policy(write_policy(tmp_path, f"allowed_licenses: [{declared}]\n"))).ok


@pytest.mark.parametrize("text, words", [
    ("stritc: true\n", "unknown key(s) stritc"),
    ("strict: maybe\n", "strict: must be true or false"),
    ("severity: {PF999: error}\n", "unknown rule code 'PF999'"),
    ("severity: {PF301: fatal}\n", "must be one of error, warning, info, off"),
    ("required_fields: classification\n", "required_fields: must be a list"),
    ("license_markers: {MIT: []}\n", "license_markers: must map SPDX ids to lists of phrases"),
    ("- a\n- b\n", "must be a mapping"),
    ("strict: [\n", "not valid YAML"),
])
def test_bad_policy_is_a_usage_error_naming_the_file(tmp_path, text, words):
    path = write_policy(tmp_path, text)
    with pytest.raises(UsageError) as raised:
        load_policy(path)
    assert words in str(raised.value) and str(path) in str(raised.value)


def test_bad_policy_is_exit_2_from_every_command(project, tmp_path):
    path = write_policy(tmp_path, "stritc: true\n")
    for command in ("check", "export"):
        result = run_cli(command, project, "--policy", path)
        assert result.returncode == 2 and "stritc" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("check", project, "--policy", tmp_path / "none.yaml")
    assert result.returncode == 2 and "none.yaml" in result.stderr


def test_bundled_policy_is_valid_and_a_default_bake_meets_it(project):
    """Whatever a fork's policy requires (required_fields, allowed_licenses), its template bakes a project with it;
    tests/test_template.py checks that the policy's license_markers cover the template's license choices."""
    assert codes(inspect(project, load_policy()), "error") == set()


def test_a_fork_policy_adds_and_disables_secret_rules_for_check_export_and_the_hook(project, tmp_path):
    """secret_rules (files beside the policy) and secret_rules_disabled reach every scan, through the CLI."""
    rules_folder = tmp_path / "org"
    rules_folder.mkdir()
    (rules_folder / "acme-rules.yaml").write_text(FORK_SECRET_RULES)
    policy = write_policy(rules_folder, "secret_rules: [acme-rules.yaml]\n")
    (project / "deploy.cfg").write_text("deploy with acmedk_q8w7e6r5t4y3u2i1o9p8a7s6 today\n")
    assert run_cli("check", project).returncode == 0  # the bundled rules do not know ACME's keys
    for command in ("check", "export"):
        result = run_cli(command, project, "--policy", policy, "-o" if command == "export" else "-q",
                         *([tmp_path / "out"] if command == "export" else []), cwd=tmp_path)
        assert result.returncode == 1 and "deploy.cfg" in result.stdout and "ACME deploy key" in result.stdout
    hook = run_cli("hook", "--policy", policy, project / "deploy.cfg", cwd=project)
    assert hook.returncode == 1 and "ACME deploy key" in hook.stdout
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.zip"))
    (project / "deploy.cfg").write_text("deploy with ghp_k3J9x2LmQ8vR4tY7wB1nC5zD6fH0gA2sE9uI today\n")
    assert run_cli("check", project).returncode == 1
    off = write_policy(rules_folder, "secret_rules_disabled: [github-token]\n")
    assert run_cli("check", project, "--policy", off).returncode == 0


@pytest.mark.parametrize("text, words", [
    ("secret_rules: [missing.yaml]\n", "missing.yaml: cannot be read"),
    ("secret_rules_disabled: [github-tokn]\n", "'github-tokn' cannot be disabled"),
    ("secret_rules: [bad.yaml]\n", "rule acme-deploy-key: its example is not found"),
])
def test_bad_secret_rules_are_refused_when_the_policy_is_read(project, tmp_path, text, words):
    (tmp_path / "bad.yaml").write_text(FORK_SECRET_RULES.replace("acmedk_q8w7", "nothing_q8w7"))  # its example misses
    result = run_cli("check", project, "--policy", write_policy(tmp_path, text))
    assert result.returncode == 2 and words in result.stderr and "secret_rules" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_recorded_policy_never_reads_secret_rule_files_on_the_verifier(tmp_path):
    """An archive's comment names files on the author's machine: verify keeps their names, never opens them."""
    from packflow_export.policy import policy_from_data

    (tmp_path / "evil.yaml").write_text("not: [a rules file\n")
    recorded = policy_from_data({"secret_rules": [str(tmp_path / "evil.yaml")]}, "the recorded policy")
    assert recorded.secret_rules == ()
