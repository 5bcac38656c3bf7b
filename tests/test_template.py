"""The template: real bakes, parsed back, and the baked project run with the real Packflow SDK."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import COOKIECUTTER_JSON, bake, bake_cli, load_yaml, run

EXPECTED_FILES = {".github/workflows/packflow.yml", ".github/dependabot.yml", ".gitignore", ".pre-commit-config.yaml", "LICENSE.txt", "MODEL_CARD.md", "README.md", "inference.py", "packflow.yaml",
                  "requirements.txt", "sample_inputs.json", "test_inference.py", "validate.py"}
JINJA_LEFTOVER = re.compile(r"(?<!\$){{|{%|%}|{#|#}|cookiecutter\.")  # `${{ }}` is GitHub Actions syntax
PACKFLOW_CLI = Path(sys.executable).with_name("packflow")


def project_files(project: Path) -> set:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def test_default_bake_has_exactly_the_expected_files(default_bake):
    assert default_bake.name == "my-analytic"
    assert project_files(default_bake) == EXPECTED_FILES


def test_default_bake_has_no_jinja_crlf_empty_file_or_pycache(default_bake):
    for path in default_bake.rglob("*"):
        assert "__pycache__" not in path.parts
        if path.is_file():
            data = path.read_bytes()
            assert data.strip(), f"{path.name} is empty"
            assert b"\r" not in data, f"{path.name} has CR line endings"
            text = data.decode("utf-8")
            assert not JINJA_LEFTOVER.search(text), f"{path.name}: {JINJA_LEFTOVER.search(text).group(0)}"
            assert text.endswith("\n"), f"{path.name} lacks a final newline"


def test_default_bake_packflow_yaml_values(default_bake):
    config = load_yaml(default_bake / "packflow.yaml")
    assert config == {
        "name": "my-analytic",
        "version": "0.1.0",
        "description": COOKIECUTTER_JSON["description"],
        "maintainers": ["maintainer@example.org"],
        "inference_backend": "inference:Backend",
        "loader": "local",
        "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
        "extra": {"project_name": "My Analytic", "organization": "Example Org", "license": "MIT"},
    }
    assert (default_bake / "requirements.txt").read_text() == "packflow==0.4.1\n"
    text = (default_bake / "packflow.yaml").read_text()
    assert text.index("# === METADATA ===") < text.index("# === RUNTIME ===") < text.index("# === CUSTOM ===")


def test_default_bake_documents(default_bake):
    card = (default_bake / "MODEL_CARD.md").read_text()
    for section in ("Capability Overview", "Ownership", "Implementation Details", "Model Details", "Data Details"):
        assert f"## {section}" in card
    assert "**Name:** My Analytic" in card and "**Version:** 0.1.0" in card
    assert "**Organization:** Example Org" in card and "- maintainer@example.org" in card
    placeholders = re.findall(r"\[TODO:[^\]]*\]", card)
    assert len(placeholders) >= 10
    leftovers = [line for line in card.splitlines() if "..." in line and "[TODO:" not in line]
    assert leftovers == []
    readme = (default_bake / "README.md").read_text()
    for needle in ("# My Analytic", COOKIECUTTER_JSON["description"], "pip install -r requirements.txt",
                   "python -m pytest", "python validate.py", "packflow_export"):
        assert needle in readme
    license_text = (default_bake / "LICENSE.txt").read_text()
    assert license_text.startswith("MIT License")
    assert re.search(r"Copyright \(c\) 20\d\d Example Org", license_text)


def test_baked_project_tests_and_validate_pass(default_bake, tmp_path):
    project = Path(shutil.copytree(default_bake, tmp_path / "p"))
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
    validate = run([sys.executable, "validate.py"], project)
    assert validate.returncode == 0, validate.stderr
    assert "3 sample records passed check_io" in validate.stdout


def test_validate_py_fails_clearly_when_backend_breaks_contract(default_bake, tmp_path):
    project = Path(shutil.copytree(default_bake, tmp_path / "p"))
    module = project / "inference.py"
    module.write_text(module.read_text().replace(
        'return [\n            {**result,', 'return [\n            {**result, "bad": object(),'))
    assert '"bad": object()' in module.read_text()
    result = run([sys.executable, "validate.py"], project)
    assert result.returncode == 1
    assert "breaks Packflow's I/O contract" in result.stderr and "JSON" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["inference:Backend", "model:TextScorer"])
def test_upstream_packflow_validate_passes(tmp_path, backend):
    project = bake(tmp_path, inference_backend=backend)
    result = run([str(PACKFLOW_CLI), "validate", str(project)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All validation checks passed" in result.stdout


@pytest.mark.parametrize("loader", ["local", "module"])
def test_dotted_backend_bakes_into_a_package_that_loads(tmp_path, loader):
    project = bake(tmp_path, inference_backend="models.text:Scorer", loader=loader)
    assert (project / "models" / "text.py").is_file()
    assert (project / "models" / "__init__.py").read_text().strip()
    assert not (project / "_inference_backend.py").exists() and not (project / "inference.py").exists()
    assert "class Scorer(InferenceBackend)" in (project / "models" / "text.py").read_text()
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert run([sys.executable, "validate.py"], project).returncode == 0


@pytest.mark.parametrize(
    "license_id, loader",
    list(itertools.product(COOKIECUTTER_JSON["license"], COOKIECUTTER_JSON["loader"])),
)
def test_option_matrix_bakes_and_parses(tmp_path, license_id, loader):
    project = bake(tmp_path, license=license_id, loader=loader)
    config = load_yaml(project / "packflow.yaml")
    assert config["loader"] == loader and config["extra"]["license"] == license_id
    license_text = (project / "LICENSE.txt").read_text()
    assert "Example Org" in license_text and not JINJA_LEFTOVER.search(license_text)
    expected = {"MIT": "MIT License", "Apache-2.0": "Apache License", "BSD-3-Clause": "Neither the name",
                "Proprietary": "All rights reserved"}[license_id]
    assert expected in license_text


HOSTILE = [
    'He said "hi": it\'s #1 \\ back\\slash',
    "yes", "null", "3.10", "- x", "*a", "&a", "!t", "[", "{", "~", "on", "0x1F", "1e3",
    "tab\tinside", "non-ASCII: café, naïve, 日本語", "emoji 🎉🚀 outside the BMP", '"""triple"""', "'''",
    "ends with backslash \\", "% percent %s {0}", "key: value # not a comment",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_answers_round_trip(tmp_path, value):
    project = bake(tmp_path, project_name=value, project_slug="hostile", description=value, organization=value)
    config = load_yaml(project / "packflow.yaml")
    assert config["description"] == value
    assert config["extra"]["project_name"] == value and config["extra"]["organization"] == value
    card = (project / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"**Name:** {value}" in card and f"**Organization:** {value}" in card
    assert value in (project / "LICENSE.txt").read_text(encoding="utf-8")
    compile((project / "inference.py").read_text(), "inference.py", "exec")


def test_non_ascii_is_written_readably_and_reads_back(tmp_path):
    name = "Fraud Scorer: v2 😀 café"
    project = bake(tmp_path, project_name=name, project_slug="fraud")
    text = (project / "packflow.yaml").read_text(encoding="utf-8")
    assert 'project_name: "Fraud Scorer: v2 😀 café"' in text and "\\U" not in text
    assert load_yaml(project / "packflow.yaml")["extra"]["project_name"] == name


def test_several_maintainers_become_a_yaml_list(tmp_path):
    project = bake(tmp_path, maintainers=" a@example.org,b.c@example.co.uk ,")
    assert load_yaml(project / "packflow.yaml")["maintainers"] == ["a@example.org", "b.c@example.co.uk"]


# Printable one-line text, no Jinja openers (cookiecutter renders answers as templates).
one_line_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc")) | st.just("\t"), min_size=1, max_size=40,
).filter(lambda s: s.strip() and not any(tok in s for tok in ("{{", "{%", "{#")))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=one_line_text, organization=one_line_text, project_name=one_line_text)
def test_property_answers_round_trip(tmp_path_factory, description, organization, project_name):
    project = bake(tmp_path_factory.mktemp("prop"), project_slug="prop", description=description,
                   organization=organization, project_name=project_name)
    config = load_yaml(project / "packflow.yaml")
    assert config["description"] == description
    assert config["extra"]["organization"] == organization
    assert config["extra"]["project_name"] == project_name
    card = (project / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert description in card and organization in card and project_name in card


INVALID = [
    ("project_slug", "1abc"), ("project_slug", "my analytic"), ("project_slug", "../escape"), ("project_slug", "a/b"),
    ("version", "one"), ("version", "1.0 beta"), ("version", "v1.0"),
    ("maintainers", "not-an-email"), ("maintainers", ""), ("maintainers", "a@example.org, bob"),
    ("python_version", "3"), ("python_version", "three.ten"), ("python_version", "3.11.x"),
    ("inference_backend", "inference"), ("inference_backend", "a:b:c"), ("inference_backend", "my-module:Backend"),
    ("inference_backend", "inference:class"), ("inference_backend", "json:Backend"), ("inference_backend", "validate:B"),
    ("inference_backend", "pkg.:Backend"),
    ("packflow_version", "latest"), ("packflow_version", "0.3.0"), ("packflow_version", "\n0.4.1"),
    ("project_slug", "a" * 240), ("maintainers", "a@b.org\udcff"),
    ("description", "two\nlines"), ("description", "   "), ("organization", "bell\x07"), ("project_name", ""),
]


@pytest.mark.parametrize("variable, value", INVALID)
def test_invalid_answer_is_refused_and_leaves_no_folder(tmp_path, variable, value):
    context = {variable: value}
    if variable != "project_slug":
        context["project_slug"] = "refused"
    out = tmp_path / "out"
    result = bake_cli(out, *(f"{key}={val}" for key, val in context.items()))
    assert result.returncode != 0
    assert f"ERROR: {variable}: " in result.stderr, result.stderr
    assert [p for p in out.iterdir() if not p.name.startswith(".")] == []
    assert not (tmp_path / "escape").exists()


def test_refused_bake_prints_the_command_that_keeps_the_good_answers(tmp_path):
    """Fix the FIXME in the printed command, run it, and the bake works with every other answer kept."""
    import shlex

    out = tmp_path / "out"
    result = bake_cli(out, "project_name=Fraud Scorer", "organization=Acme \"Labs\"", "version=one", "license=Apache-2.0")
    assert result.returncode != 0 and "ERROR: version:" in result.stderr
    (command,) = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("cookiecutter ")]
    words = shlex.split(command)
    assert "version=FIXME" in words and "license=Apache-2.0" in words and 'organization=Acme "Labs"' in words
    fixed = [("version=1.0.0" if word == "version=FIXME" else word) for word in words]
    rerun = subprocess.run([str(Path(sys.executable).with_name("cookiecutter")), *fixed[1:]], capture_output=True,
                           text=True, cwd=tmp_path, env=dict(os.environ, HOME=str(tmp_path)), timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    config = load_yaml(out / "fraud-scorer" / "packflow.yaml")
    assert config["version"] == "1.0.0" and config["extra"]["organization"] == 'Acme "Labs"'
    assert config["extra"]["license"] == "Apache-2.0"


@pytest.mark.parametrize("variable", [name for name, value in COOKIECUTTER_JSON.items() if isinstance(value, list)])
def test_choice_outside_the_list_is_refused_by_cookiecutter_and_leaves_no_folder(tmp_path, variable):
    result = bake_cli(tmp_path / "out", f"{variable}=bogus")
    assert result.returncode != 0
    assert f"choice variable {variable}" in result.stderr
    assert [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")] == []
