"""The policy's model_allowlist (issue 17): a fork extends the model-file allow-list by data, checked when the policy
is read; verify judges with the verifier's list, and an archive's recorded list is shown, never applied."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import cli_json, codes, findings_of, run_cli
from packflow_export.errors import UsageError
from packflow_export.findings import AllowListData
from packflow_export.modelfiles import scan_model_file
from packflow_export.policy import load_policy, policy_from_data
from packflow_export.rules.modelfiles import allowlist_of

SCALER = '"""A scaler the backend unpickles."""\n\n\nclass Scaler:\n    """Scales inputs."""\n\n' \
         '    def __init__(self, factor: float = 2.0) -> None:\n        self.factor = factor\n'
ALLOW = "globals:\n  mymodel.Scaler: [new, build]\n"


def with_own_pickle(project: Path) -> Path:
    """The project's own class `mymodel.Scaler`, pickled (protocol 4) by a real interpreter into model/scaler.pkl."""
    (project / "mymodel.py").write_text(SCALER, encoding="utf-8")
    (project / "model").mkdir()
    subprocess.run([sys.executable, "-c", "import pickle, mymodel; open('model/scaler.pkl', 'wb').write("
                    "pickle.dumps(mymodel.Scaler(), protocol=4))"], cwd=project, check=True)
    return project / "model" / "scaler.pkl"


def fork_policy(folder: Path, text: str = "model_allowlist: [allow.yaml]\n", allow: str = ALLOW) -> Path:
    """A fork's policy file and, beside it, the allow-list file it names."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "allow.yaml").write_text(allow, encoding="utf-8")
    (folder / "policy.yaml").write_text(text, encoding="utf-8")
    return folder / "policy.yaml"


@pytest.fixture
def own_pickle(project) -> Path:
    with_own_pickle(project)
    return project


def test_a_projects_own_class_is_refused_until_a_forks_allow_list_file_grants_it(own_pickle, tmp_path):
    code, result = cli_json("export", own_pickle, "-o", tmp_path / "out")
    assert code == 1 and not list((tmp_path / "out").glob("*.zip"))
    refused = findings_of(result, "PF820")
    assert refused and all(f["path"] == "model/scaler.pkl" and "mymodel.Scaler" in f["message"] for f in refused)
    assert "PF825" not in codes(result)  # mymodel.py is in the archive: no distribution to declare
    policy = fork_policy(tmp_path / "fork")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # the allow-list path is the policy folder's, whatever the working folder
    code, result = cli_json("export", own_pickle, "-o", tmp_path / "out", "--policy", policy, cwd=elsewhere)
    assert code == 0, result["findings"]
    assert "PF820" not in codes(result) and "PF824" in codes(result)  # still a pickle: a safer format is suggested


def test_the_inline_form_grants_the_same(own_pickle, tmp_path):
    policy = tmp_path / "inline.yaml"
    policy.write_text("model_allowlist:\n  - {globals: {mymodel.Scaler: [new, build]}}\n", encoding="utf-8")
    code, result = cli_json("check", own_pickle, "--policy", policy)
    assert code == 0 and "PF820" not in codes(result), result["findings"]
    policy.write_text("model_allowlist:\n  - {globals: {mymodel.Scaler: [new]}}\n", encoding="utf-8")
    code, result = cli_json("check", own_pickle, "--policy", policy)  # new without build: setting state is refused
    assert code == 1 and [f["message"] for f in findings_of(result, "PF820")] == [
        "model/scaler.pkl: loading it sets the state of an object of mymodel.Scaler"]


@pytest.mark.parametrize("text, allow, words", [
    ("model_allowlist: [allow.yaml]\n", "globals:\n  mymodel.Scaler: [explode]\n",
     ["item 1", "allow.yaml", "mymodel.Scaler: unknown action 'explode'", "fix the allow-list file"]),
    ("model_allowlist:\n  - {globals: {mymodel.Scaler: [explode]}}\n", ALLOW,
     ["model_allowlist: item 1", "mymodel.Scaler: unknown action 'explode'", "{globals: {mymodule.MyClass"]),
    ("model_allowlist: [allow.yaml, missing.yaml]\n", ALLOW,
     ["item 2", "missing.yaml", "cannot be read", "a relative one is read from the policy file's folder"]),
    ("model_allowlist: allow.yaml\n", ALLOW, ["model_allowlist: must be a list"]),
    ("model_allowlist: [7]\n", ALLOW, ["item 1 (7) is neither a file path nor a mapping"]),
    ("model_allowlist: [allow.yaml]\n", "globals: [mymodel.Scaler]\n", ["allow.yaml", "globals: expected a mapping"]),
])
def test_a_bad_item_is_exit_2_naming_the_policy_the_item_and_the_fix(project, tmp_path, text, allow, words):
    policy = fork_policy(tmp_path / "fork", text, allow)
    for command in ("check", "export"):
        output = ("-o", tmp_path / "out") if command == "export" else ()
        result = run_cli(command, project, "--policy", policy, *output)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert str(policy) in result.stderr and all(word in result.stderr for word in words), result.stderr


def test_relative_paths_are_the_policy_folders_and_the_list_is_hashable(tmp_path, monkeypatch):
    policy_path = fork_policy(tmp_path / "fork")
    monkeypatch.chdir(tmp_path)
    policy = load_policy(Path("fork/policy.yaml"))
    monkeypatch.chdir(tmp_path / "fork")  # a later change of folder reads nothing again
    assert policy.model_allowlist == (AllowListData((("mymodel.Scaler", ("build", "new", "ref")),)),)
    assert load_policy(policy_path) == policy and isinstance(hash(policy.model_allowlist), int)
    assert allowlist_of(policy) is allowlist_of(load_policy(policy_path))  # built once per list
    assert allowlist_of(policy).actions("mymodel", "Scaler") == {"ref", "new", "build"}
    assert load_policy().model_allowlist == ()
    with pytest.raises(UsageError, match="model_allowlist: item 1"):
        load_policy(fork_policy(tmp_path / "other", "model_allowlist: [../fork/gone.yaml]\n"))


def test_a_recorded_file_path_is_never_read(tmp_path):
    """A recorded policy names a file on the verifier's machine granting the class: it stays a name, grants nothing."""
    fork_policy(tmp_path / "fork")
    recorded = policy_from_data({"model_allowlist": [str(tmp_path / "fork" / "allow.yaml")]}, "recorded")
    assert recorded.model_allowlist == (str(tmp_path / "fork" / "allow.yaml"),)
    data = b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x07mymodel\x94\x8c\x06Scaler\x94\x93\x94)\x81\x94}\x94b."
    scan = scan_model_file("m.pkl", lambda: io.BytesIO(data), allowlist=allowlist_of(recorded))  # type: ignore
    assert not scan.ok and scan.globals == ("mymodel.Scaler",)


def recorded_comment(archive: Path, out: Path, policy: dict) -> Path:
    """The archive with its zip comment's policy replaced by `policy` (what a hostile exporter would write)."""
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.comment = json.dumps({**json.loads(source.comment), "policy": policy}).encode()
    return out


def test_verify_never_applies_an_archives_recorded_allow_list(own_pickle, tmp_path):
    policy = fork_policy(tmp_path / "fork")
    code, result = cli_json("export", own_pickle, "-o", tmp_path / "out", "--policy", policy)
    assert code == 0, result["findings"]
    (archive,) = (tmp_path / "out").glob("*.zip")
    with zipfile.ZipFile(archive) as handle:  # recorded as content, not as the exporter's file path
        assert json.loads(handle.comment)["policy"]["model_allowlist"] == [
            {"globals": {"mymodel.Scaler": ["build", "new", "ref"]}}]
    for accept in ((), ("--accept-recorded-policy",)):
        code, result = cli_json("verify", archive, *accept)
        assert code == 1 and findings_of(result, "PF820"), result["findings"]
        (shown,) = findings_of(result, "PF909")
        assert "mymodel.Scaler [build, new]" in shown["message"] and "never applied" in shown["message"]
    assert cli_json("verify", archive, "--policy", policy)[0] == 0  # the verifier's own list decides
    # A hostile comment: a path on the verifier's machine that grants the class, and PF820-PF823 switched off
    hostile = recorded_comment(archive, tmp_path / "hostile.zip", {
        "model_allowlist": [str(tmp_path / "fork" / "allow.yaml")],
        "severity": {"PF820": "off", "PF821": "off", "PF822": "off", "PF823": "off"}})
    code, result = cli_json("verify", hostile, "--accept-recorded-policy")
    assert code == 1 and findings_of(result, "PF820"), result["findings"]
    message = findings_of(result, "PF909")[0]["message"]
    assert "allow.yaml' (named, never read)" in message and "model-file rules PF820" in message
    code, result = cli_json("verify", hostile, "--accept-recorded-policy", "--load", "--sandbox", "off")
    assert code == 1 and "PF826" in codes(result), result["findings"]  # the load proof is refused as well


def test_a_list_too_long_for_the_zip_comment_is_recorded_as_its_size():
    from packflow_export.exporter import provenance

    entries = tuple((f"acme.module{number:05d}.Model", ("build", "new", "ref")) for number in range(3000))
    policy = load_policy()._replace(model_allowlist=(AllowListData(entries),))
    recorded = json.loads(provenance(0, None, policy, []))["policy"]
    assert recorded["model_allowlist"] == ["3000 allow-list entries, too many to record in the zip comment"]
    assert policy_from_data(recorded, "recorded").model_allowlist == tuple(recorded["model_allowlist"])


def test_verify_shows_only_what_a_recorded_list_would_add_to_the_verifiers():
    from packflow_export.policy import recorded_allowlist

    recorded = policy_from_data({"model_allowlist": [
        {"globals": {"numpy.ndarray": ["new", "build"], "mymodel.Scaler": ["new"], "acme.*": ["new"],
                     "mymodel:Outer.Inner": None}, "extensions": {"7": "acme.Model"}}, "/etc/allow.yaml"]}, "recorded")
    assert recorded_allowlist(load_policy(), recorded) == (
        "acme.* [new]", "mymodel.Scaler [new]", "mymodel:Outer.Inner [ref]", "EXT 7 acme.Model",
        "'/etc/allow.yaml' (named, never read)")
    assert recorded_allowlist(load_policy()._replace(model_allowlist=recorded.model_allowlist[:1]), recorded) == (
        "'/etc/allow.yaml' (named, never read)",)
