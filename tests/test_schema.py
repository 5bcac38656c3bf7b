"""The shipped JSON Schema for packflow.yaml and `check` agree on what is a valid packflow.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import load_yaml

from packflow_export.policy import load_policy
from packflow_export.model.config import parse_config
from packflow_export.rules import config as config_family
from packflow_export.rules.config import config_findings

SCHEMA_PATH = Path(__import__("packflow_export").__file__).with_name("packflow.schema.json")
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

GOOD = 'name: "x"\nversion: "1.0"\ninference_backend: "inference:Backend"\npython_version: "3.11"\n'
CORPUS = {
    "minimal": GOOD,
    "full": GOOD + 'description: "d"\nmaintainers: ["a@example.org"]\nloader: module\nenv: {A: "1"}\n'
                   'backend_config: {verbose: true}\nextra: {license: MIT, classification: internal, n: 3}\n',
    "epoch and local version": GOOD.replace('"1.0"', '"1!2.0.post1.dev3+ubuntu.1"'),
    "dotted backend": GOOD.replace("inference:Backend", "models.text:Scorer"),
    "version as number": GOOD.replace('"1.0"', "1.0"),
    "version not PEP 440": GOOD.replace('"1.0"', '"one"'),
    "version not normal": GOOD.replace('"1.0"', '"v1.0"'),
    "version uppercase local": GOOD.replace('"1.0"', '"1.0+ABC"'),
    "python_version as number": GOOD.replace('"3.11"', "3.10"),
    "python_version bad": GOOD.replace('"3.11"', '"three"'),
    "name yes": GOOD.replace('"x"', "yes"),
    "name with space": GOOD.replace('"x"', '"my x"'),
    "name missing": GOOD.replace('name: "x"\n', ""),
    "version missing": GOOD.replace('version: "1.0"\n', ""),
    "backend missing": GOOD.replace('inference_backend: "inference:Backend"\n', ""),
    "python_version missing (a warning)": GOOD.replace('python_version: "3.11"\n', ""),
    "name too long": GOOD.replace('"x"', '"' + "x" * 101 + '"'),
    "backend without class": GOOD.replace("inference:Backend", "inference"),
    "backend keyword": GOOD.replace("inference:Backend", "import:Backend"),
    "loader bad": GOOD + "loader: remote\n",
    "unknown key": GOOD + "verison: 2\n",
    "custom key at top level": GOOD + "classification: internal\n",
    "maintainers string": GOOD + 'maintainers: "a@example.org"\n',
    "maintainers numbers": GOOD + "maintainers: [1]\n",
    "maintainers null": GOOD + "maintainers:\n",
    "description null": GOOD + "description:\n",
    "env list": GOOD + "env: [a]\n",
    "env number value": GOOD + "env: {A: 1}\n",
    "extra list": GOOD + "extra: [a]\n",
    "a list": "- a\n",
}


def check_errors(text: str) -> list:
    """`check`'s packflow.yaml errors for a text (the PF2xx rules at error severity), in process."""
    findings = config_findings(parse_config(text), load_policy())
    codes = {rule.code for rule in config_family.RULES}
    return [f.code for f in findings if f.code in codes and f.severity == "error"]


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("case", list(CORPUS))
def test_schema_and_check_agree_on_the_corpus(case):
    text = CORPUS[case]
    schema_ok = VALIDATOR.is_valid(yaml.safe_load(text))
    errors = check_errors(text)
    assert schema_ok == (not errors), (case, errors, [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))])


def test_default_bake_is_valid_and_points_editors_at_the_schema(default_bake):
    assert VALIDATOR.is_valid(load_yaml(default_bake / "packflow.yaml"))
    first = (default_bake / "packflow.yaml").read_text().splitlines()[0]
    url = first.removeprefix("# yaml-language-server: $schema=")
    assert url != first and url.endswith("/packflow_export/packflow.schema.json")
    if url.startswith("file://"):  # baked from a local clone: the pinned clone's own schema
        assert json.loads(Path(url.removeprefix("file://")).read_text()) == SCHEMA
    else:
        assert url.startswith("https://")


values = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False),
                   st.sampled_from(["1.0", "v1", "3.11", "3.10.2", "inference:Backend", "a.b:C", "local", "module", "x y"]),
                   st.lists(st.sampled_from(["a@example.org", 1, None]), max_size=2),
                   st.dictionaries(st.sampled_from(["A", "license"]), st.sampled_from(["1", 1]), max_size=2))
keys = st.sampled_from(["name", "version", "description", "maintainers", "inference_backend", "loader",
                        "python_version", "env", "backend_config", "extra", "verison"])
base = {"name": "x", "version": "1.0", "inference_backend": "inference:Backend", "python_version": "3.11"}


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(keys, values, max_size=3), removed=st.sets(st.sampled_from(sorted(base)), max_size=1))
def test_property_schema_and_check_agree(changes, removed):
    config = {k: v for k, v in {**base, **changes}.items() if k not in removed}
    text = yaml.safe_dump(config)
    assert VALIDATOR.is_valid(yaml.safe_load(text)) == (not check_errors(text)), text
