"""rules/backend.py (PF5xx): the backend module as Python reads it, never imported."""

from __future__ import annotations

import ast

from helpers import codes, edit, findings_of, inspect

from packflow_export.rules.backend import TEMPLATE_EXECUTE_FINGERPRINTS, execute_fingerprint


def test_template_execute_fingerprint_is_pinned_to_the_template(default_bake):
    tree = ast.parse((default_bake / "inference.py").read_text())
    (execute,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "execute"]
    assert execute_fingerprint(execute) in TEMPLATE_EXECUTE_FINGERPRINTS


def test_changed_execute_is_not_reported(project):
    edit(project / "inference.py", "results = []", "results = []  # real model\n        self.ready()")
    assert "PF504" not in codes(inspect(project))


def test_backend_syntax_error_with_line(project):
    (project / "inference.py").write_text("import os\n\nclass Backend(:\n    pass\n")
    report = inspect(project)
    assert not report.ok and findings_of(report, "PF501")[0]["line"] == 3


def test_backend_class_missing(project):
    edit(project / "inference.py", "class Backend(InferenceBackend):", "class Other(InferenceBackend):")
    assert findings_of(inspect(project), "PF502")[0]["message"] == "class Backend is not defined in inference.py"


def test_backend_class_imported_under_the_name_counts(project):
    (project / "inference.py").write_text("from elsewhere import Scorer as Backend\n")
    assert "PF502" not in codes(inspect(project))


def test_backend_not_subclassing(project):
    edit(project / "inference.py", "class Backend(InferenceBackend):", "class Backend(object):")
    assert findings_of(inspect(project), "PF503")[0]["line"] == 18


def test_a_local_class_named_inference_backend_is_not_the_sdk(project):
    edit(project / "inference.py", "class Backend(InferenceBackend):",
         "class InferenceBackend:\n    pass\n\n\nclass Backend(InferenceBackend):")
    (finding,) = findings_of(inspect(project), "PF503")
    assert "defines its own class of that name" in finding["message"]


def test_a_class_defined_in_a_block_is_found(project):
    source = (project / "inference.py").read_text()
    body = source[source.index("class Backend"):]
    indented = "\n".join(("    " + line) if line else line for line in body.splitlines())
    (project / "inference.py").write_text(source[:source.index("class Backend")] + "if True:\n" + indented + "\n")
    report = inspect(project)
    assert not codes(report) & {"PF502", "PF503"} and "PF504" in codes(report)


def test_sdk_imported_as_a_module_counts(project):
    edit(project / "inference.py", "from packflow import InferenceBackend", "import packflow as pf")
    edit(project / "inference.py", "class Backend(InferenceBackend):", "class Backend(pf.InferenceBackend):")
    assert "PF503" not in codes(inspect(project))


def test_a_latin_1_coding_cookie_is_honoured(project):
    source = "# -*- coding: latin-1 -*-\n" + (project / "inference.py").read_text().replace("Example backend", "Exémple")
    (project / "inference.py").write_bytes(source.encode("latin-1"))
    report = inspect(project)
    assert not codes(report) & {"PF104", "PF501", "PF502"} and "PF504" in codes(report)


def test_project_code_is_never_executed(project, tmp_path):
    marker = tmp_path / "imported"
    module = project / "inference.py"
    module.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + module.read_text())
    (project / "validate.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (project / "test_inference.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    assert inspect(project).ok
    assert not marker.exists()
