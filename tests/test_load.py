"""load.py, _load_runner.py and rules/load.py: `verify --load` and `export --load` prove an archive installs, loads
and runs where nothing of the author's machine is present; the static rules catch what they can first."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import BIN, REPO, WHEELHOUSE, check_json, cli_json, codes, edit, exported_archive, findings_of, run_cli

pytestmark = pytest.mark.slow


def without_uv() -> dict:
    """An environment whose PATH has no uv: the load proof then builds with venv and pip."""
    return {"PATH": os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "uv").exists())}


def verify_load(archive, *args, env=None, timeout=600):
    """verify --load from the offline wheelhouse the README's test command downloads (no network)."""
    return cli_json("verify", archive, "--load", "--offline", "--find-links", WHEELHOUSE, *args, env=env,
                    timeout=timeout)


@pytest.fixture(scope="session")
def warm_cache(default_bake, tmp_path_factory, wheelhouse):
    """The session's load-proof cache holding the default bake's environment (built once, in the sandbox), so
    tests with a short --load-timeout time the proof, not the install."""
    on_path = {"PATH": str(BIN) + os.pathsep + os.environ["PATH"]}  # as every test has it (conftest)
    code, result = verify_load(exported_archive(default_bake, tmp_path_factory.mktemp("warm")), env=on_path)
    assert code == 0, result["findings"]
    return result


def phase(result, name) -> dict:
    return next(p for p in result["phases"] if p["phase"] == name)


def test_default_bake_loads_offline_with_pip_and_then_from_the_cache(project, tmp_path, wheelhouse):
    archive = exported_archive(project, tmp_path)
    cache = {"PACKFLOW_EXPORT_CACHE": str(tmp_path / "cache"), **without_uv()}
    code, result = verify_load(archive, env=cache)
    assert code == 0, result["findings"]
    environment = phase(result, "environment")
    assert environment["installer"] == "pip" and environment["cached"] is False and environment["ok"]
    assert phase(result, "check_io")["records"] == 3 and phase(result, "configure")["packflow"] == "0.4.1"
    assert [p["phase"] for p in result["phases"]] == ["extract", "environment", "configure", "import", "initialize",
                                                      "check_io"]
    code, again = verify_load(archive, env=cache)
    assert code == 0 and phase(again, "environment")["cached"] is True
    code, fresh = verify_load(archive, "--no-cache", env=cache)
    assert code == 0 and phase(fresh, "environment")["cached"] is False


def test_default_bake_loads_from_the_package_index_with_uv(project, tmp_path):
    assert shutil.which("uv"), ".ci/run installs uv into the test environment"
    archive = exported_archive(project, tmp_path)
    code, result = cli_json("verify", archive, "--load", env={"PACKFLOW_EXPORT_CACHE": str(tmp_path / "cache")})
    assert code == 0, result["findings"]
    assert phase(result, "environment")["installer"] == "uv" and phase(result, "check_io")["ok"]


def test_export_load_reports_success_only_for_an_archive_that_loads(project, tmp_path, wheelhouse):
    args = ("--load", "--offline", "--find-links", WHEELHOUSE)
    code, result = cli_json("export", project, "-o", tmp_path / "good", *args)
    assert code == 0 and result["archive"]["path"] and phase(result, "check_io")["ok"]
    edit(project / "inference.py", "        self.positive_words", "        import torch\n        self.positive_words")
    code, result = cli_json("export", project, "-o", tmp_path / "bad", *args)
    assert code == 1 and result["archive"] is None and "PF952" in codes(result)
    assert list((tmp_path / "bad").iterdir()) == []  # a release that does not load is taken back


# The cases real projects exposed: each as a project, with check's verdict and the load proof's --------------

def test_module_loader_under_src_is_an_error_and_does_not_load(project, tmp_path, wheelhouse):
    """The sklearn example's layout: loader: module, the module under src/."""
    (project / "src").mkdir()
    (project / "inference.py").rename(project / "src" / "sentiment.py")
    edit(project / "packflow.yaml", 'inference_backend: "inference:Backend"', 'inference_backend: "sentiment:Backend"')
    edit(project / "packflow.yaml", 'loader: "local"', 'loader: "module"')
    code, report = check_json(project)
    (finding,) = findings_of(report, "PF505")
    assert code == 1 and finding["path"] == "src/sentiment.py" and "will not load" in finding["message"]
    assert "Move it to sentiment.py" in finding["hint"]
    assert run_cli("export", project, "-o", tmp_path).returncode == 1
    lenient = tmp_path / "policy.yaml"
    lenient.write_text("severity: {PF505: warning}\n")
    archive = exported_archive(project, tmp_path, "--policy", lenient)
    code, result = verify_load(archive)
    (failed,) = findings_of(result, "PF952")
    assert code == 1 and "No module named 'sentiment'" in failed["message"]


def test_undeclared_import_is_a_warning_and_fails_the_load(project, tmp_path, wheelhouse):
    edit(project / "inference.py", "from packflow import InferenceBackend",
         "import torch\nfrom packflow import InferenceBackend")
    code, report = check_json(project)
    (warning,) = findings_of(report, "PF506")
    line = (project / "inference.py").read_text().splitlines().index("import torch") + 1
    assert code == 0 and warning["line"] == line and "imports torch" in warning["message"]
    code, result = verify_load(exported_archive(project, tmp_path))
    (failed,) = findings_of(result, "PF952")
    assert code == 1 and "No module named 'torch'" in failed["message"] and "Add torch==" in failed["hint"]


def test_import_names_map_to_their_distributions(project):
    edit(project / "inference.py", "from packflow import InferenceBackend",
         "import sklearn\nfrom PIL import Image\nimport yaml\ntry:\n    import cv2\nexcept ImportError:\n    cv2 = None\n"
         "from packflow import InferenceBackend")
    (project / "helpers.py").write_text("import numpy as np\n")
    edit(project / "inference.py", "import sklearn", "import sklearn\nimport helpers")
    _, report = check_json(project)
    messages = {f["message"] for f in findings_of(report, "PF506")}
    assert messages == {"inference.py imports sklearn (distribution scikit-learn), which requirements.txt does not list",
                        "inference.py imports PIL (distribution Pillow), which requirements.txt does not list",
                        "inference.py imports yaml (distribution PyYAML), which requirements.txt does not list",
                        "helpers.py imports numpy, which requirements.txt does not list"}
    (project / "requirements.txt").write_text("packflow==0.4.1\nscikit-learn==1.5.2\npillow==11.0.0\nPyYAML==6.0.2\n"
                                              "numpy==2.1.0\n")
    assert not findings_of(check_json(project)[1], "PF506")


def test_weights_left_out_by_gitignore_are_named_and_fail_initialize(project, tmp_path, wheelhouse):
    (project / "model.joblib").write_bytes(pickle.dumps([0.25, 0.5, 0.75]))  # plain numbers: no finding
    edit(project / "inference.py", '        self.positive_words = {"good", "great", "excellent", "love", "happy"}',
         '        from pathlib import Path\n'
         '        self.weights = (Path(__file__).parent / "model.joblib").read_bytes()\n'
         '        self.positive_words = {"good", "great", "excellent", "love", "happy"}')
    (project / ".gitignore").write_text((project / ".gitignore").read_text() + "\n# weights\n*.joblib\n")
    code, report = check_json(project)
    (warning,) = findings_of(report, "PF507")
    lines = (project / ".gitignore").read_text().splitlines()
    assert code == 0 and f".gitignore:{lines.index('*.joblib') + 1}: *.joblib" in warning["message"]
    code, result = verify_load(exported_archive(project, tmp_path))
    (failed,) = findings_of(result, "PF953")
    assert code == 1 and "could not open model.joblib: the archive does not hold it" in failed["message"]
    (project / ".packflowignore").write_text("!model.joblib\n")
    assert not findings_of(check_json(project)[1], "PF507")
    assert verify_load(exported_archive(project, tmp_path / "fixed"))[0] == 0


def test_missing_python_version_is_a_warning_and_loads(project, tmp_path, wheelhouse):
    edit(project / "packflow.yaml", 'python_version: "{}.{}.{}"\n'.format(*sys.version_info[:3]), "")
    code, report = check_json(project)
    assert code == 0 and findings_of(report, "PF217")[0]["severity"] == "warning"
    code, result = verify_load(exported_archive(project, tmp_path))
    assert code == 0 and "PF956" not in codes(result)


def test_upstream_scaffolds_tests_py_runs_in_the_clean_environment(project, tmp_path, wheelhouse):
    (project / "test_inference.py").rename(project / "tests.py")
    code, result = verify_load(exported_archive(project, tmp_path), "--run-tests")
    assert code == 0 and phase(result, "tests")["ok"], result["findings"]
    edit(project / "tests.py", "assert isinstance(backend, InferenceBackend)", "assert False, 'deliberate'")
    code, result = verify_load(exported_archive(project, tmp_path / "failing"), "--run-tests")
    assert code == 1 and "deliberate" in findings_of(result, "PF701")[0]["message"]


def test_check_scans_for_secrets_as_export_does(project):
    (project / "settings.py").write_text('DB_PASSWORD = "Tr0ub4dor&3-horse"\n')
    code, report = check_json(project)
    assert code == 1 and findings_of(report, "PF801")[0]["path"] == "settings.py"


def test_packflow_outside_the_tested_range_is_a_warning(project):
    (project / "requirements.txt").write_text("packflow==0.3.0\n")
    code, report = check_json(project)
    assert code == 0 and "0.4.1" in findings_of(report, "PF409")[0]["message"]


def test_sample_inputs_are_checked(project):
    (project / "sample_inputs.json").write_text('{"text": "a dict, not a list"}\n')
    assert "non-empty JSON list" in findings_of(check_json(project)[1], "PF508")[0]["message"]
    (project / "sample_inputs.json").write_text('[{"text": "ok"},\n "not a record"]\n')
    assert "item 1 is str" in findings_of(check_json(project)[1], "PF508")[0]["message"]
    (project / "sample_inputs.json").write_text("[\n{oops\n")
    (invalid,) = findings_of(check_json(project)[1], "PF508")
    assert invalid["line"] == 2 and "not JSON" in invalid["message"]
    (project / "sample_inputs.json").unlink()
    assert findings_of(check_json(project)[1], "PF509")[0]["severity"] == "warning"


# Bad input: a clear finding, exit 1, temporary folders removed, nothing run in the calling process ------------

def lenient(tmp_path) -> Path:
    policy = tmp_path / "lenient.yaml"
    policy.write_text("severity: {PF508: 'off', PF801: 'off', PF506: 'off'}\n")
    return policy


BAD_BACKENDS = {
    "hangs": ("        import time\n        time.sleep(3600)\n", "PF955", "did not finish within 5 s"),
    "calls sys.exit": ("        import sys\n        sys.exit(3)\n", "PF958", "sys.exit(3)"),
    "kills its process": ("        import os\n        os._exit(9)\n", "PF958", "exit 9"),
    "raises": ("        raise RuntimeError('no GPU found')\n", "PF953", "RuntimeError: no GPU found"),
}


@pytest.mark.parametrize("case", list(BAD_BACKENDS))
def test_a_bad_backend_is_a_finding_and_leaves_nothing_behind(project, tmp_path, warm_cache, case):
    code_line, rule, words = BAD_BACKENDS[case]
    edit(project / "inference.py", "        self.positive_words", code_line + "        self.positive_words")
    archive = exported_archive(project, tmp_path / "out")
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    code, result = verify_load(archive, "--load-timeout", "5", env={"TMPDIR": str(private_tmp)})
    assert code == 1 and rule in codes(result), result["findings"]
    assert any(words in f["message"] for f in findings_of(result, rule)), findings_of(result, rule)
    assert list(private_tmp.iterdir()) == []


def test_a_backend_that_prints_megabytes_still_loads(project, tmp_path, wheelhouse):
    edit(project / "inference.py", "        self.positive_words",
         "        import sys\n        sys.stdout.write('x' * 5_000_000)\n        self.positive_words")
    code, result = verify_load(exported_archive(project, tmp_path))
    assert code == 0 and len(json.dumps(result)) < 100_000


def test_sample_inputs_that_are_not_json_fail_check_io(project, tmp_path, wheelhouse):
    (project / "sample_inputs.json").write_text("[not json\n")
    code, result = verify_load(exported_archive(project, tmp_path, "--policy", lenient(tmp_path)), "--policy", lenient(tmp_path))
    assert code == 1 and "JSONDecodeError" in findings_of(result, "PF954")[0]["message"]


def test_requirements_that_cannot_resolve(project, tmp_path, wheelhouse):
    (project / "requirements.txt").write_text("packflow==0.4.1\nno-such-distribution-anywhere==1.0\n")
    code, result = verify_load(exported_archive(project, tmp_path), env=without_uv())
    (failed,) = findings_of(result, "PF951")
    assert code == 1 and "no-such-distribution-anywhere" in failed["message"]
    assert [p["phase"] for p in result["phases"]] == ["extract", "environment"]


def test_a_corrupt_archive_is_not_loaded(project, tmp_path):
    archive = exported_archive(project, tmp_path)
    archive.write_bytes(archive.read_bytes()[:-100])
    code, result = verify_load(archive)
    assert code == 1 and codes(result) == {"PF901"} and result["phases"] == []


def test_archive_code_never_runs_in_the_calling_process(project, tmp_path, wheelhouse):
    """Unsandboxed (--sandbox off) the code runs in a child of verify, with a warning; in the sandbox it cannot even
    write the marker outside its folders, so the import fails."""
    marker = tmp_path / "pids"
    edit(project / "inference.py", "from packflow import InferenceBackend",
         f"import os\nopen({str(marker)!r}, 'a').write(f'{{os.getpid()}} {{os.getppid()}}\\n')\n"
         "from packflow import InferenceBackend")
    archive = exported_archive(project, tmp_path / "out")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "packflow_export", "verify", str(archive), "--load", "--offline", "--find-links",
               str(WHEELHOUSE), "--json"]
    sandboxed = subprocess.run(command + ["--sandbox", "require"], env=env, capture_output=True, text=True, timeout=600)
    assert sandboxed.returncode == 1 and not marker.exists()
    assert "PF952" in codes(json.loads(sandboxed.stdout))
    process = subprocess.Popen(command + ["--sandbox", "off"], env=env, stdout=subprocess.PIPE, text=True)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0 and "--sandbox off" in findings_of(json.loads(out), "PF960")[0]["message"]
    pids = [int(value) for line in marker.read_text().splitlines() for value in line.split()]
    assert pids and process.pid not in pids[::2] and process.pid in pids[1::2]  # a child of verify ran it


def test_the_sandbox_is_required_auto_or_off_and_the_report_says_which_ran(project, tmp_path, warm_cache):
    """--json records which sandbox ran; without a working bwrap, require refuses (exit 2) and auto warns."""
    assert phase(warm_cache, "environment")["sandbox"] == "bwrap" and "PF960" not in codes(warm_cache)
    assert phase(warm_cache, "configure")["sandbox"]["sandbox"] == "bwrap"
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    for tool in ("uv", "sh", "true"):
        found = shutil.which(tool)
        assert found
        (no_bwrap / tool).symlink_to(found)
    archive = exported_archive(project, tmp_path / "out")
    code, result = cli_json("verify", archive, "--load", "--sandbox", "require", env={"PATH": str(no_bwrap)})
    assert code == 2 and "bwrap is not on PATH" in result["error"]["message"]


def test_load_options_need_load(project, tmp_path):
    result = run_cli("verify", tmp_path / "x.zip", "--offline")
    assert result.returncode == 2
    archive = exported_archive(project, tmp_path)
    result = run_cli("verify", archive, "--offline")
    assert result.returncode == 2 and "--offline only applies with --load" in result.stderr
