"""The model-file scanner: every malicious technique caught, every real artifact passes with the right needs,
bounded on hostile input, and never a crash. Nothing here unpickles anything."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelfile_attacks import ATTACKS, PAYLOAD, call, glob, pickle_of, text, torch_zip
from packflow_export.modelfiles import (
    AllowListError, Format, IssueKind, Limits, ModelScan, load_allowlist, scan_model_file, scan_path,
)
from packflow_export.modelfiles.allowlist import bundled_allowlist, distribution_of, parse_allowlist

BENIGN = Path(__file__).parent / "data" / "modelfiles" / "benign"
MANIFEST = json.loads((BENIGN / "manifest.json").read_text(encoding="utf-8"))


def scan_bytes(name: str, data: bytes, **options: object) -> ModelScan:
    return scan_model_file(name, lambda: io.BytesIO(data), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_malicious_file_is_caught_naming_what_it_runs(name):
    attack = ATTACKS[name]
    scan = scan_bytes(name, attack.data)
    assert not scan.ok
    assert any(attack.names in issue.message for issue in scan.issues), [i.message for i in scan.issues]
    assert all(issue.message.startswith(name) for issue in scan.issues)


@pytest.mark.parametrize("name", sorted(MANIFEST["files"]))
def test_every_benign_artifact_passes_with_the_distributions_it_needs(name):
    expected = MANIFEST["files"][name]
    scan = scan_path(BENIGN / name)
    assert scan.issues == ()
    assert scan.complete
    assert scan.format.value == expected["format"]
    assert list(scan.distributions) == expected["needs"]


def test_the_corpora_are_as_large_as_the_issue_asks():
    assert len(ATTACKS) >= 57
    assert len(MANIFEST["files"]) >= 36
    assert sum(item["bytes"] for item in MANIFEST["files"].values()) < 5_000_000


def test_messages_say_what_loading_does():
    scan = scan_bytes("model.pkl", ATTACKS["os_system.pkl"].data)
    assert [issue.message for issue in scan.issues] == ["model.pkl: loading it calls os.system"]
    assert scan.issues[0].kind == IssueKind.CALL and scan.issues[0].subject == "os.system"
    assert scan.globals == ("os.system",)


def test_issue_kinds_of_the_structural_techniques():
    kinds = {name: {issue.kind for issue in scan_bytes(name, ATTACKS[name].data).issues} for name in (
        "build_setstate_numpy_ref.pkl", "build_numpy_function.pkl", "glob_os_system.pkl", "ext_opcode.pkl",
        "torch_zip_bad_crc.pt", "keras3_lambda.keras", "keras3_custom_module.keras", "numpy_load_called.pkl",
        "reconstructor_popen.pkl")}
    assert IssueKind.DUNDER_STATE in kinds["build_setstate_numpy_ref.pkl"]
    assert kinds["build_numpy_function.pkl"] == {IssueKind.BUILD}
    assert IssueKind.ATTRIBUTE in kinds["glob_os_system.pkl"]
    assert IssueKind.EXTENSION in kinds["ext_opcode.pkl"]
    assert kinds["torch_zip_bad_crc.pt"] == {IssueKind.CRC, IssueKind.CALL}
    assert kinds["keras3_lambda.keras"] == {IssueKind.KERAS_LAMBDA}
    assert kinds["keras3_custom_module.keras"] == {IssueKind.KERAS_MODULE}
    assert kinds["numpy_load_called.pkl"] == {IssueKind.CALL}
    assert IssueKind.NEW in kinds["reconstructor_popen.pkl"]


def test_where_the_issue_is():
    scan = scan_bytes("weights.pt", ATTACKS["torch_zip.pt"].data)
    assert scan.format == Format.TORCH_ZIP
    assert scan.issues[0].member == "archive/data.pkl"
    assert scan.issues[0].message == "weights.pt (archive/data.pkl): loading it calls os.system"
    second = scan_bytes("two.pkl", ATTACKS["second_pickle.pkl"].data).issues[0]
    assert second.member == "pickle 2" and second.offset > 0


def test_a_pattern_never_lets_a_function_be_called():
    allow = bundled_allowlist()
    assert allow.actions("sklearn.linear_model._logistic", "LogisticRegression") == {"ref", "new", "build"}
    assert "call" not in allow.actions("numpy", "load")
    with pytest.raises(AllowListError, match="a pattern may grant only ref, new and build"):
        parse_allowlist({"globals": {"mylib.*": ["call"]}}, "fork.yaml")
    with pytest.raises(AllowListError, match="unknown action 'run'"):
        parse_allowlist({"globals": {"mylib.f": ["run"]}}, "fork.yaml")
    with pytest.raises(AllowListError, match="unknown section"):
        parse_allowlist({"global": {}}, "fork.yaml")


def test_a_fork_extends_the_allow_list_by_data(tmp_path):
    custom = pickle_of(glob("acme.models", "Scorer") + b")\x81}" + text("w") + b"K\x01sb")
    assert not scan_bytes("m.pkl", custom).ok
    extra = tmp_path / "allow.yaml"
    extra.write_text("globals:\n  acme.*: [new, build]\n", encoding="utf-8")
    scan = scan_bytes("m.pkl", custom, allowlist=load_allowlist([extra]))
    assert scan.ok and scan.distributions == ("acme",)


def test_distributions_come_from_data():
    assert distribution_of("sklearn.linear_model._logistic") == "scikit-learn"
    assert distribution_of("xgboost.core") == "xgboost"
    assert distribution_of("joblib.numpy_pickle") == "joblib"
    assert distribution_of("collections") is None
    assert distribution_of("acme.models") == "acme"


def test_bounded_by_opcodes_memo_and_decompressed_bytes():
    many = pickle_of(b"]" + (b"(" + b"K\x01" * 50 + b"e") * 2000)
    scan = scan_bytes("big.pkl", many, limits=Limits(max_opcodes=10_000))
    assert not scan.complete and scan.issues[-1].kind == IssueKind.LIMIT
    memo = pickle_of(b"N" + b"\x94" * 5000)
    assert not scan_bytes("memo.pkl", memo, limits=Limits(max_memo=100)).complete
    bomb = zlib.compress(pickle_of(binbytes_of(50 << 20)))
    scan = scan_bytes("bomb.joblib", bomb, limits=Limits(max_decompressed=10 << 20))
    assert not scan.complete and "decompress" in scan.issues[-1].message


def binbytes_of(size: int) -> bytes:
    return b"\x8e" + size.to_bytes(8, "little") + bytes(size)


def test_deep_nesting_and_bulk_bytes_cost_little():
    deep = pickle_of(b"(" * 200_000 + b"]" + b"l" * 1000 + b"]" + b"]a" * 100_000)
    scan = scan_bytes("deep.pkl", deep)
    assert scan.ok and scan.opcodes > 400_000
    bulk = pickle_of(binbytes_of(64 << 20) + b"0" + call(glob("os", "system"), text("x")))
    scan = scan_bytes("bulk.pkl", bulk)
    assert scan.opcodes < 20 and scan.issues[0].subject == "os.system"


def test_lz4_missing_is_not_analysable_rather_than_passed(monkeypatch):
    monkeypatch.setitem(sys.modules, "lz4", None)
    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    scan = scan_bytes("model.joblib", ATTACKS["joblib_lz4.joblib"].data)
    assert not scan.complete and scan.issues[0].kind == IssueKind.UNAVAILABLE


def test_a_truncated_or_garbled_pickle_is_reported_not_raised():
    scan = scan_bytes("cut.pkl", PAYLOAD[:-3])
    assert IssueKind.MALFORMED in {issue.kind for issue in scan.issues}
    assert scan_bytes("text.txt", b"hello world\n").format == Format.NOT_A_MODEL
    assert scan_bytes("empty.bin", b"").format == Format.NOT_A_MODEL


def test_gz_wrapper_and_torch_members_are_followed():
    scan = scan_bytes("m.pkl.gz", gzip.compress(torch_zip(PAYLOAD)))
    assert scan.format == Format.TORCH_ZIP and scan.compression == "gzip"
    assert scan.issues[0].subject == "os.system"


def test_scanning_imports_and_runs_nothing():
    """In a fresh interpreter with an audit hook: scanning every attack never reaches find_class, a process
    launch or an exec, and imports none of the modules the attacks name."""
    script = """
import io, sys
from modelfile_attacks import ATTACKS
from packflow_export.modelfiles import scan_model_file
before = set(sys.modules)
for name, attack in ATTACKS.items():   # first pass: the scanner's own lazy imports (yaml, encodings, lz4)
    scan_model_file(name, lambda data=attack.data: io.BytesIO(data))
events = []
def hook(event, args):
    if event in ("pickle.find_class", "os.system", "subprocess.Popen", "exec", "os.exec", "os.posix_spawn"):
        events.append(event)
sys.addaudithook(hook)
for name, attack in ATTACKS.items():
    scan_model_file(name, lambda data=attack.data: io.BytesIO(data))
named = {"subprocess", "pydoc", "cProfile", "timeit", "pip", "runpy", "pkgutil", "multiprocessing.util",
         "numpy", "torch", "sklearn", "joblib", "operator", "functools"}
print(sorted(events), sorted(named & (set(sys.modules) - before)))
"""
    tests = Path(__file__).parent
    env = {"PYTHONPATH": f"{tests.parent}:{tests}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] []"


_REAL = [(BENIGN / name).read_bytes() for name in sorted(MANIFEST["files"]) if name.endswith((".pkl", ".joblib"))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(data):
    scan = scan_bytes("random.bin", data, limits=Limits(max_opcodes=200_000))
    assert all("internal error" not in issue.message for issue in scan.issues)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_REAL), st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255),
                                                  st.sampled_from(["flip", "insert", "delete"])), max_size=6))
def test_mutated_real_pickles_never_raise(original, edits):
    data = bytearray(original)
    for position, value, how in edits:
        at = position % (len(data) or 1)
        if how == "flip" and data:
            data[at] = value
        elif how == "insert":
            data.insert(at, value)
        elif data:
            del data[at]
    scan = scan_bytes("mutated.joblib", bytes(data), limits=Limits(max_opcodes=200_000))
    assert all("internal error" not in issue.message for issue in scan.issues)
    assert isinstance(scan.complete, bool)


def test_a_zip_past_the_member_bound_is_analysed_up_to_it_then_not_fully_analysed():
    """Issue 15 item 12: the directory is walked, never loaded; the members before the bound are analysed (the
    pickle in member 3 is caught) and the rest is reported as not analysed (PF823), never silently passed."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(120):
            archive.writestr(f"m{index}.bin", PAYLOAD if index == 3 else b"")
    scan = scan_bytes("many.zip", buffer.getvalue(), limits=Limits(max_members=50))
    assert not scan.complete
    assert any("os.system" in issue.message for issue in scan.issues)
    (bound,) = [issue for issue in scan.issues if issue.kind == IssueKind.LIMIT]
    assert "more than 50 members in one zip archive: the rest is not analysed" in bound.message
    within = scan_bytes("many.zip", buffer.getvalue(), limits=Limits(max_members=120))
    assert within.format == Format.ZIP and not [i for i in within.issues if i.kind == IssueKind.LIMIT]


def test_the_bound_that_stopped_the_scan_is_said_even_past_the_issue_cap():
    """Damaged members fill the issue cap; the member bound that left the scan incomplete is still reported."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(60):
            archive.writestr(f"features/{index}.npy", b"")
    scan = scan_bytes("many.npz", buffer.getvalue(), limits=Limits(max_members=50, max_issues=10))
    assert not scan.complete and len([i for i in scan.issues if i.kind == IssueKind.MALFORMED]) == 10
    assert [i.message for i in scan.issues if i.kind == IssueKind.LIMIT] == [
        "many.npz: it was not fully analysed: more than 50 members in one zip archive: the rest is not analysed"]
