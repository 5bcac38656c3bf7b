"""The template: bakes with pytest-cookies (real cookiecutter, in process), parsed back, and the baked project run
with the real Packflow SDK. Every expectation is read from the template's own data (cookiecutter.json, answers.json,
the bundled policy, templates/licenses/), so a fork that edits that data passes these tests unchanged."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import BIN, COOKIECUTTER_JSON, REPO, bake_cli, git_commit_all, load_yaml, run, template_copy

TEMPLATE = REPO / "{{cookiecutter.__project_folder}}"
PROJECT_FILES = {".gitignore", ".pre-commit-config.yaml", "LICENSE.txt", "MODEL_CARD.md", "README.md", "packflow.yaml",
                 "requirements.in", "requirements.txt", "sample_inputs.json", "test_inference.py", "validate.py"}
CHOICES = {name: value for name, value in COOKIECUTTER_JSON.items()
           if isinstance(value, list) and not name.startswith("_")}  # _extensions is no prompt
ANSWER_RULES = json.loads((REPO / "answers.json").read_text(encoding="utf-8"))["answers"]
POLICY = yaml.safe_load((REPO / "packflow_export" / "policy.yaml").read_text(encoding="utf-8"))
JINJA_LEFTOVER = re.compile(r"(?<!\$){{|{%|%}|{#|#}|cookiecutter\.")  # `${{ }}` is GitHub Actions syntax
PACKFLOW_CLI = Path(sys.executable).with_name("packflow")


def project_files(project: Path) -> set:
    return {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}


def ci_files(ci: str) -> set:
    """What the chosen CI provider's folder puts at the project's root (nothing for a choice without a folder)."""
    files = TEMPLATE / "ci" / ci / "files"
    return {p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file()}


def expected_files(context: dict) -> set:
    backend = context["inference_backend"].split(":")[0].replace(".", "/") + ".py"
    packages = {f"{'/'.join(backend.split('/')[:depth])}/__init__.py" for depth in range(1, backend.count("/") + 1)}
    return PROJECT_FILES | ci_files(context["ci"]) | {backend} | packages


def folded(text: str) -> str:
    return " ".join(text.split()).lower()


def reads_like(text: str, license_id: str) -> bool:
    """The policy's markers for a license all appear in a text: how check (PF303) tells licenses apart."""
    return all(folded(marker) in folded(text) for marker in POLICY["license_markers"][license_id])


def baked(result) -> Path:
    assert result.exit_code == 0, result.exception
    return result.project_path


@pytest.fixture(scope="session")
def default(cookies_session):
    """One default bake for this module's read-only tests: (project, the answers cookiecutter rendered)."""
    result = cookies_session.bake()
    return baked(result), result.context


def test_default_bake_has_exactly_the_expected_files(default):
    project, context = default
    assert project.name == context["project_slug"]
    assert project_files(project) == expected_files(context)


def test_default_bake_has_no_jinja_crlf_empty_file_or_pycache(default):
    for path in default[0].rglob("*"):
        assert "__pycache__" not in path.parts
        if path.is_file():
            data = path.read_bytes()
            assert data.strip(), f"{path.name} is empty"
            assert b"\r" not in data, f"{path.name} has CR line endings"
            text = data.decode("utf-8")
            assert not JINJA_LEFTOVER.search(text), f"{path.name}: {JINJA_LEFTOVER.search(text).group(0)}"
            assert text.endswith("\n"), f"{path.name} lacks a final newline"


def test_default_bake_packflow_yaml_values(default):
    project, context = default
    config = load_yaml(project / "packflow.yaml")
    extra = {"project_name": context["project_name"], "organization": context["organization"],
             "license": context["license"]}
    extra.update({name: context[name] for name, rule in ANSWER_RULES.items() if rule.get("extra")})
    assert config == {
        "name": context["project_slug"],
        "version": context["version"],
        "description": context["description"],
        "maintainers": [m.strip() for m in context["maintainers"].split(",") if m.strip()],
        "inference_backend": context["inference_backend"],
        "loader": context["loader"],
        "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
        "extra": extra,
    }
    assert (project / "requirements.txt").read_text() == f"packflow=={context['packflow_version']}\n"
    direct = [line for line in (project / "requirements.in").read_text().splitlines() if not line.startswith("#")]
    assert direct == [f"packflow=={context['packflow_version']}"]  # what `lock` compiles: the same pin
    text = (project / "packflow.yaml").read_text()
    assert text.index("# === METADATA ===") < text.index("# === RUNTIME ===") < text.index("# === CUSTOM ===")


def test_default_bake_documents(default):
    project, context = default
    card = (project / "MODEL_CARD.md").read_text()
    for section in ("Capability Overview", "Ownership", "Implementation Details", "Model Details", "Data Details"):
        assert f"## {section}" in card
    assert f"**Name:** {context['project_name']}" in card and f"**Version:** {context['version']}" in card
    assert f"**Organization:** {context['organization']}" in card
    assert all(f"- {m.strip()}" in card for m in context["maintainers"].split(",") if m.strip())
    assert len(re.findall(r"\[TODO:[^\]]*\]", card)) >= 10
    assert [line for line in card.splitlines() if "..." in line and "[TODO:" not in line] == []
    readme = (project / "README.md").read_text()
    for needle in (f"# {context['project_name']}", context["description"], "pip install -r requirements.txt",
                   "python -m pytest", "python validate.py", "packflow_export"):
        assert needle in readme
    license_text = (project / "LICENSE.txt").read_text()
    assert reads_like(license_text, context["license"])
    assert re.search(rf"Copyright \(c\) 20\d\d,? {re.escape(context['organization'])}", license_text)


def test_license_choices_texts_and_markers_agree():
    """Each license choice has its text and the policy's markers; the markers tell every text from the others."""
    texts = {path.stem: path.read_text(encoding="utf-8") for path in (REPO / "templates" / "licenses").glob("*.txt")}
    assert set(CHOICES["license"]) == set(texts), "each license choice needs templates/licenses/<id>.txt, and back"
    missing = [license_id for license_id in texts if license_id not in POLICY["license_markers"]]
    assert not missing, f"policy.yaml's license_markers has no phrases for {missing}"
    for license_id, text in texts.items():
        assert reads_like(text, license_id), f"templates/licenses/{license_id}.txt lacks its own markers"
        confused = [other for other in texts if other != license_id and reads_like(text, other)]
        assert not confused, f"{license_id}'s text also reads like {confused}: check could not tell them apart"


def test_baked_project_tests_and_validate_pass(default, tmp_path):
    project = Path(shutil.copytree(default[0], tmp_path / "p"))
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout
    validate = run([sys.executable, "validate.py"], project)
    assert validate.returncode == 0, validate.stderr
    assert "3 sample records passed check_io" in validate.stdout


def test_validate_py_fails_clearly_when_backend_breaks_contract(default, tmp_path):
    project = Path(shutil.copytree(default[0], tmp_path / "p"))
    module = project / "inference.py"
    module.write_text(module.read_text().replace(
        'return [\n            {**result,', 'return [\n            {**result, "bad": object(),'))
    assert '"bad": object()' in module.read_text()
    result = run([sys.executable, "validate.py"], project)
    assert result.returncode == 1
    assert "breaks Packflow's I/O contract" in result.stderr and "JSON" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["inference:Backend", "model:TextScorer"])
def test_upstream_packflow_validate_passes(cookies, tmp_path, backend):
    project = baked(cookies.bake(extra_context={"inference_backend": backend}))
    result = run([str(PACKFLOW_CLI), "validate", str(project)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All validation checks passed" in result.stdout


@pytest.mark.parametrize("loader", CHOICES["loader"])
def test_dotted_backend_bakes_into_a_package_that_loads(cookies, loader):
    project = baked(cookies.bake(extra_context={"inference_backend": "models.text:Scorer", "loader": loader}))
    assert (project / "models" / "text.py").is_file()
    assert (project / "models" / "__init__.py").read_text().strip()
    assert not (project / "_inference_backend.py").exists() and not (project / "inference.py").exists()
    assert "class Scorer(InferenceBackend)" in (project / "models" / "text.py").read_text()
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert run([sys.executable, "validate.py"], project).returncode == 0


MATRIX = [dict(zip(CHOICES, values, strict=True)) for values in itertools.product(*CHOICES.values())]


@pytest.mark.parametrize("answers", MATRIX, ids=lambda answers: "-".join(answers.values()))
def test_option_matrix_bakes_exactly_the_chosen_files(cookies, answers):
    """Every combination of cookiecutter.json's choices bakes, with exactly its files and its answers."""
    result = cookies.bake(extra_context=answers)
    project = baked(result)
    assert project_files(project) == expected_files(result.context)
    config = load_yaml(project / "packflow.yaml")
    assert config["loader"] == answers["loader"] and config["extra"]["license"] == answers["license"]
    license_text = (project / "LICENSE.txt").read_text()
    assert result.context["organization"] in license_text and reads_like(license_text, answers["license"])
    for name in project_files(project):
        text = (project / name).read_text(encoding="utf-8")
        assert not JINJA_LEFTOVER.search(text), f"{name}: {JINJA_LEFTOVER.search(text).group(0)}"
    readme = (project / "README.md").read_text()
    fragment = TEMPLATE / "ci" / answers["ci"] / "README.md"
    assert ("## Continuous integration" in readme) == fragment.is_file()


HOSTILE = [
    'He said "hi": it\'s #1 \\ back\\slash',
    "yes", "null", "3.10", "- x", "*a", "&a", "!t", "[", "{", "~", "on", "0x1F", "1e3",
    "tab\tinside", "non-ASCII: café, naïve, 日本語", "emoji 🎉🚀 outside the BMP", '"""triple"""', "'''",
    "ends with backslash \\", "% percent %s {0}", "key: value # not a comment",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_answers_round_trip(cookies, value):
    project = baked(cookies.bake(extra_context={"project_name": value, "project_slug": "hostile", "description": value,
                                                "organization": value}))
    config = load_yaml(project / "packflow.yaml")
    assert config["description"] == value
    assert config["extra"]["project_name"] == value and config["extra"]["organization"] == value
    card = (project / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"**Name:** {value}" in card and f"**Organization:** {value}" in card
    assert value in (project / "LICENSE.txt").read_text(encoding="utf-8")
    compile((project / "inference.py").read_text(), "inference.py", "exec")


def test_non_ascii_is_written_readably_and_reads_back(cookies):
    name = "Fraud Scorer: v2 😀 café"
    project = baked(cookies.bake(extra_context={"project_name": name, "project_slug": "fraud"}))
    text = (project / "packflow.yaml").read_text(encoding="utf-8")
    assert 'project_name: "Fraud Scorer: v2 😀 café"' in text and "\\U" not in text
    assert load_yaml(project / "packflow.yaml")["extra"]["project_name"] == name


def test_several_maintainers_become_a_yaml_list(cookies):
    project = baked(cookies.bake(extra_context={"maintainers": " a@example.org,b.c@example.co.uk ,"}))
    assert load_yaml(project / "packflow.yaml")["maintainers"] == ["a@example.org", "b.c@example.co.uk"]


# Printable one-line text, no Jinja openers (cookiecutter renders answers as templates).
one_line_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc")) | st.just("\t"), min_size=1, max_size=40,
).filter(lambda s: s.strip() and not any(tok in s for tok in ("{{", "{%", "{#")))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=one_line_text, organization=one_line_text, project_name=one_line_text)
def test_property_answers_round_trip(cookies_session, description, organization, project_name):
    result = cookies_session.bake(extra_context={"project_slug": "prop", "description": description,
                                                 "organization": organization, "project_name": project_name})
    project = baked(result)
    config = load_yaml(project / "packflow.yaml")
    assert config["description"] == description
    assert config["extra"]["organization"] == organization
    assert config["extra"]["project_name"] == project_name
    card = (project / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert description in card and organization in card and project_name in card
    shutil.rmtree(project)


INVALID = [
    ("project_slug", "1abc"), ("project_slug", "my analytic"), ("project_slug", "../escape"), ("project_slug", "a/b"),
    ("version", "one"), ("version", "1.0 beta"), ("version", "v1.0"),
    ("maintainers", "not-an-email"), ("maintainers", ""), ("maintainers", "a@example.org, bob"),
    ("python_version", "3"), ("python_version", "three.ten"), ("python_version", "3.11.x"),
    ("inference_backend", "inference"), ("inference_backend", "a:b:c"), ("inference_backend", "my-module:Backend"),
    ("inference_backend", "inference:class"), ("inference_backend", "json:Backend"),
    ("inference_backend", "validate:B"), ("inference_backend", "pkg.:Backend"),
    ("packflow_version", "latest"), ("packflow_version", "0.3.0"), ("packflow_version", "\n0.4.1"),
    ("project_slug", "a" * 240), ("maintainers", "a@b.org\udcff"),
    ("description", "two\nlines"), ("description", "   "), ("organization", "bell\x07"), ("project_name", ""),
]


@pytest.mark.parametrize("variable, value", INVALID)
def test_invalid_answer_is_refused_and_leaves_no_folder(cookies, capfd, tmp_path, variable, value):
    context = {variable: value}
    if variable != "project_slug":
        context["project_slug"] = "refused"
    result = cookies.bake(extra_context=context)
    assert result.exit_code != 0 and result.project_path is None
    assert f"ERROR: {variable}: " in capfd.readouterr().err
    outputs = tmp_path / "cookies"  # pytest-cookies bakes into cookies/bake00 of the test's own folder
    assert [p.relative_to(outputs).as_posix() for p in outputs.rglob("*")] == ["bake00"]


def test_refused_bake_prints_the_command_that_keeps_the_good_answers(tmp_path, monkeypatch):
    """Run as the README's setup does (.venv/bin/cookiecutter, not on PATH): the printed command starts with that
    same program, keeps every good answer, carries the suggested fix of a fixable one and leaves a refused slug
    empty; fill that in, run the command as printed, and the bake works."""
    venv = tmp_path / ".venv"
    venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != BIN))
    out = tmp_path / "out"
    answers = ["project_name=Fraud Scorer", "project_slug=1fraud", 'organization=Acme "Labs"', "version=1.0-beta",
               "license=" + CHOICES["license"][-1]]
    refused = run([".venv/bin/cookiecutter", "--no-input", "-o", str(out), str(REPO), *answers], tmp_path)
    assert refused.returncode != 0 and "ERROR: version:" in refused.stderr and "ERROR: project_slug:" in refused.stderr
    assert not out.exists() or list(out.iterdir()) == []
    (command,) = [line.strip() for line in refused.stderr.splitlines() if line.strip().startswith(".venv/bin/")]
    words = shlex.split(command)
    assert words[0] == ".venv/bin/cookiecutter"
    assert "version=1.0b0" in words and "project_slug=" in words and "FIXME" not in command
    assert 'organization=Acme "Labs"' in words and f"license={CHOICES['license'][-1]}" in words
    fixed = [("project_slug=fraud" if word == "project_slug=" else word) for word in words]
    rerun = run(fixed, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    config = load_yaml(out / "fraud" / "packflow.yaml")
    assert config["version"] == "1.0b0" and config["extra"]["organization"] == 'Acme "Labs"'
    assert config["extra"]["license"] == CHOICES["license"][-1] and config["extra"]["project_name"] == "Fraud Scorer"


def test_a_refused_name_leaves_the_slug_to_be_derived_again(cookies, capfd):
    result = cookies.bake(extra_context={"project_name": "Fraud\x07Scorer", "version": "1.0"})
    assert result.exit_code != 0
    (command,) = [line.strip() for line in capfd.readouterr().err.splitlines() if " --no-input " in line]
    words = shlex.split(command)
    assert "project_name=" in words and not any(w.startswith("project_slug=") for w in words)
    assert "version=1.0" in words


@pytest.mark.parametrize("variable", list(CHOICES))
def test_choice_outside_the_list_is_refused_by_cookiecutter_and_leaves_no_folder(tmp_path, variable):
    result = bake_cli(tmp_path / "out", f"{variable}=bogus")
    assert result.returncode != 0
    assert f"choice variable {variable}" in result.stderr
    assert [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")] == []


# A fork's own answers, as data: answers.json -----------------------------------------------------------------------

@pytest.fixture
def fork_with_an_org_field(tmp_path):
    """A copy of the template with a `cost_center` prompt, validated and written under extra: by answers.json."""
    fork = template_copy(tmp_path / "fork")
    settings = json.loads((fork / "cookiecutter.json").read_text())
    settings = {**{k: v for k, v in settings.items() if not k.startswith("_")}, "cost_center": "CC-0001",
                **{k: v for k, v in settings.items() if k.startswith("_")}}
    (fork / "cookiecutter.json").write_text(json.dumps(settings, indent=2) + "\n")
    rule = {"pattern": "CC-[0-9]{4}", "message": "must be CC- and four digits, e.g. CC-1234", "extra": True}
    rules = {"answers": {"cost_center": rule}}
    (fork / "answers.json").write_text(json.dumps(rules, indent=2) + "\n")
    git_commit_all(fork, "cost_center")
    return fork


def test_an_answer_validated_by_data_is_refused_with_its_message_and_rendered_under_extra(cookies, capfd,
                                                                                          fork_with_an_org_field):
    refused = cookies.bake(template=str(fork_with_an_org_field), extra_context={"cost_center": "1234"})
    assert refused.exit_code != 0
    errors = capfd.readouterr().err
    assert "ERROR: cost_center: '1234' must be CC- and four digits, e.g. CC-1234" in errors
    assert "cost_center=''" in errors
    project = baked(cookies.bake(template=str(fork_with_an_org_field), extra_context={"cost_center": "CC-4242"}))
    assert load_yaml(project / "packflow.yaml")["extra"]["cost_center"] == "CC-4242"
    assert 'cost_center: "CC-4242"' in (project / "packflow.yaml").read_text()


@pytest.mark.parametrize("rules, message", [
    ({"cost_centre": {"extra": True}}, "cost_centre: is not a prompt in cookiecutter.json"),
    ({"cost_center": {"pattern": "CC-.*"}}, 'cost_center: a "pattern" needs a "message"'),
    ({"cost_center": {"pattern": "(", "message": "m"}}, "cost_center: pattern '(' is not a regular expression"),
    ({"cost_center": {"patern": "x"}}, "cost_center: must be an object with some of pattern, message, extra"),
    ({"license": {"extra": True}}, "license: cannot be written under extra:"),
    ({"cost_center": {"pattern": 4, "message": "m"}}, "cost_center: pattern 4 is not a regular expression"),
    ({"cost_center": {"extra": "yes"}}, 'cost_center: "extra" must be true or false'),
])
def test_a_broken_answers_json_is_refused_naming_the_entry(cookies, capfd, fork_with_an_org_field, rules, message):
    (fork_with_an_org_field / "answers.json").write_text(json.dumps({"answers": rules}))
    result = cookies.bake(template=str(fork_with_an_org_field))
    assert result.exit_code != 0
    assert f"ERROR: answers.json: {message}" in capfd.readouterr().err
