"""`python -m packflow_export check`: every rule firing and not firing, exit codes, JSON, policy, bad input."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, check_json, codes, run_cli

from packflow_export.checks import TEMPLATE_EXECUTE_FINGERPRINTS, execute_fingerprint
from packflow_export.findings import RULES


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def findings_of(report: dict, code: str) -> list:
    return [f for f in report["findings"] if f["code"] == code]


# The default bake -----------------------------------------------------------------------------------

def test_default_bake_is_ready_with_only_documentation_and_example_warnings(project):
    code, report = check_json(project)
    assert code == 0
    assert report["ok"] is True and report["errors"] == 0
    assert codes(report) == {"PF301", "PF504"}
    placeholder_lines = [f["line"] for f in findings_of(report, "PF301")]
    card = (project / "MODEL_CARD.md").read_text().splitlines()
    assert placeholder_lines and all("[TODO:" in card[line - 1] for line in placeholder_lines)
    assert len(placeholder_lines) == sum(line.count("[TODO:") for line in card) - 1  # the line explaining them is code


def test_json_shape(project):
    _, report = check_json(project)
    assert set(report) == {"project", "ok", "errors", "warnings", "findings"}
    assert report["project"] == str(project.resolve())
    assert isinstance(report["ok"], bool) and isinstance(report["errors"], int) and isinstance(report["warnings"], int)
    for item in report["findings"]:
        assert set(item) == {"code", "severity", "path", "line", "message", "hint"}
        assert item["code"] in RULES and item["severity"] in ("error", "warning", "info")
        assert item["path"] is None or isinstance(item["path"], str)
        assert item["line"] is None or isinstance(item["line"], int)
    assert report["warnings"] == sum(f["severity"] == "warning" for f in report["findings"])


def test_human_output_is_linter_style(project):
    result = run_cli("check", project)
    lines = result.stdout.splitlines()
    finding_lines = [line for line in lines if re.match(r"^\S+: PF\d{3} ", line)]
    assert finding_lines and all(
        re.match(r"^[^\s:]+(:\d+)?: PF\d{3} (error|warning|info): .+", line) for line in finding_lines)
    assert "MODEL_CARD.md:19: PF301 warning: placeholder left: [TODO: YYYY-MM-DD of this release]" in lines
    assert re.match(r".*: 0 error\(s\), \d+ warning\(s\), 0 info: ready for release$", lines[-1])
    assert "\033[" not in result.stdout
    assert any(line.startswith("    hint: ") for line in lines)


def test_colour_only_on_a_tty(project, monkeypatch):
    from packflow_export.__main__ import print_report
    from packflow_export.checks import run_checks
    from packflow_export.config import load_policy

    class Terminal:
        def __init__(self):
            self.parts = []

        def write(self, text):
            self.parts.append(text)

        def isatty(self):
            return True

    report = run_checks(project, load_policy())
    terminal = Terminal()
    monkeypatch.delenv("NO_COLOR")
    print_report(report, terminal)
    assert "\033[33mwarning\033[0m" in "".join(terminal.parts)


def test_template_execute_fingerprint_is_pinned_to_the_template(default_bake):
    tree = ast.parse((default_bake / "inference.py").read_text())
    (execute,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "execute"]
    assert execute_fingerprint(execute) in TEMPLATE_EXECUTE_FINGERPRINTS


def test_changed_execute_is_not_reported(project):
    edit(project / "inference.py", "results = []", "results = []  # real model\n        self.ready()")
    _, report = check_json(project)
    assert "PF504" not in codes(report)


# packflow.yaml --------------------------------------------------------------------------------------

CONFIG_CASES = [
    # (old text, new text, expected code, expected line, words in the message)
    ('name: "my-analytic"', 'name: "9lives"', "PF203", 3, "must start with a letter"),
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
    ("extra:\n", "verison: 2\nextra:\n", "PF212", 17, "did you mean 'version'"),
    ("extra:\n", "maintainer: x\nextra:\n", "PF212", 17, "did you mean 'maintainers'"),
    ("extra:\n", "inference-backend: x\nextra:\n", "PF212", 17, "did you mean 'inference_backend'"),
    ("extra:\n", "classification: internal\nextra:\n", "PF212", 17, "Packflow refuses"),
    ("extra:\n", "env: [1]\nextra:\n", "PF216", 17, "env holds a list"),
    ("extra:\n", "env:\n  RETRIES: 3\nextra:\n", "PF213", 18, "RETRIES"),
]


@pytest.mark.parametrize("old, new, code, line, words", CONFIG_CASES)
def test_packflow_yaml_rule_fires(project, old, new, code, line, words):
    if code == "PF211":
        new = new.replace("3.8", "3.{}".format(sys.version_info[1] - 1))
    edit(project / "packflow.yaml", old, new)
    status, report = check_json(project)
    matching = findings_of(report, code)
    assert matching, report["findings"]
    assert any(words in f["message"] for f in matching), matching
    assert any(f["line"] == line and f["path"] == "packflow.yaml" for f in matching), matching
    assert status == (1 if RULES[code].severity == "error" else 0)


@pytest.mark.parametrize("old, new, hint", [
    ('version: "0.1.0"', "version: 1.0", 'Quote it: version: "1.0".'),
    ('python_version: "3.11.7"', "python_version: 3.10", 'Quote it: python_version: "3.10".'),
    ('name: "my-analytic"', "name: yes", 'Quote it: name: "yes".'),
    ('name: "my-analytic"', "name: null", 'Give it a quoted value, e.g. name: "my-analytic".'),
])
def test_yaml_type_traps_give_the_exact_fix(project, old, new, hint):
    edit(project / "packflow.yaml", old, new)
    _, report = check_json(project)
    assert hint in [f["hint"] for f in findings_of(report, "PF213")]


def test_unquoted_values_that_yaml_reads_as_text_are_fine(project):
    path = project / "packflow.yaml"
    text = path.read_text().replace('"', "")
    path.write_text(text)
    status, report = check_json(project)
    assert status == 0 and not codes(report, "error")


# Files and documentation ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["MODEL_CARD.md", "README.md", "LICENSE.txt"])
def test_recommended_document_missing_or_empty(project, name):
    (project / name).unlink()
    _, report = check_json(project)
    assert any(f["path"] == name and "missing" in f["message"] for f in findings_of(report, "PF103"))
    (project / name).write_text("  \n")
    _, report = check_json(project)
    assert any(f["path"] == name and "empty" in f["message"] for f in findings_of(report, "PF103"))


def test_required_files(project):
    (project / "requirements.txt").unlink()
    (project / "inference.py").unlink()
    status, report = check_json(project)
    assert status == 1
    assert {"PF101", "PF102"} <= codes(report, "error")


def test_local_loader_with_a_package_explains_the_loader(tmp_path):
    from conftest import bake

    project = bake(tmp_path, inference_backend="models.text:Scorer")
    text_py = project / "models" / "text.py"
    (project / "models" / "text").mkdir()
    text_py.rename(project / "models" / "text" / "__init__.py")
    _, report = check_json(project)
    (missing,) = findings_of(report, "PF102")
    assert missing["path"] == "models/text.py" and "loader: module" in missing["hint"]
    edit(project / "packflow.yaml", 'loader: "local"', 'loader: "module"')
    _, report = check_json(project)
    assert "PF102" not in codes(report) and "PF502" not in codes(report)


def test_upstream_template_placeholders_are_found(project):
    (project / "MODEL_CARD.md").write_text("# Model Card\n\n{introduction}\n\n**Name:** ...\n\n- {POC Name, Email}\n")
    (project / "README.md").write_text("# Project Name\n\nBrief description of the analytic.\n\n```\n{name}\n```\n")
    _, report = check_json(project)
    found = {(f["path"], f["line"]) for f in findings_of(report, "PF301")}
    assert found == {("MODEL_CARD.md", 3), ("MODEL_CARD.md", 5), ("MODEL_CARD.md", 7), ("README.md", 1), ("README.md", 3)}


def test_filled_model_card_has_no_placeholders(project):
    card = project / "MODEL_CARD.md"
    card.write_text(re.sub(r"\[TODO:[^\]]*\]", "Filled in.", card.read_text()))
    _, report = check_json(project)
    assert "PF301" not in codes(report)


def test_model_card_disagreeing_with_packflow_yaml(project):
    edit(project / "MODEL_CARD.md", "**Version:** 0.1.0", "**Version:** 0.0.9")
    edit(project / "MODEL_CARD.md", "**Name:** My Analytic", "**Name:** Other Thing")
    _, report = check_json(project)
    messages = {f["line"]: f["message"] for f in findings_of(report, "PF302")}
    assert "0.0.9" in messages[17] and "Other Thing" in messages[11]


def test_license_text_must_match_declared_license(project):
    edit(project / "packflow.yaml", 'license: "MIT"', 'license: "Apache-2.0"')
    _, report = check_json(project)
    assert findings_of(report, "PF303")[0]["message"].startswith("LICENSE.txt does not read like Apache-2.0")
    edit(project / "packflow.yaml", 'license: "Apache-2.0"', 'license: "MIT"')
    _, report = check_json(project)
    assert "PF303" not in codes(report)


# requirements.txt -----------------------------------------------------------------------------------

REQUIREMENT_CASES = [
    ("numpy>=1.26", "PF404", 2),
    ("numpy", "PF404", 2),
    ("numpy==1.26.*", "PF404", 2),
    ("numpy==1.26.4\nnumpy==1.26.4", "PF406", 3),
    ("this is not a requirement!", "PF401", 2),
    ("--weird-option", "PF401", 2),
    ("-e .", "PF405", 2),
    ("./libs/helper", "PF405", 2),
    ("../wheels/helper-1.0-py3-none-any.whl", "PF405", 2),
    ("helper @ file:///opt/helper", "PF405", 2),
    ("-r missing.txt", "PF407", 2),
    ("-r ../outside.txt", "PF407", 2),
    ("-f ./wheels", "PF405", 2),
]


@pytest.mark.parametrize("extra, code, line", REQUIREMENT_CASES)
def test_requirement_rule_fires(project, extra, code, line):
    (project / "requirements.txt").write_text(f"packflow==0.4.1\n{extra}\n")
    (project.parent / "outside.txt").write_text("numpy==1.26.4\n")
    _, report = check_json(project)
    assert any(f["line"] == line and f["path"] == "requirements.txt" for f in findings_of(report, code)), report["findings"]


def test_good_requirements_pass(project):
    (project / "requirements.txt").write_text(
        "# pinned\n--index-url https://pypi.org/simple\npackflow==0.4.1  # the SDK\n"
        "numpy==1.26.4 ; python_version < '3.12'\nnumpy==2.1.0 ; python_version >= '3.12'\n"
        "scikit-learn==1.5.2 \\\n    --hash=sha256:abc\nhelper @ https://example.org/helper-1.0.tar.gz\n-r more.txt\n")
    (project / "more.txt").write_text("requests==2.32.3\n")
    _, report = check_json(project)
    assert not {c for c in codes(report) if c.startswith("PF4")}


def test_packflow_missing_and_unpinned(project):
    (project / "requirements.txt").write_text("numpy==1.26.4\n")
    status, report = check_json(project)
    assert status == 1 and "PF402" in codes(report)
    (project / "requirements.txt").write_text("packflow>=0.4\n")
    _, report = check_json(project)
    assert findings_of(report, "PF403")[0]["line"] == 1


def test_included_requirements_are_followed(project):
    (project / "requirements.txt").write_text("-r base.txt\n")
    (project / "base.txt").write_text("packflow==0.4.1\nnumpy\n")
    _, report = check_json(project)
    assert "PF402" not in codes(report)
    assert findings_of(report, "PF404")[0]["path"] == "base.txt"


# Backend --------------------------------------------------------------------------------------------

def test_backend_syntax_error_with_line(project):
    (project / "inference.py").write_text("import os\n\nclass Backend(:\n    pass\n")
    status, report = check_json(project)
    assert status == 1 and findings_of(report, "PF501")[0]["line"] == 3


def test_backend_class_missing(project):
    edit(project / "inference.py", "class Backend(InferenceBackend):", "class Other(InferenceBackend):")
    _, report = check_json(project)
    assert findings_of(report, "PF502")[0]["message"] == "class Backend is not defined in inference.py"


def test_backend_class_imported_under_the_name_counts(project):
    (project / "inference.py").write_text("from elsewhere import Scorer as Backend\n")
    _, report = check_json(project)
    assert "PF502" not in codes(report)


def test_backend_not_subclassing(project):
    edit(project / "inference.py", "class Backend(InferenceBackend):", "class Backend(object):")
    _, report = check_json(project)
    assert findings_of(report, "PF503")[0]["line"] == 18


def test_project_code_is_never_executed(project, tmp_path):
    marker = tmp_path / "imported"
    module = project / "inference.py"
    module.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + module.read_text())
    (project / "validate.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (project / "test_inference.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    status, _ = check_json(project)
    assert status == 0
    assert not marker.exists()


# Release hygiene ------------------------------------------------------------------------------------

def git(project, *args):
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def test_git_hygiene(project):
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "init")
    _, report = check_json(project)
    assert "PF601" not in codes(report)
    assert findings_of(report, "PF602")[0]["severity"] == "info"
    git(project, "tag", "v0.1.0")
    _, report = check_json(project)
    assert not codes(report) & {"PF601", "PF602", "PF603"}
    git(project, "tag", "v0.2.0")
    git(project, "tag", "-d", "v0.1.0")
    _, report = check_json(project)
    assert "v0.2.0" in findings_of(report, "PF603")[0]["message"]
    (project / "new.txt").write_text("x\n")
    _, report = check_json(project)
    assert "new.txt" in findings_of(report, "PF601")[0]["message"]


def test_no_git_findings_outside_a_work_tree(project):
    _, report = check_json(project)
    assert not codes(report) & {"PF601", "PF602", "PF603"}


# --run-tests ----------------------------------------------------------------------------------------

def test_run_tests_passes_on_a_fresh_bake(project):
    status, report = check_json(project, "--run-tests")
    assert status == 0 and not codes(report) & {"PF701", "PF702", "PF703"}
    assert not (project / "__pycache__").exists()


def test_run_tests_reports_failures_with_output(project):
    edit(project / "test_inference.py", "assert isinstance(backend, InferenceBackend)", "assert 1 == 2, 'deliberate'")
    edit(project / "validate.py", "    {\"text\": \"\"},\n", "    \"not a record\",\n")
    status, report = check_json(project, "--run-tests")
    assert status == 1
    assert "deliberate" in findings_of(report, "PF701")[0]["message"]
    assert "breaks Packflow's I/O contract" in findings_of(report, "PF702")[0]["message"]


def test_run_tests_timeout(project):
    (project / "test_slow.py").write_text("import time\n\ndef test_slow():\n    time.sleep(30)\n")
    status, report = check_json(project, "--run-tests", "--test-timeout", "3")
    assert status == 1 and "did not finish within 3 s" in findings_of(report, "PF701")[0]["message"]


# Exit codes, --strict, policy -----------------------------------------------------------------------

def test_exit_2_for_missing_path_file_and_non_project(tmp_path):
    for target, words in [(tmp_path / "nope", "no such directory"), (tmp_path, "not a Packflow project")]:
        result = run_cli("check", target)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "file").write_text("x")
    assert run_cli("check", tmp_path / "file").returncode == 2
    assert run_cli("check", "--no-such-option").returncode == 2


def test_strict_makes_warnings_block(project):
    assert check_json(project, "--strict")[0] == 1
    result = run_cli("check", project, "--strict")
    assert "(strict: warnings block too)" in result.stdout.splitlines()[-1]


def write_policy(tmp_path, text):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_policy_strict_and_severity(project, tmp_path):
    assert check_json(project, "--policy", write_policy(tmp_path, "strict: true\n"))[0] == 1
    status, report = check_json(project, "--policy", write_policy(tmp_path, "severity: {PF301: error, PF504: 'off'}\n"))
    assert status == 1
    assert codes(report, "error") == {"PF301"} and "PF504" not in codes(report)


def test_policy_required_fields(project, tmp_path):
    policy = write_policy(tmp_path, "required_fields: [classification, description]\n")
    status, report = check_json(project, "--policy", policy)
    assert status == 1 and "'classification'" in findings_of(report, "PF214")[0]["message"]
    assert len(findings_of(report, "PF214")) == 1
    edit(project / "packflow.yaml", "extra:\n", "extra:\n  classification: internal\n")
    assert check_json(project, "--policy", policy)[0] == 0


def test_policy_allowed_licenses(project, tmp_path):
    status, report = check_json(project, "--policy", write_policy(tmp_path, "allowed_licenses: [Apache-2.0]\n"))
    assert status == 1 and "'MIT' is not allowed" in findings_of(report, "PF215")[0]["message"]
    assert check_json(project, "--policy", write_policy(tmp_path, "allowed_licenses: [MIT]\n"))[0] == 0


@pytest.mark.parametrize("text, words", [
    ("stritc: true\n", "unknown key(s) stritc"),
    ("strict: maybe\n", "strict: must be true or false"),
    ("severity: {PF999: error}\n", "unknown rule code 'PF999'"),
    ("severity: {PF301: fatal}\n", "must be one of error, warning, info, off"),
    ("required_fields: classification\n", "required_fields: must be a list"),
    ("- a\n- b\n", "must be a mapping"),
    ("strict: [\n", "not valid YAML"),
])
def test_bad_policy_is_exit_2(project, tmp_path, text, words):
    result = run_cli("check", project, "--policy", write_policy(tmp_path, text))
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr


def test_missing_policy_file_is_exit_2(project, tmp_path):
    result = run_cli("check", project, "--policy", tmp_path / "none.yaml")
    assert result.returncode == 2 and "none.yaml" in result.stderr


def test_bundled_policy_is_valid_and_neutral():
    from packflow_export.config import load_policy

    policy = load_policy()
    assert policy.strict is False and policy.severity == {} and policy.required_fields == []
    assert {"MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary"} <= set(policy.license_markers)


# Bad input corpus -----------------------------------------------------------------------------------

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
    "duplicate anchors and a tag": (b"name: !!python/object:os.system x\n", "PF201"),
    "huge": (None, "PF104"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_packflow_yaml_gives_a_finding_not_a_traceback(project, case):
    content, code = BAD_CONFIGS[case]
    path = project / "packflow.yaml"
    if content is None:
        with path.open("wb") as handle:
            handle.write(b"name: x\n" + b"# padding padding padding padding padding padding padding\n" * 900_000)
    else:
        path.write_bytes(content)
    started = time.perf_counter()
    status, report = check_json(project)
    assert time.perf_counter() - started < 20
    assert status == 1
    matching = findings_of(report, code)
    assert matching and matching[0]["path"] == "packflow.yaml", report["findings"]
    if case == "syntax error":
        assert matching[0]["line"] == 2 and "column" in matching[0]["message"]
    if case == "tab indentation":
        assert matching[0]["line"] == 2


def test_bom_is_accepted(project):
    path = project / "packflow.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    status, report = check_json(project)
    assert status == 0 and not codes(report, "error")


def test_directory_where_a_file_is_expected(project):
    (project / "packflow.yaml").unlink()
    (project / "packflow.yaml").mkdir()
    (project / "README.md").unlink()
    (project / "README.md").mkdir()
    status, report = check_json(project)
    assert status == 1
    assert {f["path"] for f in findings_of(report, "PF104")} == {"packflow.yaml", "README.md"}


def test_unreadable_file(project):
    path = project / "MODEL_CARD.md"
    path.unlink()
    if os.geteuid() == 0:  # root reads any mode; a read of this process's own memory file fails with EIO
        path.symlink_to("/proc/self/mem")
    else:
        path.write_text("x")
        path.chmod(0)
    status, report = check_json(project)
    assert any(f["path"] == "MODEL_CARD.md" and "cannot be read" in f["message"] for f in findings_of(report, "PF104"))


def test_fifo_is_not_read(project):
    (project / "LICENSE.txt").unlink()
    os.mkfifo(project / "LICENSE.txt")
    result = run_cli("check", project, "--json", timeout=20)
    report = json.loads(result.stdout)
    assert any(f["path"] == "LICENSE.txt" for f in findings_of(report, "PF104"))


# Documentation of the rules and start-up cost -------------------------------------------------------

def test_readme_documents_every_rule():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for code, rule in RULES.items():
        assert f"| {code} | {rule.severity} | {rule.summary} | {rule.fix} |" in readme


def test_help_imports_nothing_heavy():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "packflow_export", "--help"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not {"yaml", "packaging", "pathspec", "json", "zipfile"} & imported


# Properties over open-ended YAML --------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
scalars = st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                    st.sampled_from(["inference:Backend", "local", "module", "3.11", "1.0.0", "a@example.org"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                      max_leaves=6)
keys = st.sampled_from(["name", "version", "description", "maintainers", "inference_backend", "loader",
                        "python_version", "env", "backend_config", "extra", "verison", "custom"])


@SETTINGS
@given(text=st.text(max_size=300))
def test_property_any_text_as_packflow_yaml_gives_findings_not_exceptions(project, text):
    from packflow_export.checks import run_checks
    from packflow_export.config import load_policy

    (project / "packflow.yaml").write_text(text, encoding="utf-8")
    report = run_checks(project, load_policy())
    assert all(f.code in RULES for f in report.findings)
    json.dumps(report.as_dict())


@SETTINGS
@given(config=st.dictionaries(keys, values, max_size=8))
def test_property_config_check_is_at_least_as_strict_as_upstream(project, config):
    """Whatever passes our packflow.yaml rules, upstream Packflow's own config model accepts."""
    import yaml
    from packflow.loaders.config import PackflowConfig
    from pydantic import ValidationError

    from packflow_export.checks import run_checks
    from packflow_export.config import load_policy

    (project / "packflow.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    report = run_checks(project, load_policy())
    config_errors = [f for f in report.findings if f.code.startswith("PF2") and f.severity == "error"]
    try:
        PackflowConfig(**config)
        upstream_accepts = True
    except (ValidationError, TypeError):
        upstream_accepts = False
    if not config_errors:
        assert upstream_accepts, config


def test_project_ignored_by_an_enclosing_repository_gets_no_git_findings(project):
    git(project.parent, "init", "-q")
    (project.parent / ".gitignore").write_text(f"/{project.name}/\n")
    git(project.parent, "add", ".gitignore")
    git(project.parent, "commit", "-qm", "outer")
    _, report = check_json(project)
    assert not codes(report) & {"PF601", "PF602", "PF603"}
