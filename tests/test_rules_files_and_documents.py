"""rules/files.py (PF1xx) and rules/documents.py (PF3xx): files present and readable, documents filled in and
agreeing with packflow.yaml."""

from __future__ import annotations

import os
import re

import pytest

from helpers import bake, codes, edit, findings_of, inspect


@pytest.mark.parametrize("name", ["MODEL_CARD.md", "README.md", "LICENSE.txt"])
def test_recommended_document_missing_or_empty(project, name):
    (project / name).unlink()
    assert any(f["path"] == name and "missing" in f["message"] for f in findings_of(inspect(project), "PF103"))
    (project / name).write_text("  \n")
    assert any(f["path"] == name and "empty" in f["message"] for f in findings_of(inspect(project), "PF103"))


def test_required_files(project):
    (project / "requirements.txt").unlink()
    (project / "inference.py").unlink()
    report = inspect(project)
    assert not report.ok and {"PF101", "PF102"} <= codes(report, "error")


def test_local_loader_with_a_package_explains_the_loader(tmp_path):
    project = bake(tmp_path, inference_backend="models.text:Scorer")
    (project / "models" / "text").mkdir()
    (project / "models" / "text.py").rename(project / "models" / "text" / "__init__.py")
    (missing,) = findings_of(inspect(project), "PF102")
    assert missing["path"] == "models/text.py" and "loader: module" in missing["hint"]
    edit(project / "packflow.yaml", 'loader: "local"', 'loader: "module"')
    assert not codes(inspect(project)) & {"PF102", "PF502"}


def test_directory_where_a_file_is_expected(project):
    (project / "packflow.yaml").unlink()
    (project / "packflow.yaml").mkdir()
    (project / "README.md").unlink()
    (project / "README.md").mkdir()
    report = inspect(project)
    assert not report.ok
    assert {f["path"] for f in findings_of(report, "PF104")} >= {"packflow.yaml", "README.md"}


def test_unreadable_file_and_link_out_of_the_project(project, tmp_path):
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# elsewhere\n")
    (project / "MODEL_CARD.md").unlink()
    (project / "MODEL_CARD.md").symlink_to(outside)
    report = inspect(project)
    assert any(f["path"] == "MODEL_CARD.md" and "links outside the project" in f["message"]
               for f in findings_of(report, "PF104"))
    if os.geteuid() != 0:  # root reads any mode
        (project / "README.md").chmod(0)
        assert any(f["path"] == "README.md" and "cannot be read" in f["message"]
                   for f in findings_of(inspect(project), "PF104"))


def test_fifo_is_not_read(project):
    (project / "LICENSE.txt").unlink()
    os.mkfifo(project / "LICENSE.txt")
    report = inspect(project)  # would hang forever if the FIFO were opened for reading
    assert any(f["path"] == "LICENSE.txt" and "not a regular file" in f["message"] for f in findings_of(report, "PF104"))


# Documentation --------------------------------------------------------------------------------------------

def test_upstream_template_placeholders_are_found(project):
    (project / "MODEL_CARD.md").write_text("# Model Card\n\n{introduction}\n\n**Name:** ...\n\n- {POC Name, Email}\n")
    (project / "README.md").write_text("# Project Name\n\nBrief description of the analytic.\n\n```\n{name}\n```\n")
    found = {(f["path"], f["line"]) for f in findings_of(inspect(project), "PF301")}
    assert found == {("MODEL_CARD.md", 3), ("MODEL_CARD.md", 5), ("MODEL_CARD.md", 7), ("README.md", 1), ("README.md", 3)}


def test_every_placeholder_is_a_finding_with_its_line(project):
    card = (project / "MODEL_CARD.md").read_text().splitlines()
    lines = [f["line"] for f in findings_of(inspect(project), "PF301")]
    assert lines and all("[TODO:" in card[line - 1] for line in lines)
    assert len(lines) == sum(line.count("[TODO:") for line in card) - 1  # the line explaining them is inline code


def test_filled_model_card_has_no_placeholders(project):
    card = project / "MODEL_CARD.md"
    card.write_text(re.sub(r"\[TODO:[^\]]*\]", "Filled in.", card.read_text()))
    assert "PF301" not in codes(inspect(project))


def test_model_card_disagreeing_with_packflow_yaml(project):
    edit(project / "MODEL_CARD.md", "**Version:** 0.1.0", "**Version:** 0.0.9")
    edit(project / "MODEL_CARD.md", "**Name:** My Analytic", "**Name:** Other Thing")
    messages = {f["line"]: f["message"] for f in findings_of(inspect(project), "PF302")}
    assert "0.0.9" in messages[17] and "Other Thing" in messages[11]


def test_license_text_must_match_declared_license(project):
    declared = re.search(r'license: "[^"]*"', (project / "packflow.yaml").read_text()).group(0)  # the template's default
    other = 'license: "MIT"' if "Apache-2.0" in declared else 'license: "Apache-2.0"'
    edit(project / "packflow.yaml", declared, other)
    assert findings_of(inspect(project), "PF303")[0]["message"].startswith(
        f"LICENSE.txt does not read like {other.split(chr(34))[1]}")
    edit(project / "packflow.yaml", other, declared)
    assert "PF303" not in codes(inspect(project))
