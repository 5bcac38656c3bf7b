"""OSV matching on the real PyPA advisories (osv-pypi-subset.zip), on hand-made records for what the real data
does not hold, and against a reference evaluation of generated ranges (hypothesis).

Every expected id below was read off the JSON by hand: for each advisory of the package, its ECOSYSTEM
intervals [introduced, fixed) (or [introduced, last_affected]) and its versions list, against the pin.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from deps_support import (ecosystem, osv_subset, record, reference_affected_ids, reference_in_range,
                          reference_index, subset_records, write_record)
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from packflow_export.deps.audit import audit_projects, audit_requirements
from packflow_export.deps.database import open_database
from packflow_export.deps.osv import affected_fix, compile_affected
from packflow_export.deps.records import AdvisorySourceError, ProjectInput, RequirementRecord
from packflow_export.deps.reqfile import parse_requirement_line


@pytest.fixture(scope="session")
def database():
    return open_database(osv_subset())


@pytest.fixture(scope="session")
def records():
    return subset_records()


def ids(database, name, version):
    return {match.advisory.id for match in database.matches(name, version)}


def fixes(database, name, version):
    return {match.advisory.id: match.fixed for match in database.matches(name, version)}


def test_the_subset_is_read_whole(database):
    # 398 records; PYSEC-2022-43059 (aiohttp) is withdrawn, so 397 count; 27 packages have advisories.
    assert database.record_count == 397
    assert database.package_count == 27
    assert database.problems == ()


# --- the vulnerable pins the issue names -------------------------------------------------------------------

def test_pyyaml_5_3(database):
    # pyyaml: PYSEC-2018-49 [0, 5.1) no; PYSEC-2020-176 [5.1, 5.2b1) no (5.3 >= 5.2b1);
    # PYSEC-2020-96 [5.1, 5.3.1) yes; PYSEC-2021-142 [0, 5.4) yes.
    assert fixes(database, "pyyaml", "5.3") == {"PYSEC-2020-96": "5.3.1", "PYSEC-2021-142": "5.4"}


def test_jinja2_2_10(database):
    # jinja2: PYSEC-2014-8 [0, 2.7.2), PYSEC-2014-82 [0, 2.7.3), PYSEC-2019-220 [0, 2.8.1) no;
    # PYSEC-2019-217 [0, 2.10.1) and PYSEC-2021-66 [0, 2.11.3) yes.
    assert fixes(database, "jinja2", "2.10") == {"PYSEC-2019-217": "2.10.1", "PYSEC-2021-66": "2.11.3"}


def test_pillow_8_0_0(database):
    # pillow: every advisory is one [introduced, fixed) interval; 8.0.0 lies in those fixed at 8.1.0 or later
    # (and introduced at 0, or PYSEC-2021-71's 4.3.0); PYSEC-2022-42980 [9.2.0, 9.3.0) starts after it.
    expected = {"PYSEC-2021-137", "PYSEC-2021-138", "PYSEC-2021-139", "PYSEC-2021-92", "PYSEC-2021-93",
                "PYSEC-2021-94",  # fixed 8.2.0
                "PYSEC-2021-317",  # 8.3.2
                "PYSEC-2021-331",  # 8.3.0
                *(f"PYSEC-2021-{n}" for n in range(35, 43)),  # 8.1.1
                "PYSEC-2021-69", "PYSEC-2021-70", "PYSEC-2021-71",  # 8.1.0
                "PYSEC-2022-8", "PYSEC-2022-9", "PYSEC-2022-10",  # 9.0.0
                "PYSEC-2022-168",  # 9.0.1
                "PYSEC-2022-42979",  # 9.2.0
                "PYSEC-2023-175", "PYSEC-2023-227"}  # 10.0.1, 10.0.0
    assert ids(database, "pillow", "8.0.0") == expected
    assert len(expected) == 26


def test_requests_2_19_0(database):
    # requests: PYSEC-2014-13/14 [0, 2.3.0) no; PYSEC-2015-17 [2.1.0, 2.6.0) no;
    # PYSEC-2018-28 [0, 2.20.0) yes; PYSEC-2023-74 [2.3.0, 2.31.0) yes.
    assert fixes(database, "requests", "2.19.0") == {"PYSEC-2018-28": "2.20.0", "PYSEC-2023-74": "2.31.0"}


def test_urllib3_1_24_1(database):
    # urllib3: PYSEC-2017-98 [1.17, 1.18.1), PYSEC-2018-32 [0, 1.23), PYSEC-2020-149 [1.25.2, 1.25.8) and
    # PYSEC-2021-59 [1.26.0, 1.26.4) no; the seven below contain 1.24.1 (PYSEC-2023-192/212 in their second
    # interval, [0, 1.26.17) and [0, 1.26.18)).
    assert fixes(database, "urllib3", "1.24.1") == {
        "PYSEC-2019-132": "1.24.3", "PYSEC-2019-133": "1.24.2", "PYSEC-2020-148": "1.25.9",
        "PYSEC-2021-108": "1.26.5", "PYSEC-2023-192": "1.26.17", "PYSEC-2023-207": "1.24.2",
        "PYSEC-2023-212": "1.26.18"}


def test_tensorflow_2_4_0(database, records):
    # Dozens: 198 of tensorflow's 242 advisories. Spot checks by hand: PYSEC-2021-149 is [2.3.0, 2.3.3) and
    # [2.4.0, 2.4.2): 2.4.0 is exactly at its second introduced; PYSEC-2021-389 is [0, 2.4.4), ...: fix 2.4.4;
    # PYSEC-2020-135 is [2.3.0, 2.3.1) and [2.2.0, 2.2.1) (intervals out of order): 2.4.0 is in neither.
    found = fixes(database, "tensorflow", "2.4.0")
    assert found["PYSEC-2021-149"] == "2.4.2"
    assert found["PYSEC-2021-389"] == "2.4.4"
    assert "PYSEC-2020-135" not in found
    assert set(found) == reference_affected_ids(records, "tensorflow", "2.4.0")
    assert len(found) == 198


def test_mlflow_2_0_0(database):
    # mlflow: ten advisories, all [0, fixed); only PYSEC-2022-28 (fixed 1.23.1) ends before 2.0.0.
    assert fixes(database, "mlflow", "2.0.0") == {
        "PYSEC-2023-70": "2.0.1", "PYSEC-2023-29": "2.2.1", "PYSEC-2023-28": "2.2.2", "PYSEC-2023-68": "2.3.1",
        "PYSEC-2023-69": "2.3.1", "PYSEC-2023-260": "2.9.1", "PYSEC-2023-252": "2.9.2",
        "PYSEC-2023-253": "2.9.2", "PYSEC-2024-51": "2.10.1"}


def test_torch_1_13_0(database):
    # torch: PYSEC-2022-43015 [0, 1.13.1).
    assert fixes(database, "torch", "1.13.0") == {"PYSEC-2022-43015": "1.13.1"}


# --- the edges of the semantics, on real records ------------------------------------------------------------

def test_exactly_at_fixed_is_not_affected(database):
    # pyyaml 5.4 is PYSEC-2021-142's fixed; 5.3.1 is PYSEC-2020-96's fixed (PYSEC-2021-142 still holds it).
    assert ids(database, "pyyaml", "5.4") == set()
    assert fixes(database, "pyyaml", "5.3.1") == {"PYSEC-2021-142": "5.4"}
    # torch 1.13.1 is the one advisory's fixed.
    assert ids(database, "torch", "1.13.1") == set()


def test_exactly_at_introduced_is_affected(database):
    # pyyaml 5.1 is where PYSEC-2020-176 and PYSEC-2020-96 start, and PYSEC-2018-49 [0, 5.1) ends.
    assert fixes(database, "pyyaml", "5.1") == {"PYSEC-2020-176": "5.2b1", "PYSEC-2020-96": "5.3.1",
                                                "PYSEC-2021-142": "5.4"}
    # requests 2.3.0: PYSEC-2023-74 starts there; PYSEC-2014-13/14 end there; PYSEC-2015-17 [2.1.0, 2.6.0).
    assert ids(database, "requests", "2.3.0") == {"PYSEC-2015-17", "PYSEC-2018-28", "PYSEC-2023-74"}


def test_pre_releases_order_as_pep_440_says(database):
    # 5.4b1 < 5.4: inside PYSEC-2021-142 [0, 5.4), past PYSEC-2020-96's 5.3.1.
    assert fixes(database, "pyyaml", "5.4b1") == {"PYSEC-2021-142": "5.4"}
    # 5.2b1 is PYSEC-2020-176's fixed (a pre-release fix): not affected by it, still by the other two.
    assert ids(database, "pyyaml", "5.2b1") == {"PYSEC-2020-96", "PYSEC-2021-142"}
    # tensorflow 2.7.0rc1 lies in the [2.7.0rc0, 2.7.0) interval of PYSEC-2021-389 (and 31 siblings);
    # 2.7.0 itself is their fixed.
    assert fixes(database, "tensorflow", "2.7.0rc1")["PYSEC-2021-389"] == "2.7.0"
    assert "PYSEC-2021-389" not in ids(database, "tensorflow", "2.7.0")
    # 2.3.0rc0 is exactly PYSEC-2020-114's second introduced ([2.3.0rc0, 2.3.1)); 2.2.1 ends its first.
    assert fixes(database, "tensorflow", "2.3.0rc0")["PYSEC-2020-114"] == "2.3.1"


def test_intervals_out_of_order(database):
    # urllib3 PYSEC-2023-192 lists [2.0.0, 2.0.6) before [0, 1.26.17); walked in file order, 2.0.3 would be
    # switched off by fixed 1.26.17. Sorted, it is in the first interval.
    assert fixes(database, "urllib3", "2.0.3") == {"PYSEC-2023-192": "2.0.6", "PYSEC-2023-212": "2.0.7"}
    # 1.26.17 is between the intervals of PYSEC-2023-192 (not affected) and inside PYSEC-2023-212's.
    assert fixes(database, "urllib3", "1.26.17") == {"PYSEC-2023-212": "1.26.18"}


def test_last_affected(database):
    # py PYSEC-2022-42969 is [0, last_affected 1.11.0]: 1.11.0 itself is affected, nothing is fixed;
    # PYSEC-2020-92 [0, 1.10.0) ends below it.
    assert fixes(database, "py", "1.11.0") == {"PYSEC-2022-42969": None}
    assert fixes(database, "py", "1.9.0") == {"PYSEC-2020-92": "1.10.0", "PYSEC-2022-42969": None}
    assert ids(database, "py", "1.11.1") == set()


def test_withdrawn_is_ignored(database):
    # PYSEC-2022-43059 (aiohttp, [0, no fix), withdrawn 2023-11-08) would hit every aiohttp.
    assert "PYSEC-2022-43059" not in database.advisory_ids("aiohttp")
    assert ids(database, "aiohttp", "3.10.0") == set()  # past every other aiohttp fix (the highest is 3.9.2)
    assert "PYSEC-2022-43059" not in ids(database, "aiohttp", "3.8.1")


def test_git_ranges_are_ignored(database):
    # Every GIT range in the subset is {introduced: "0", fixed: <commit>}; read as versions, the commit is not
    # PEP 440 and only "introduced 0" would remain: every version affected. mlflow 2.10.1 is past all ten
    # ECOSYSTEM fixes, so it must be clean; same for numpy 2.0.0 (highest numpy fix 1.22.0).
    assert ids(database, "mlflow", "2.10.1") == set()
    assert ids(database, "numpy", "2.0.0") == set()


def test_version_strings_that_are_not_pep_440(database):
    # nltk's versions lists hold "2.0.1rc2-git", joblib's "0.3.2d": loading skipped nothing and crashed not.
    # A `===` pin to such a string matches by its text (all four nltk advisories list it; joblib's one does).
    assert ids(database, "nltk", "2.0.1rc2-git") == {"PYSEC-2019-106", "PYSEC-2021-356", "PYSEC-2021-859",
                                                     "PYSEC-2022-5"}
    assert ids(database, "joblib", "0.3.2d") == {"PYSEC-2022-288"}
    assert ids(database, "joblib", "0.3.2z") == set()


def test_names_are_pep_503_normalised(database):
    # PyYAML, pyyaml and PyYaml are one project; the fix advice does not depend on the spelling.
    for spelling in ("PyYAML", "pyyaml", "PyYaml", "pyYAML"):
        assert ids(database, spelling, "5.3") == {"PYSEC-2020-96", "PYSEC-2021-142"}
    assert ids(database, "Scikit_Learn", "0.23.0") == ids(database, "scikit-learn", "0.23.0") != set()


# --- requirement records: extras, markers, pins -------------------------------------------------------------

def requirements(*lines: str) -> list[RequirementRecord]:
    return [parse_requirement_line(line, "requirements.txt", number) for number, line in enumerate(lines, 1)]


def test_audit_of_requirement_records(database):
    audit = audit_requirements(requirements(
        "PyYAML==5.3",
        "requests[socks,security]==2.19.0",  # extras: same package, same version
        "jinja2>=2.10",  # not pinned
        "torch @ https://download.pytorch.org/whl/torch-1.13.0.whl",  # a URL
        "numpy==2.0.0",  # clean
    ), database, "3.11")
    assert [(hit.requirement.name, hit.advisory.id, hit.fixed) for hit in audit.hits] == [
        ("PyYAML", "PYSEC-2020-96", "5.3.1"), ("PyYAML", "PYSEC-2021-142", "5.4"),
        ("requests", "PYSEC-2018-28", "2.20.0"), ("requests", "PYSEC-2023-74", "2.31.0")]
    assert audit.hits[2].requirement.extras == ("security", "socks")
    assert audit.hits[2].fix == "upgrade to >= 2.20.0"
    assert audit.hits[2].requirement.where == "requirements.txt:2"
    assert [(item.requirement.name, "not pinned" in item.reason or "URL" in item.reason)
            for item in audit.not_auditable] == [("jinja2", True), ("torch", True)]
    assert audit.not_installed == ()


def test_advisory_details_reach_the_hit(database):
    hit = audit_requirements(requirements("requests==2.19.0"), database, "3.11").hits[0]
    assert hit.advisory.id == "PYSEC-2018-28"
    assert set(hit.advisory.aliases) == {"CVE-2018-18074", "GHSA-x84v-xcm2-53pg"}
    # No summary in the PYSEC record: the first line of the details stands in.
    assert hit.advisory.summary.startswith("The Requests package before 2.20.0 for Python sends an HTTP")
    assert hit.advisory.url == "https://osv.dev/vulnerability/PYSEC-2018-28"
    # aiohttp PYSEC-2023-120 has a summary and details starting with "### Impact".
    aiohttp = audit_requirements(requirements("aiohttp==3.8.1"), database, "3.11").hits[0]
    assert aiohttp.advisory.summary == ("aiohttp.web.Application vulnerable to HTTP request smuggling via llhttp "
                                        "HTTP request parser")
    # PYSEC-2023-192 carries a CVSS v3 vector.
    urllib3 = {hit.advisory.id: hit for hit in audit_requirements(requirements("urllib3==1.24.1"), database).hits}
    assert urllib3["PYSEC-2023-192"].advisory.severity[0].type == "CVSS_V3"
    assert urllib3["PYSEC-2023-192"].advisory.severity[0].score.startswith("CVSS:3.1/")


def test_markers_are_evaluated_for_the_projects_python(database):
    lines = ('pyyaml==5.3; python_version < "3.8"',  # not installed on 3.11
             'jinja2==2.10; sys_platform == "win32"',  # installed on Windows: audited
             'torch==1.13.0; platform_machine == "riscv64"',  # no targeted platform
             'pillow==8.0.0; extra == "images"',  # pip evaluates a requirements file with no extra
             'requests==2.19.0; python_full_version >= "3.11.4"')  # some 3.11 patch releases
    on_311 = audit_requirements(requirements(*lines), database, "3.11")
    assert {hit.requirement.name for hit in on_311.hits} == {"jinja2", "requests"}
    assert [item.requirement.name for item in on_311.not_installed] == ["pyyaml", "torch", "pillow"]
    assert "false for Python 3.11 on every platform" in on_311.not_installed[0].reason
    on_37 = audit_requirements(requirements(*lines), database, "3.7")
    assert {hit.requirement.name for hit in on_37.hits} == {"pyyaml", "jinja2"}
    exact = audit_requirements(requirements(*lines), database, "3.11.2")
    assert {hit.requirement.name for hit in exact.hits} == {"jinja2"}
    # Without a python_version every CPython 3.8-3.14 is a target: python_version < "3.8" is false on all.
    unknown = audit_requirements(requirements(*lines), database, None)
    assert {hit.requirement.name for hit in unknown.hits} == {"jinja2", "requests"}


def test_bad_marker_and_arbitrary_equality(database):
    audit = audit_requirements([RequirementRecord("pyyaml", "==5.3", marker="python_version <<< '3'"),
                                RequirementRecord("nltk", "===2.0.1rc2-git"),
                                RequirementRecord("pyyaml", "==5.*")], database, "3.11")
    assert [hit.advisory.id for hit in audit.hits] == ["PYSEC-2019-106", "PYSEC-2021-356", "PYSEC-2021-859",
                                                       "PYSEC-2022-5"]
    assert audit.hits[0].fixed is None  # a version that is not PEP 440 cannot be ordered against a fix
    assert [item.reason.split(":")[0] for item in audit.not_auditable] == [
        "its marker cannot be read", "not pinned to one version (==5.*); pin it with == (or lock it) to audit it"]


def test_many_projects_share_one_lookup(database):
    projects = [ProjectInput("a", "1.0", "a/", tuple(requirements("pyyaml==5.3")), ("a@example.org",), "3.11"),
                ProjectInput("b", "2.0", "b.zip", tuple(requirements("numpy==2.0.0")), (), "3.11"),
                ProjectInput("c", "0.1", "c/", tuple(requirements("pyyaml==5.3", "py==1.11.0")), (), None)]
    audits = audit_projects(projects, database)
    assert [(audit.name, audit.advisory_ids) for audit in audits] == [
        ("a", ("PYSEC-2020-96", "PYSEC-2021-142")), ("b", ()),
        ("c", ("PYSEC-2020-96", "PYSEC-2021-142", "PYSEC-2022-42969"))]
    assert audits[0].maintainers == ("a@example.org",) and audits[1].affected is False


# --- what the real data does not hold: hand-made records in a folder database --------------------------------

def test_versions_list_counts_where_ranges_say_otherwise(tmp_path):
    # The schema: affected if listed in versions OR inside a range. 1.5 is outside [0, 1.2) but listed.
    write_record(tmp_path, record("TEST-1", "Some_Package", [ecosystem(("introduced", "0"), ("fixed", "1.2"))],
                                  versions=("1.0", "1.5", "not a version")))
    database = open_database(tmp_path)
    assert ids(database, "some-package", "1.5") == {"TEST-1"}
    assert ids(database, "some.package", "1.0.0") == {"TEST-1"}  # 1.0.0 == 1.0 in PEP 440
    assert fixes(database, "some-package", "1.1") == {"TEST-1": "1.2"}
    assert fixes(database, "some-package", "1.5") == {"TEST-1": None}  # listed past the last fix
    assert ids(database, "some-package", "1.3") == set()


def test_limits_unknown_keys_git_only_and_other_ecosystems(tmp_path):
    write_record(tmp_path, record("TEST-LIMIT", "limited", [ecosystem(("introduced", "1.0"), ("limit", "2.0"))]))
    write_record(tmp_path, record("TEST-STAR", "starred", [ecosystem(("introduced", "1.0"), ("limit", "*"))]))
    write_record(tmp_path, record("TEST-GIT", "gitonly", [{"type": "GIT", "repo": "https://example.org/r",
                                                           "events": [{"introduced": "0"}]}]))
    npm = record("TEST-NPM", "limited", [ecosystem(("introduced", "0"))])
    npm["affected"][0]["package"]["ecosystem"] = "npm"
    write_record(tmp_path, npm)
    odd = record("TEST-ODD", "odd", [ecosystem(("introduced", "0"), ("fixed", "2.0.1rc2-git"), ("fixed", "3"))],
                 schema_version="1.7.0", database_specific={"severity": "HIGH"}, future_field=[1, 2])
    odd["affected"][0]["ecosystem_specific"] = {"anything": True}
    write_record(tmp_path, odd)
    database = open_database(tmp_path)
    assert ids(database, "limited", "1.5") == {"TEST-LIMIT"}
    assert ids(database, "limited", "2.0") == set()  # at or past every limit
    assert ids(database, "starred", "99") == {"TEST-STAR"}
    assert ids(database, "gitonly", "1.0") == set()
    # The fixed event that is not PEP 440 is dropped; the next one ends the interval.
    assert fixes(database, "odd", "2.5") == {"TEST-ODD": "3"}
    assert database.matches("odd", "2.5")[0].advisory.severity_label == "HIGH"


def test_unreadable_members_are_reported_not_fatal(tmp_path):
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("GOOD-1.json", json.dumps(record("GOOD-1", "x", [ecosystem(("introduced", "0"))])))
        out.writestr("BAD-1.json", "{not json")
        out.writestr("LIST-1.json", "[1, 2]")
        out.writestr("SHAPE-1.json", '{"id": "SHAPE-1", "affected": "nonsense"}')
        out.writestr("README.txt", "not a record")
    database = open_database(archive)
    assert ids(database, "x", "0.1") == {"GOOD-1"}
    assert sorted(problem.member for problem in database.problems) == ["BAD-1.json", "LIST-1.json"]


@pytest.mark.parametrize("content", [None, b"this is not a zip", b"PK\x05\x06" + b"\0" * 18])
def test_a_database_that_holds_nothing_is_a_failure(tmp_path, content):
    path = tmp_path / "all.zip"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AdvisorySourceError) as raised:
        open_database(path)
    assert str(path) in str(raised.value)


def test_a_dump_of_another_ecosystem_is_refused(tmp_path):
    npm = record("TEST-NPM", "left-pad", [ecosystem(("introduced", "0"))])
    npm["affected"][0]["package"]["ecosystem"] = "npm"
    write_record(tmp_path, npm)
    with pytest.raises(AdvisorySourceError, match="holds no PyPI advisory"):
        open_database(tmp_path)


# --- property: the subject against a reference evaluation of generated ranges ------------------------------

UNIVERSE = ["0.0.1.dev0", "0.1", "0.9", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.1.dev0", "1.1",
            "1.1.1", "2.0rc1", "2.0", "2.0.0.1", "2.1", "3.0", "10.0", "1!0.5"]
KINDS = ["introduced", "fixed", "last_affected", "limit"]
events_strategy = st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(UNIVERSE + ["0", "*", "bad-ver"])),
                           min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(ranges=st.lists(events_strategy, min_size=1, max_size=3),
       listed=st.lists(st.sampled_from(UNIVERSE), max_size=3))
def test_matching_agrees_with_the_reference(ranges, listed):
    raw_ranges = [{"type": "ECOSYSTEM", "events": [{kind: text} for kind, text in events
                                                   if not (text == "0" and kind != "introduced")
                                                   and not (text == "*" and kind != "limit")]}
                  for events in ranges]
    entry = compile_affected({"package": {"ecosystem": "PyPI", "name": "p"}, "ranges": raw_ranges,
                              "versions": listed})
    assert entry is not None
    listed_versions = {Version(item) for item in listed}

    def reference(version: Version) -> bool:
        return version in listed_versions or any(reference_in_range(version, item["events"]) for item in raw_ranges)

    fixed_events = sorted({Version(text) for events in raw_ranges for event in events["events"]
                           for kind, text in event.items() if kind == "fixed" and text in UNIVERSE})
    for text in UNIVERSE:
        version = Version(text)
        assert entry.affects(version, text) == reference(version), (text, raw_ranges, listed)
        affected, fixed = affected_fix([entry], version, text)
        assert affected == reference(version)
        if affected:
            # The fix: the lowest fixed event above the version that is itself not affected (None: there is none).
            good = [candidate for candidate in fixed_events if candidate > version and not reference(candidate)]
            assert (Version(fixed) if fixed else None) == (good[0] if good else None), (text, raw_ranges, listed)


def test_the_whole_subset_agrees_with_the_reference(database, records):
    # Every package of the subset at every version its advisories name (listed versions and event versions):
    # the subject and the reference pick the same advisories.
    checked = 0
    index = reference_index(records)
    for name in {affected["package"]["name"] for item in records.values() for affected in item["affected"]}:
        versions = set()
        for item in records.values():
            for affected in item["affected"]:
                if affected["package"]["name"] == name:
                    versions.update(affected["versions"])
                    versions.update(text for rng in affected["ranges"] if rng["type"] == "ECOSYSTEM"
                                    for event in rng["events"] for text in event.values() if text != "0")
        for version in versions:
            try:
                Version(version)
            except ValueError:
                continue
            assert ids(database, name, version) == reference_affected_ids(records, name, version, index), \
                (name, version)
            checked += 1
    assert checked > 1000


def test_folder_and_zip_agree(tmp_path, database):
    with zipfile.ZipFile(osv_subset()) as archive:
        archive.extractall(tmp_path)
    folder = open_database(Path(tmp_path))
    assert folder.record_count == database.record_count
    for name, version in [("tensorflow", "2.4.0"), ("pillow", "8.0.0"), ("py", "1.11.0")]:
        assert folder.matches(name, version) == database.matches(name, version)


def test_the_package_imports_its_parts_on_first_use():
    # Start-up is product: importing packflow_export.deps loads neither SMTP, HTTP nor packaging's parsers.
    import subprocess
    import sys

    probe = ("import sys, packflow_export.deps as deps; "
             "before = {m for m in ('smtplib', 'urllib.request', 'packaging.version') if m in sys.modules}; "
             "deps.open_database; print(sorted(before), 'packaging.version' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.split("]")[0] + "]" == "[]" and result.stdout.strip().endswith("True"), result.stderr
