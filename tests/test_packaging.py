"""The packflow-export wheel: only the packflow_export package and its data, and a working CLI."""

from __future__ import annotations

import subprocess
import zipfile

import os

from helpers import REPO, clean_venv, run_cli

import packflow_export


def test_wheel_holds_only_packflow_export(wheel):
    assert wheel.name.startswith(f"packflow_export-{packflow_export.__version__}-py3-none-any")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"packflow_export", f"packflow_export-{packflow_export.__version__}.dist-info"}
    assert "packflow_export/policy.yaml" in names and "packflow_export/__main__.py" in names
    assert "packflow_export/packflow.schema.json" in names
    data = {path.relative_to(REPO).as_posix() for pattern in ("*.yaml", "*.json")
            for path in (REPO / "packflow_export").rglob(pattern) if "__pycache__" not in path.parts}
    assert data - set(names) == set(), "package data missing from the wheel: add it to pyproject's package-data"
    metadata = zipfile.ZipFile(wheel).read(f"packflow_export-{packflow_export.__version__}.dist-info/METADATA").decode()
    assert "Requires-Python: >=3.10" in metadata
    entry_points = zipfile.ZipFile(wheel).read(f"packflow_export-{packflow_export.__version__}.dist-info/entry_points.txt").decode()
    assert "packflow-export = packflow_export.__main__:entrypoint" in entry_points


def test_installed_wheel_commands_work_in_a_clean_virtualenv(wheel, wheelhouse, default_bake, tmp_path):
    bin_dir = clean_venv(tmp_path / "venv", wheel, wheelhouse=wheelhouse)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for command in ([str(bin_dir / "packflow-export")], [str(bin_dir / "python"), "-m", "packflow_export"]):
        version = subprocess.run(command + ["--version"], capture_output=True, text=True, env=env)
        assert version.stdout.strip() == f"packflow_export {packflow_export.__version__}"
        checked = subprocess.run(command + ["check", str(default_bake), "--json"], capture_output=True, text=True, env=env)
        assert checked.returncode == 0 and '"ok": true' in checked.stdout, checked.stderr
    exported = subprocess.run([str(bin_dir / "packflow-export"), str(default_bake), "-o", str(tmp_path)],
                              capture_output=True, text=True, env=env)
    assert exported.returncode == 0 and (tmp_path / "my_analytic-0.1.0.zip").is_file(), exported.stderr
    installed = subprocess.run([str(bin_dir / "python"), "-c", "import packflow_export, sys; print(packflow_export.__file__)"],
                               capture_output=True, text=True, env=env, cwd=tmp_path)
    assert installed.stdout.startswith(str(tmp_path / "venv"))


def test_version_and_help():
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"packflow_export {packflow_export.__version__}"
    helped = run_cli("--help")
    assert helped.returncode == 0 and "exit codes" in helped.stdout and "check" in helped.stdout
