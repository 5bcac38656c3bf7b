"""Contents rules (PF8xx) not covered by test_secrets.py: large files (PF809), and how findings read (the article
before a secret's kind)."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import cli_json, findings_of, inspect

from packflow_export.findings import with_article
from packflow_export.rules.contents import LARGE_FILE_BYTES

AKIA = "AKIA" + "Q3EGRW7KZ2BN5M4P"


def sparse(path, size: int) -> None:
    """A file of this size that takes no disk space (model weights stand-in)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


def test_a_large_file_gets_an_info_finding_with_its_size_and_where_large_files_belong(default_bake, tmp_path):
    project = shutil.copytree(default_bake, tmp_path / "project")
    sparse(project / "model" / "weights.bin", 200 << 20)  # untracked, referenced by nothing
    sparse(project / "model" / "tokenizer.bin", LARGE_FILE_BYTES - 1)
    sparse(project / "checkpoints" / "epoch-9.bin", 300 << 20)
    (project / ".packflowignore").write_text("checkpoints/\n")  # not packed: nothing to say
    code, report = cli_json("check", project)
    assert code == 0, report  # information, not a verdict
    (large,) = findings_of(report, "PF809")
    assert large["severity"] == "info" and large["path"] == "model/weights.bin"
    assert large["message"] == "model/weights.bin is 200.0 MiB (209,715,200 bytes)"
    assert "Git LFS" in large["hint"] and "PF804" in large["hint"] and "separately" in large["hint"]


@pytest.mark.parametrize("kind, expected", [
    ("AWS access key ID", "an AWS access key ID"), ("SSH private key", "an SSH private key"), ("JWT", "a JWT"),
    ("URL with a password", "a URL with a password"), ("npm access token", "an npm access token"),
    ("OpenAI API key", "an OpenAI API key"), ("Anthropic API key", "an Anthropic API key"),
    ("age secret key", "an age secret key"), ("1Password service account token", "a 1Password service account token"),
    ("user password", "a user password"), ("GitHub token", "a GitHub token"), ("JSON web key", "a JSON web key"),
    ("8-bit key", "an 8-bit key"), ("hour", "an hour"), ("RSA private key", "an RSA private key"),
])
def test_the_article_is_chosen_by_how_the_next_word_sounds(kind, expected):
    assert with_article(kind) == expected


@given(st.text())
def test_the_article_always_comes_first_and_the_phrase_is_kept(phrase):
    worded = with_article(phrase)
    assert worded in (f"a {phrase}", f"an {phrase}")


def test_a_secret_finding_reads_an_aws_access_key(default_bake, tmp_path):
    project = shutil.copytree(default_bake, tmp_path / "project")
    (project / "settings.py").write_text(f'AWS_ID = "{AKIA}"\n')
    (secret,) = findings_of(inspect(project), "PF801")
    assert secret["message"] == "settings.py contains what looks like an AWS access key ID"
