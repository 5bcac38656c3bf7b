"""rules/config.py (PF2xx): packflow.yaml parsed with lines, every rule firing where it should, bad input as findings."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import codes, edit, findings_of, inspect

from packflow_export.policy import load_policy
from packflow_export.model.config import parse_config
from packflow_export.rules import registry
from packflow_export.rules.config import config_findings

RULES = registry().rules

CONFIG_CASES = [
    # (old text, new text, expected code, expected line, words in the message)
    ('name: "my-analytic"', 'name: "9lives"', "PF203", 3, "must start with a letter"),
    ('name: "my-analytic"', 'name: "' + "a" * 101 + '"', "PF203", 3, "at most 100"),
    ('name: "my-analytic"', "name: yes", "PF213", 3, "the boolean true"),
    ('name: "my-analytic"\n', "", "PF203", None, "name is missing"),
    ('version: "0.1.0"', "version: 1.0", "PF213", 4, "read by YAML as the number 1.0"),
    ('version: "0.1.0"', 'version: "one"', "PF204", 4, "not a PEP 440 version"),
    ('version: "0.1.0"', 'version: "v1.0"', "PF204", 4, "normal form"),
    ('version: "0.1.0"', 'version: "1.0/../x"', "PF204", 4, "version"),
    ('version: "0.1.0"\n', "", "PF204", None, "version is missing"),
    ('description: "Scores incoming text records and returns simple features for each one."', 'description: ""',
     "PF205", 5, "description is empty"),
    ('description: "Scores incoming text records and returns simple features for each one."', "description:",
     "PF213", 5, "null"),
    ('maintainers:\n  - "maintainer@example.org"', "maintainers: []", "PF206", 6, "maintainers is empty"),
    ('maintainers:\n  - "maintainer@example.org"', 'maintainers: ["bob"]', "PF206", 6, "'bob'"),
    ('maintainers:\n  - "maintainer@example.org"', 'maintainers: "a@example.org"', "PF207", 6, "not a list"),
    ('maintainers:\n  - "maintainer@example.org"', "maintainers: [1, 2]", "PF207", 6, "non-text"),
    ('inference_backend: "inference:Backend"', 'inference_backend: "inference.Backend"', "PF208", 10, "dotted.module:Class"),
    ('inference_backend: "inference:Backend"', 'inference_backend: "import:Backend"', "PF208", 10, "dotted.module:Class"),
    ('loader: "local"', 'loader: "remote"', "PF209", 11, "local, module"),
    ('python_version: "3.11.7"', "python_version: 3.10", "PF213", 12, "the number 3.1"),
    ('python_version: "3.11.7"', 'python_version: "three"', "PF210", 12, "X.Y"),
    ('python_version: "3.11.7"', 'python_version: "3.8"', "PF211", 12, "differs from the running Python"),
    ('python_version: "3.11.7"\n', "", "PF217", None, "python_version is missing"),
    ("extra:\n", "verison: 2\nextra:\n", "PF212", 17, "did you mean 'version'"),
    ("extra:\n", "maintainer: x\nextra:\n", "PF212", 17, "did you mean 'maintainers'"),
    ("extra:\n", "inference-backend: x\nextra:\n", "PF212", 17, "did you mean 'inference_backend'"),
    ("extra:\n", "classification: internal\nextra:\n", "PF212", 17, "Packflow refuses"),
    ("extra:\n", "env: [1]\nextra:\n", "PF216", 17, "env holds a list"),
    ("extra:\n", "env:\n  RETRIES: 3\nextra:\n", "PF213", 18, "RETRIES"),
    ("extra:\n", 'version: "9.9.9"\nextra:\n', "PF218", 17, "version is given twice (lines 4 and 17)"),
    ("\n  license: ", '\n  license: "ISC"\n  license: ', "PF218", 21, "extra.license is given twice"),
]


@pytest.mark.parametrize("old, new, code, line, words", CONFIG_CASES)
def test_packflow_yaml_rule_fires(project, old, new, code, line, words):
    if code == "PF211":
        new = new.replace("3.8", "3.{}".format(sys.version_info[1] - 1))
    edit(project / "packflow.yaml", old, new)
    report = inspect(project)
    matching = findings_of(report, code)
    assert matching, report.findings
    assert any(words in f["message"] for f in matching), matching
    assert any(f["line"] == line and f["path"] == "packflow.yaml" for f in matching), matching
    assert report.ok == (RULES[code].severity != "error")


@pytest.mark.parametrize("old, new, hint", [
    ('version: "0.1.0"', "version: 1.0", 'Quote it: version: "1.0".'),
    ('python_version: "3.11.7"', "python_version: 3.10", 'Quote it: python_version: "3.10".'),
    ('name: "my-analytic"', "name: yes", 'Quote it: name: "yes".'),
    ('name: "my-analytic"', "name: null", 'Give it a quoted value, e.g. name: "my-analytic".'),
    ('version: "0.1.0"', 'version: "1.0-beta.2"', 'Write it as version: "1.0b2".'),
])
def test_yaml_type_traps_and_versions_give_the_exact_fix(project, old, new, hint):
    edit(project / "packflow.yaml", old, new)
    assert hint in [f.hint for f in inspect(project).findings]


def test_unquoted_values_that_yaml_reads_as_text_are_fine(project):
    path = project / "packflow.yaml"
    path.write_text(path.read_text().replace('"', ""))
    report = inspect(project)
    assert report.ok and not codes(report, "error")


def test_duplicate_key_names_the_value_that_would_win(project):
    """The archive is named after the last `version`; the finding says so, with both lines."""
    edit(project / "packflow.yaml", "extra:\n", 'version: "9.9.9"\nextra:\n')
    (finding,) = findings_of(inspect(project), "PF218")
    assert finding["severity"] == "error" and "YAML would keep only the second" in finding["message"]


def alias_bomb() -> bytes:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


BAD_CONFIGS = {
    "syntax error": (b"name: [unclosed\nversion: 1\n", "PF201"),
    "empty file": (b"", "PF202"),
    "only a comment": (b"# nothing\n", "PF202"),
    "a list": (b"- name\n- version\n", "PF202"),
    "a scalar": (b"just text\n", "PF202"),
    "binary": (bytes(range(256)) * 4, "PF104"),
    "latin-1": ("name: café\n".encode("latin-1"), "PF104"),
    "tab indentation": (b"extra:\n\tlicense: MIT\n", "PF201"),
    "alias bomb": (alias_bomb(), "PF201"),
    "a python tag": (b"name: !!python/object:os.system x\n", "PF201"),
    "huge": (None, "PF104"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_packflow_yaml_gives_a_finding_not_a_traceback(project, case):
    content, code = BAD_CONFIGS[case]
    path = project / "packflow.yaml"
    if content is None:
        with path.open("wb") as handle:
            handle.write(b"name: x\n" + b"# padding padding padding padding padding padding padding\n" * 20_000)
    else:
        path.write_bytes(content)
    report = inspect(project)
    assert not report.ok
    matching = findings_of(report, code)
    assert matching and matching[0]["path"] == "packflow.yaml", report.findings
    if case == "syntax error":
        assert matching[0]["line"] == 2 and "column" in matching[0]["message"]
    if case == "tab indentation":
        assert matching[0]["line"] == 2


def test_bom_is_accepted(project):
    path = project / "packflow.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    report = inspect(project)
    assert report.ok and not codes(report, "error")


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
scalars = st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                    st.sampled_from(["inference:Backend", "local", "module", "3.11", "1.0.0", "a@example.org"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                      max_leaves=6)
keys = st.sampled_from(["name", "version", "description", "maintainers", "inference_backend", "loader",
                        "python_version", "env", "backend_config", "extra", "verison", "custom"])


@SETTINGS
@given(text=st.text(max_size=300))
def test_property_any_text_as_packflow_yaml_gives_findings_not_exceptions(text):
    findings = config_findings(parse_config(text), load_policy())
    assert all(f.code in RULES for f in findings)
    json.dumps([f.as_dict() for f in findings])


@SETTINGS
@given(config=st.dictionaries(keys, values, max_size=8))
def test_property_config_check_is_at_least_as_strict_as_upstream(config):
    """Whatever passes our packflow.yaml rules, upstream Packflow's own config model accepts."""
    import yaml
    from packflow.loaders.config import PackflowConfig
    from pydantic import ValidationError

    parsed = parse_config(yaml.safe_dump(config))
    errors = [f for f in config_findings(parsed, load_policy()) if f.severity == "error"]
    try:
        PackflowConfig(**config)
        upstream_accepts = True
    except (ValidationError, TypeError):
        upstream_accepts = False
    if not errors:
        assert upstream_accepts, config
