"""The packflow-export wheel: only the packflow_export package and its data, and a working CLI."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import REPO, run_cli

import packflow_export


def test_wheel_holds_only_packflow_export(tmp_path):
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(REPO)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = tmp_path.glob("packflow_export-*.whl")
    assert wheel.name.startswith(f"packflow_export-{packflow_export.__version__}-py3-none-any")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"packflow_export", f"packflow_export-{packflow_export.__version__}.dist-info"}
    assert "packflow_export/policy.yaml" in names and "packflow_export/__main__.py" in names
    metadata = zipfile.ZipFile(wheel).read(f"packflow_export-{packflow_export.__version__}.dist-info/METADATA").decode()
    assert "Requires-Python: >=3.10" in metadata
    entry_points = zipfile.ZipFile(wheel).read(f"packflow_export-{packflow_export.__version__}.dist-info/entry_points.txt").decode()
    assert "packflow-export = packflow_export.__main__:entrypoint" in entry_points


def test_version_and_help():
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"packflow_export {packflow_export.__version__}"
    helped = run_cli("--help")
    assert helped.returncode == 0 and "exit codes" in helped.stdout and "check" in helped.stdout
