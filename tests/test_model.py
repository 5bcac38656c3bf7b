"""The project model: one context per run, each fact parsed once and only when a check asks for it."""

from __future__ import annotations

from collections import Counter

import pytest

from helpers import exported_archive

from packflow_export.model import context as context_module
from packflow_export.model.context import ProjectContext
from packflow_export.model.options import RunOptions
from packflow_export.policy import load_policy


@pytest.fixture
def parses(monkeypatch) -> Counter:
    """How many times a run reads packflow.yaml, requirements.txt and each module."""
    counted: Counter = Counter()
    for name in ("load_config", "read_requirements", "parse_module"):
        original = getattr(context_module, name)

        def counting(*args, _name=name, _original=original):
            counted[_name if _name != "parse_module" else f"module {args[1]}"] += 1
            return _original(*args)
        monkeypatch.setattr(context_module, name, counting)
    return counted


def test_an_export_with_its_sbom_parses_each_file_once(project, tmp_path, parses):
    from packflow_export.exporter import export_project

    ctx = ProjectContext(project, load_policy(), RunOptions())
    result = export_project(ctx, tmp_path, sbom=True)
    assert result.sbom is not None and result.sbom.is_file()
    assert parses == Counter({"load_config": 1, "read_requirements": 1, "module inference.py": 1})


def test_verify_parses_the_archives_files_once(project, tmp_path, parses):
    from packflow_export.verify import verify_archive

    archive = exported_archive(project, tmp_path)
    assert verify_archive(archive).report.ok
    assert parses == Counter({"load_config": 1, "read_requirements": 1, "module inference.py": 1})


def test_a_context_reads_nothing_until_asked(project, parses):
    ctx = ProjectContext(project, load_policy(), RunOptions())
    assert not parses
    assert ctx.requirements.items[0].name == "packflow" and ctx.requirements is ctx.requirements
    assert parses == Counter({"read_requirements": 1})
