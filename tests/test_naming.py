"""packflow_export/naming.py: the one home of the project naming rules, agreeing with packaging, PyYAML and the
JSON Schema, and loadable by path with nothing but the standard library (as the template's hooks load it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion, Version

from helpers import REPO

from packflow_export import naming

SCHEMA = json.loads((REPO / "packflow_export" / "packflow.schema.json").read_text())


def test_schema_patterns_are_the_naming_patterns():
    properties = SCHEMA["properties"]
    assert properties["name"]["pattern"] == f"^{naming.NAME_PATTERN.pattern}$"
    assert properties["name"]["maxLength"] == naming.MAX_NAME_LENGTH
    assert properties["version"]["pattern"] == f"^{naming.VERSION_NORMAL_PATTERN.pattern}$"
    assert properties["version"]["maxLength"] == naming.MAX_VERSION_LENGTH
    assert properties["inference_backend"]["pattern"] == f"^{naming.BACKEND_PATTERN.pattern}$"
    assert properties["python_version"]["pattern"] == f"^{naming.PYTHON_VERSION_PATTERN.pattern}$"
    assert properties["loader"]["enum"] == list(naming.LOADERS)
    keywords = properties["inference_backend"]["not"]["pattern"]
    import keyword

    assert keywords == "(^|[.:])(" + "|".join(sorted(keyword.kwlist)) + ")([.:]|$)"


def test_loads_by_path_with_the_standard_library_only():
    """What the template's hooks rely on: no packflow_export package, no third-party import."""
    script = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('n', sys.argv[1]); "
              "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
              "third = sorted(k for k in sys.modules if k.split('.')[0] in ('yaml', 'packaging', 'packflow_export')); "
              "print(third, m.normalize_version('1.0-beta.2'), m.packflow_version_problem('0.4.1'))")
    result = subprocess.run([sys.executable, "-S", "-c", script, str(REPO / "packflow_export" / "naming.py")],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "1.0b2", "None"]


versions = st.one_of(
    st.from_regex(r"\Av?([0-9]{1,3}!)?[0-9]{1,4}(\.[0-9]{1,4}){0,3}([-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]{0,3})?"
                  r"(-[0-9]{1,3}|[-_.]?(post|rev|r)[-_.]?[0-9]{0,3})?([-_.]?dev[-_.]?[0-9]{0,3})?(\+[a-z0-9]{1,4}([-_.][a-z0-9]{1,4}){0,2})?\Z"),
    st.text(alphabet="0123456789.abcdevpostr+-_!vV ", max_size=16))


@settings(max_examples=400, deadline=None)
@given(versions)
def test_normalize_version_agrees_with_packaging(text):
    try:
        expected = str(Version(text))
    except InvalidVersion:
        expected = None
    assert naming.normalize_version(text) == expected


@settings(max_examples=300, deadline=None)
@given(versions, versions)
def test_version_key_orders_as_packaging_does(first, second):
    try:
        a, b = Version(first), Version(second)
    except InvalidVersion:
        return
    a_key, b_key = naming.version_key(first), naming.version_key(second)
    if not a.local and not b.local:
        assert (a < b) == (a_key < b_key) and (a == b) == (a_key == b_key)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40))
def test_yaml_quote_reads_back_exactly(value):
    assert yaml.safe_load(f"key: {naming.yaml_quote(value)}\n") == {"key": value}


def test_yaml_quote_keeps_printable_text_readable():
    assert naming.yaml_quote("Fraud Scorer: v2 😀 café") == '"Fraud Scorer: v2 😀 café"'
    assert naming.yaml_quote('a "b" \\ \n\u2028') == '"a \\"b\\" \\\\ \\n\\L"'


@pytest.mark.parametrize("value, words", [
    ("", "must not be empty"), ("   ", "must not be empty"), ("two\nlines", "control character"),
    ("bell\x07", "control character"), ("\nleading newline", "control character"), ("sep\u2028x", "control character"),
    ("bad \udcff byte", "not valid text"),
])
def test_text_problem(value, words):
    assert words in naming.text_problem(value)


def test_text_problem_accepts_tabs_and_unicode():
    assert naming.text_problem("tab\tinside, café 😀") is None


@pytest.mark.parametrize("name, ok", [("my-analytic", True), ("a", True), ("9lives", False), ("my analytic", False),
                                      ("a" * 100, True), ("a" * 101, False), ("../x", False)])
def test_name_problem(name, ok):
    assert (naming.name_problem(name) is None) == ok


@pytest.mark.parametrize("value, words", [
    ("inference", "exactly one ':'"), ("a:b:c", "exactly one ':'"), ("my-module:Backend", "not a Python identifier"),
    ("inference:class", "not a Python identifier"), ("pkg.:Backend", "not a Python identifier"),
])
def test_backend_problem(value, words):
    assert words in naming.backend_problem(value)


@pytest.mark.parametrize("module, words", [("json", "shadow"), ("numpy.x", "shadow"), ("validate", "collides")])
def test_backend_shadow_problem(module, words):
    assert words in naming.backend_shadow_problem(module)


def test_backend_paths_follow_the_loaders():
    assert naming.backend_paths("models.text", "local") == ["models/text.py"]
    assert naming.backend_paths("models.text", "module") == ["models/text.py", "models/text/__init__.py"]


def test_packflow_range_is_data():
    supported = naming.supported_packflow()
    assert naming.packflow_version_problem(supported["tested"][-1]) is None
    assert "outside the Packflow versions" in naming.packflow_version_problem("0.3.0")
    assert "outside the Packflow versions" in naming.packflow_version_problem(supported["below"])
    assert "not a version" in naming.packflow_version_problem("latest")


def test_archive_name():
    assert naming.archive_name("my-analytic", "1.0.0") == "my_analytic-1.0.0.zip"


# issue 15 item 14: names that cannot travel ---------------------------------------------------------------------

NFC_CAFE, NFD_CAFE = "caf\u00e9.txt", "cafe\u0301.txt"


@pytest.mark.parametrize("names, words", [
    ([NFC_CAFE, NFD_CAFE], "differ only in Unicode normalization (NFC/NFD)"),
    (["evil\u202etxt.exe"], "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    (["next\u0085line.txt"], "U+0085"),
    (["zero\u200bwidth.txt"], "U+200B (ZERO WIDTH SPACE)"),
    (["bom\ufeff.txt"], "U+FEFF"),
    (["para\u2029.txt"], "U+2029"),
    (["Notes.txt", "NOTES.txt"], "differ only in case"),
    (["\u00c9t\u00e9.txt", "e\u0301te\u0301.txt"], "differ only in case and Unicode normalization"),
])
def test_issue15_item_14_twins_and_invisible_characters_are_pf805(names, words):
    """Before: NFC/NFD twins and names with U+202E, U+0085 or U+200B passed. After: PF805 naming the character."""
    from packflow_export.rules.contents import check_names

    findings = list(check_names(names))
    assert [f.code for f in findings] == ["PF805"] and words in findings[0].message, findings


@pytest.mark.parametrize("names", [["strasse.txt", "stra\u00dfe.txt"], ["STRASSE.txt", "stra\u00dfe.txt"],
                                   ["\u0130.txt", "i.txt"], ["\u03c3.txt", "\u03c2.txt"], ["caf\u00e9.txt", "cafe.txt"]])
def test_issue15_item_14_case_twins_use_simple_case_mapping(names):
    """Before: strasse.txt beside straße.txt was a case twin (full case folding). No file system folds ß to ss;
    per-character upper case keeps them apart. (σ/ς both upper to Σ: those are twins.)"""
    from packflow_export.rules.contents import check_names

    expected = ["PF805"] if names[0] == "\u03c3.txt" else []
    assert [f.code for f in check_names(names)] == expected


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp"), blacklist_characters="/\\"),
               min_size=1, max_size=20))
@settings(max_examples=200, deadline=None)
def test_a_name_and_its_nfd_or_upper_case_twin_are_always_found(stem):
    """Whatever the name, its NFD form and its per-character upper case are twins of it (when they differ)."""
    from packflow_export.rules.contents import check_names

    name = stem + ".txt"
    assume(not re.match(r"[A-Za-z]:", name))  # a drive letter is refused as not relative before any twin test
    for twin in {naming.unicodedata.normalize("NFD", name), "".join(naming._simple_upper(c) for c in name)} - {name}:
        codes = [f.code for f in check_names([name, twin]) if "differ only" in f.message]
        assert codes == ["PF805"], (name, twin)


def test_issue15_item_14_check_reports_twins_on_disk(project):
    """The real command on a folder holding both spellings of café.txt and a right-to-left override."""
    from helpers import check_json

    (project / NFC_CAFE).write_text("nfc\n")
    (project / NFD_CAFE).write_text("nfd\n")
    (project / "report\u202efdp.exe").write_text("x\n")
    code, report = check_json(project)
    messages = [f["message"] for f in report["findings"] if f["code"] == "PF805"]
    assert code == 1 and len(messages) == 2, messages
    assert any("U+202E" in m for m in messages) and any("NFC/NFD" in m for m in messages)
