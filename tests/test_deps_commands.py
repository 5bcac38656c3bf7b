"""`lock` and `audit` as a user runs them: the real uv against a local wheelhouse, the real OSV subset (never
copied), a local OSV stand-in, a real SMTP server (aiosmtpd) on 127.0.0.1; and the PF41x / PF42x rules in check.

Expected advisories were computed by hand from the subset's records: requests 2.19.0 lies below PYSEC-2018-28's
fix (2.20.0) and in PYSEC-2023-74's [2.3.0, 2.31.0); pyyaml 5.3 below PYSEC-2020-96's 5.3.1 and PYSEC-2021-142's
5.4; requests 2.32.3 is past every fix."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import jsonschema
import pytest
from aiosmtpd.controller import Controller
from deps_support import build_wheel, osv_subset, subset_records, write_record
from helpers import cli_json, codes, edit, exported_archive, findings_of, run_cli, sarif_schema
from test_deps_api import StandIn
from test_deps_notify import Inbox, free_port

VULNERABLE = "packflow==0.4.1\nrequests==2.19.0\npyyaml==5.3\nnumpy>=1.0\n"
CLEAN = "packflow==0.4.1\nrequests==2.32.3\n"
FRESH = "advisory_database_max_age_days: 0\n"  # the subset is from 2024: not stale for these tests


def with_requirements(project: Path, text: str) -> Path:
    (project / "requirements.txt").write_text(text, encoding="utf-8")
    return project


@pytest.fixture
def fresh_policy(tmp_path) -> Path:
    path = tmp_path / "fresh.yaml"
    path.write_text(FRESH, encoding="utf-8")
    return path


# audit --------------------------------------------------------------------------------------------------------------

def test_audit_reports_each_hit_with_aliases_and_fix_and_exits_1(project, fresh_policy):
    with_requirements(project, VULNERABLE)
    code, report = cli_json("audit", project, "--db", osv_subset(), "--policy", fresh_policy)
    assert code == 1 and report["ok"] is False and report["status"] == "affected"
    (audited,) = report["projects"]
    assert audited["advisories"] == ["PYSEC-2018-28", "PYSEC-2020-96", "PYSEC-2021-142", "PYSEC-2023-74"]
    assert audited["name"] == "my-analytic" and audited["maintainers"] == ["maintainer@example.org"]
    by_code = {}
    for item in audited["findings"]:
        by_code.setdefault(item["code"], []).append(item)
    assert sorted(by_code) == ["PF420", "PF422"]
    first = next(item for item in by_code["PF420"] if "PYSEC-2018-28" in item["message"])
    assert first["path"] == "requirements.txt" and first["line"] == 2 and first["severity"] == "error"
    assert "CVE-2018-18074" in first["message"] and "GHSA-x84v-xcm2-53pg" in first["message"]
    assert "upgrade to >= 2.20.0" in first["message"] and "osv.dev/vulnerability/PYSEC-2018-28" in first["hint"]
    (unpinned,) = by_code["PF422"]
    assert unpinned["line"] == 4 and "numpy>=1.0" in unpinned["message"]
    text = run_cli("audit", project, "--db", osv_subset(), "--policy", fresh_policy)
    assert text.returncode == 1 and text.stdout.count("PF420 error") == 4
    assert text.stdout.splitlines()[-1].endswith(": 1 affected, blocked")


def test_audit_of_many_folders_and_archives_reports_each_and_reads_archives_without_unpacking(project, tmp_path,
                                                                                            fresh_policy):
    clean = with_requirements(project, CLEAN)
    archive = exported_archive(clean, tmp_path / "out")  # no advisory source configured: export audits nothing
    vulnerable = Path(str(project) + "-vulnerable")
    vulnerable.mkdir()
    for item in project.iterdir():
        if item.is_file():
            (vulnerable / item.name).write_bytes(item.read_bytes())
    with_requirements(vulnerable, VULNERABLE)
    before = sorted(path.name for path in archive.parent.iterdir())
    code, report = cli_json("audit", archive, vulnerable, "--db", osv_subset(), "--policy", fresh_policy)
    assert code == 1 and [item["archive"] for item in report["projects"]] == [True, False]
    assert report["projects"][0]["project"] == str(archive) and report["projects"][0]["advisories"] == []
    assert report["projects"][0]["ok"] is True and report["projects"][1]["ok"] is False
    assert sorted(path.name for path in archive.parent.iterdir()) == before  # nothing unpacked beside it
    sarif = run_cli("audit", archive, vulnerable, "--db", osv_subset(), "--policy", fresh_policy, "--format", "sarif")
    log = json.loads(sarif.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    assert len(log["runs"]) == 2 and {result["ruleId"] for result in log["runs"][1]["results"]} == {"PF420", "PF422"}
    assert code == sarif.returncode


def test_audit_online_against_a_local_osv_stand_in_and_an_unreachable_source_is_exit_4(project, fresh_policy):
    with_requirements(project, VULNERABLE)
    server = StandIn(subset_records())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code, report = cli_json("audit", project, "--policy", fresh_policy,
                                env={"PACKFLOW_EXPORT_OSV_URL": server.url})
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1 and report["source"] == server.url
    assert report["projects"][0]["advisories"] == ["PYSEC-2018-28", "PYSEC-2020-96", "PYSEC-2021-142",
                                                   "PYSEC-2023-74"]
    queried = {(q["package"]["name"], q["version"]) for method, _, payload in server.log if method == "POST"
               for q in payload["queries"]}
    assert queried == {("packflow", "0.4.1"), ("requests", "2.19.0"), ("pyyaml", "5.3")}
    unreachable = run_cli("audit", project, "--osv-url", server.url)  # closed now
    assert unreachable.returncode == 4 and "did not answer" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr and "no known" not in unreachable.stdout.lower()
    missing = run_cli("audit", project, "--db", project / "no-such.zip")
    assert missing.returncode == 4 and "no such advisory database" in missing.stderr


def test_audit_policy_ignores_by_alias_and_a_stale_or_damaged_database_is_reported(project, tmp_path):
    with_requirements(project, "packflow==0.4.1\npyyaml==5.3\n")
    policy = tmp_path / "ignore.yaml"
    policy.write_text("ignore_advisories: [CVE-2020-14343, PYSEC-2020-96]\n", encoding="utf-8")
    code, report = cli_json("audit", project, "--db", osv_subset(), "--policy", policy)
    findings = report["projects"][0]["findings"]
    assert code == 0 and sorted(item["code"] for item in findings) == ["PF421", "PF421", "PF423"]
    stale = next(item for item in findings if item["code"] == "PF423")
    assert stale["severity"] == "warning" and "the policy allows 30" in stale["message"]
    folder = tmp_path / "db"
    write_record(folder, subset_records()["PYSEC-2020-96"])
    (folder / "BROKEN-1.json").write_text("{not json", encoding="utf-8")
    code, report = cli_json("audit", project, "--db", folder, "--policy", policy)
    assert "PF424" in {item["code"] for item in report["projects"][0]["findings"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("advisory_database_max_age_days: -1\n", encoding="utf-8")
    refused = run_cli("audit", project, "--db", folder, "--policy", bad)
    assert refused.returncode == 2 and "advisory_database_max_age_days" in refused.stderr


def test_check_audits_only_when_a_source_is_configured(project):
    with_requirements(project, VULNERABLE)
    assert not codes(cli_json("check", project)[1]) & {"PF420", "PF422", "PF423"}  # nothing configured: no audit
    code, report = cli_json("check", project, env={"PACKFLOW_EXPORT_OSV_DB": str(osv_subset())})
    assert code == 1 and {"PF420", "PF422", "PF423"} <= codes(report)
    assert len(findings_of(report, "PF420")) == 4


# --notify -----------------------------------------------------------------------------------------------------------

def test_notify_emails_each_affected_projects_maintainers_once_and_dry_run_sends_nothing(project, fresh_policy):
    clean = Path(str(project) + "-clean")
    clean.mkdir()
    for item in project.iterdir():
        if item.is_file():
            (clean / item.name).write_bytes(item.read_bytes())
    with_requirements(clean, CLEAN)
    with_requirements(project, VULNERABLE)
    edit(project / "packflow.yaml", '  - "maintainer@example.org"', '  - "alice@example.org"\n  - "bob@example.org"')
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        dry = run_cli("audit", project, clean, "--db", osv_subset(), "--policy", fresh_policy, "--notify",
                      f"smtp://127.0.0.1:{port}", "--dry-run")
        assert dry.returncode == 1 and inbox.envelopes == []
        assert "would send to alice@example.org, bob@example.org" in dry.stdout
        sent = run_cli("audit", project, clean, "--db", osv_subset(), "--policy", fresh_policy, "--notify",
                       f"smtp://127.0.0.1:{port}")
    finally:
        controller.stop()
    assert sent.returncode == 1, sent.stderr
    ((recipients, message),) = inbox.messages()
    assert recipients == ["alice@example.org", "bob@example.org"]
    assert message["Subject"] == "[packflow-export] my-analytic 0.1.0: 4 known vulnerabilities in its dependencies"
    body = message.get_content()
    assert "requests==2.19.0 (requirements.txt:2)" in body and "PYSEC-2023-74 (CVE-2023-32681" in body
    assert "fix: upgrade to >= 2.31.0" in body
    assert "emailed alice@example.org, bob@example.org about my-analytic 0.1.0" in sent.stdout
    refused = run_cli("audit", project, "--db", osv_subset(), "--notify", "smtp://user:secret@127.0.0.1:25")
    assert refused.returncode == 2 and "password in the URL is refused" in refused.stderr


# lock and the PF41x rules ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    build_wheel(folder, "pfb-top", "1.0", ("pfb-leaf>=1",))
    build_wheel(folder, "pfb-leaf", "1.5")
    build_wheel(folder, "packflow", "0.4.1")
    return folder


def test_lock_command_writes_a_hashed_lock_that_check_accepts_until_requirements_in_changes(project, wheels):
    (project / "requirements.in").write_text("packflow==0.4.1\npfb-top==1.0\n", encoding="utf-8")
    assert "PF411" in codes(cli_json("check", project)[1])  # requirements.txt is not its lock yet
    code, locked = cli_json("lock", project, "--offline", "--find-links", wheels)
    assert code == 0 and locked["pins"] == 3 and locked["python_version"] == "3.11.7"
    text = (project / "requirements.txt").read_text(encoding="utf-8")
    assert "#    python -m packflow_export lock" in text and "pfb-leaf==1.5 --hash=sha256:" in text
    report = cli_json("check", project)[1]
    assert not codes(report) & {"PF410", "PF411", "PF412", "PF413", "PF414"}
    with open(project / "requirements.in", "a", encoding="utf-8") as stream:
        stream.write("pfb-leaf==1.5\n")  # a new direct requirement: the lock no longer says what was asked
    code, report = cli_json("check", project)
    assert code == 1 and findings_of(report, "PF410")[0]["message"].startswith("requirements.txt is out of date")
    (project / "requirements.in").unlink()
    missing = run_cli("lock", project, "--offline", "--find-links", wheels)
    assert missing.returncode == 2 and "requirements.in: no such file" in missing.stderr


def test_hash_rules_on_hand_written_requirements(project):
    (project / "requirements.in").unlink()  # requirements.txt written by hand, as before requirements.in
    assert findings_of(cli_json("check", project)[1], "PF412")  # pins without hashes: a warning
    strict = project / "hashes.yaml"
    strict.write_text("severity: {PF412: error}\n", encoding="utf-8")
    assert cli_json("check", project, "--policy", strict)[0] == 1  # the policy can require them
    with_requirements(project, "packflow==0.4.1 --hash=sha256:" + "a" * 64 + "\nrequests==2.32.3\nnumpy>=1\n")
    report = cli_json("check", project)[1]
    assert findings_of(report, "PF413")[0]["line"] == 2 and "PF412" not in codes(report)
    assert findings_of(report, "PF414")[0]["message"].startswith("numpy>=1 is not pinned with ==")
