"""packflow.schema.json is generated from the naming rules and the bundled policy (packflow_export/schema.py): the
committed file is never stale, and under a fork's policy the generated schema requires what check requires."""

from __future__ import annotations

import jsonschema
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from packflow_export import schema
from packflow_export.policy import load_policy
from packflow_export.model.config import parse_config
from packflow_export.rules.config import config_findings

FORK_POLICY = "required_fields: [cost_center, description]\nallowed_licenses: [MPL-2.0, MIT]\n"
FORK_SCHEMA = jsonschema.Draft202012Validator(schema.build_schema(["cost_center", "description"], ["MPL-2.0", "MIT"]))


def test_the_committed_schema_is_generated_from_the_bundled_policy(capsys):
    assert schema.SCHEMA_FILE.read_text(encoding="utf-8") == schema.schema_text(), (
        "packflow_export/packflow.schema.json is stale: run python -m packflow_export.schema --write")
    assert schema.main(["--check"]) == 0


def test_check_mode_names_the_command_that_regenerates_a_stale_schema(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "packflow.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(schema, "SCHEMA_FILE", stale)
    assert schema.main(["--check"]) == 1
    assert "run python -m packflow_export.schema --write" in capsys.readouterr().err
    assert schema.main(["--write"]) == 0 and stale.read_text() == schema.schema_text()


def test_a_fork_policy_makes_editors_flag_a_missing_required_field(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(FORK_POLICY)
    validator = jsonschema.Draft202012Validator(yaml.safe_load(schema.schema_text(policy)))
    config = {"name": "x", "version": "1.0", "inference_backend": "inference:Backend", "description": "d",
              "extra": {"license": "MPL-2.0"}}
    messages = [error.message for error in validator.iter_errors(config)]
    assert messages == ["'cost_center' is a required property"]
    config["extra"]["license"] = "Apache-2.0"
    assert any("Apache-2.0" in error.message for error in validator.iter_errors(config))


def check_errors(text: str, policy) -> list:
    findings = config_findings(parse_config(text), policy)
    return [f.code for f in findings if f.code.startswith("PF2") and f.severity == "error"]


texts = st.one_of(st.none(), st.just(""), st.just("  "), st.text(max_size=6), st.integers(), st.just([]), st.just({}),
                  st.just(["a"]), st.sampled_from(["MPL-2.0", "MIT", "Apache-2.0"]))
base = {"name": "x", "version": "1.0", "inference_backend": "inference:Backend", "python_version": "3.11"}


@settings(max_examples=300, deadline=None)
@given(top=st.dictionaries(st.sampled_from(["description", "cost_center"]), texts, max_size=2),
       extra=st.one_of(st.none(), st.dictionaries(st.sampled_from(["cost_center", "description", "license"]), texts,
                                                  max_size=3)))
def test_property_generated_schema_and_check_agree_under_a_fork_policy(tmp_path_factory, top, extra):
    path = tmp_path_factory.getbasetemp() / "fork-policy.yaml"
    path.write_text(FORK_POLICY)
    config = {**base, **top, **({"extra": extra} if extra is not None else {})}
    text = yaml.safe_dump(config)
    assert FORK_SCHEMA.is_valid(yaml.safe_load(text)) == (not check_errors(text, load_policy(path))), text
