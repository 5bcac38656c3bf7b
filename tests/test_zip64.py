"""ZIP64: archives past the classic zip limits (a file over 4 GiB, more than 65,535 entries) write and verify."""

from __future__ import annotations

import zipfile

import pytest

from conftest import run_cli

from packflow_export.archive import create_archive
from packflow_export.files import SelectedFile


@pytest.mark.slow
def test_more_than_65535_entries(project, tmp_path):
    sample = project / "README.md"
    files = [SelectedFile(name, project / name, (project / name).stat().st_size, False)
             for name in ("packflow.yaml", "requirements.txt")]
    files += [SelectedFile(f"shards/{index:05d}.md", sample, sample.stat().st_size, False) for index in range(65_600)]
    result = create_archive(sorted(files), tmp_path / "my_analytic-0.1.0.zip")
    with zipfile.ZipFile(result.path) as archive:
        assert len(archive.infolist()) == 65_602
    verified = run_cli("verify", result.path, timeout=300)
    assert verified.returncode == 0, verified.stdout[-2000:]


@pytest.mark.slow
def test_file_over_4_gib(project, tmp_path):
    big = project / "weights.bin"
    with big.open("wb") as handle:  # sparse: costs no disk, reads back as zeros
        handle.truncate((4 << 30) + 12345)
    result = run_cli("export", project, "-o", tmp_path, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "my_analytic-0.1.0.zip") as archive:
        info = archive.getinfo("weights.bin")
        assert info.file_size == (4 << 30) + 12345 and info.compress_type == zipfile.ZIP_DEFLATED
    assert run_cli("verify", tmp_path / "my_analytic-0.1.0.zip", timeout=600).returncode == 0
