"""The JSON Schema of packflow.yaml, generated from the naming rules and the bundled policy.

packflow.schema.json is this module's output, committed so that generated projects' `$schema` line can point at
it; a fork that edits policy.yaml (required_fields, allowed_licenses) regenerates it with one command,
`python -m packflow_export.schema --write`, and tests/test_schema_generation.py fails while it is stale.
"""

from __future__ import annotations

import argparse
import json
import keyword
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from . import naming

SCHEMA_FILE = Path(__file__).with_name("packflow.schema.json")
# check reads a required field at the top level when packflow.yaml has it there, else under extra:
TOP_LEVEL_FIELDS = ("name", "version", "description", "maintainers", "inference_backend", "loader", "python_version",
                    "env", "backend_config", "extra")
# What check counts as empty (rules/config.py, PF214): null, blank text, an empty list or mapping.
NON_EMPTY: dict[str, Any] = {"not": {"anyOf": [
    {"type": "null"}, {"type": "string", "pattern": "^\\s*$"}, {"type": "array", "maxItems": 0},
    {"type": "object", "maxProperties": 0}]}}


def _base_properties() -> dict[str, Any]:
    """The fields Packflow reads, with the naming rules' own patterns (tests/test_naming.py compares them)."""
    keywords = "(^|[.:])(" + "|".join(sorted(keyword.kwlist)) + ")([.:]|$)"
    return {
        "name": {"type": "string", "pattern": f"^{naming.NAME_PATTERN.pattern}$",
                 "description": "Project name: letters, digits, '-' and '_', starting with a letter, at most "
                                f"{naming.MAX_NAME_LENGTH} characters. Names the archive.",
                 "maxLength": naming.MAX_NAME_LENGTH},
        "version": {"type": "string", "pattern": f"^{naming.VERSION_NORMAL_PATTERN.pattern}$",
                    "description": "PEP 440 version in normal form, quoted so YAML keeps it text (\"1.0\", not 1.0).",
                    "maxLength": naming.MAX_VERSION_LENGTH},
        "description": {"type": "string", "description": "One sentence on what the analytic does."},
        "maintainers": {"type": "array", "items": {"type": "string"}, "description": "Maintainers' email addresses."},
        "inference_backend": {"type": "string", "pattern": f"^{naming.BACKEND_PATTERN.pattern}$",
                              "not": {"pattern": keywords},
                              "description": "The backend as module:Class; the module may be dotted "
                                             "(models.text:Scorer)."},
        "loader": {"enum": list(naming.LOADERS), "default": "local",
                   "description": "local: a .py file in the project; module: an importable module."},
        "python_version": {"type": "string", "pattern": f"^{naming.PYTHON_VERSION_PATTERN.pattern}$",
                           "description": "Python the backend runs on, X.Y or X.Y.Z, quoted (\"3.10\", not 3.10). "
                                          "Packflow assumes the running interpreter's when it is missing."},
        "env": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "Environment variables set before the backend loads."},
        "backend_config": {"type": "object", "description": "Keyword arguments for the backend's configuration model."},
        "extra": {"type": "object", "description": "Custom fields: license, organization, classification, ...",
                  "properties": {"license": {"type": "string", "description": "SPDX id of the license in LICENSE.txt."},
                                 "organization": {"type": "string"}, "project_name": {"type": "string"}},
                  "additionalProperties": True},
    }


def _require_extra(schema: dict[str, Any], field: str) -> None:
    """`extra` must exist and hold `field`."""
    if "extra" not in schema["required"]:
        schema["required"].append("extra")
    required = schema["properties"]["extra"].setdefault("required", [])
    if field not in required:
        required.append(field)


def _require(schema: dict[str, Any], field: str) -> None:
    """Make `field` required and non-empty where check looks for it: the top level if present there, else extra."""
    extra = schema["properties"]["extra"]
    required_in_extra = {"required": [field], "properties": {field: NON_EMPTY}}
    if field not in TOP_LEVEL_FIELDS:  # at the top level it is refused anyway (PF212): only extra can hold it
        _require_extra(schema, field)
        extra["properties"].setdefault(field, {}).update(NON_EMPTY, description="Required by the policy.")
        return
    schema.setdefault("allOf", []).append({
        "if": {"required": [field]},
        "then": {"properties": {field: NON_EMPTY}},
        "else": {"required": ["extra"], "properties": {"extra": required_in_extra}}})


def build_schema(required_fields: Sequence[str] = (), allowed_licenses: Sequence[str] = ()) -> dict[str, Any]:
    """The schema that agrees with check under a policy's required_fields and allowed_licenses."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Packflow project configuration (packflow.yaml)",
        "description": "What Packflow 0.4 reads from packflow.yaml. Unknown top-level keys are refused by Packflow: "
                       "put organisation fields under `extra`.",
        "type": "object",
        "required": ["name", "version", "inference_backend"],
        "additionalProperties": False,
        "properties": _base_properties(),
    }
    for field in required_fields:
        _require(schema, field)
    if allowed_licenses:
        _require_extra(schema, "license")
        schema["properties"]["extra"]["properties"]["license"]["enum"] = list(allowed_licenses)
    return schema


def render(schema: dict[str, Any]) -> str:
    """The schema as the committed file spells it (stable key order, two-space indent, final newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def schema_text(policy_path: Optional[Path] = None) -> str:
    """packflow.schema.json's expected content under a policy file (the bundled one by default)."""
    from .policy import load_policy

    policy = load_policy(policy_path)
    return render(build_schema(policy.required_fields, policy.allowed_licenses))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the schema, write it over packflow.schema.json (--write), or exit 1 when that file is stale (--check)."""
    parser = argparse.ArgumentParser(prog="python -m packflow_export.schema", description=main.__doc__)
    parser.add_argument("--policy", type=Path, help="policy file (default: the bundled policy.yaml)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write {SCHEMA_FILE.name} beside this module")
    action.add_argument("--check", action="store_true", help=f"exit 1 when {SCHEMA_FILE.name} is stale")
    options = parser.parse_args(argv)
    from .errors import UsageError

    try:
        text = schema_text(options.policy)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if options.write:
        SCHEMA_FILE.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {SCHEMA_FILE}")
    elif options.check:
        if SCHEMA_FILE.read_text(encoding="utf-8") != text:
            print(f"{SCHEMA_FILE} is stale: run python -m packflow_export.schema --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
