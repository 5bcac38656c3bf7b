"""secrets.py and the contents rules (PF801, PF803, PF804): what looks like a secret, wherever it sits,
found in linear time; placeholders and ordinary ML code pass."""

from __future__ import annotations

import json
import time

import pytest

from helpers import findings_of, inspect

from packflow_export.secrets import scan_chunks

AKIA = "AKIA" + "Q3EGRW7KZ2BN5M4P"
SECRET_CONTENT = [
    ("key.txt", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAq8Vt2xL\n-----END RSA PRIVATE KEY-----\n",
     "private key (PEM or OpenSSH)"),
    ("config.py", f'AWS_ID = "{AKIA}"\n', "AWS access key ID"),
    ("aws.cfg", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8hG3kLmA\n", "AWS secret access key"),
    ("ci.sh", "TOKEN=ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + "\n", "GitHub token"),
    ("gl.txt", "glpat-" + "Zx8Yw7Vu6Ts5Rq4Po3Nm" + "\n", "GitLab personal, project or group access token"),
    ("slack.json", '{"t": "xoxb-' + "2048193755-9fk2mQ8sLw" + '"}\n', "Slack token"),
    ("pay.py", "stripe.key = 'sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc" + "'\n", "Stripe secret or restricted key"),
    ("maps.js", "const k = 'AIza" + "SyD8r3kQ2mX7vL9pW4nB6tY1cZ5hJ0fE3gK" + "';\n", "Google API key"),
    ("hf.py", "token = 'hf_" + "kTq8ZrW3mN6pL2xV9cB4yH7jD1fG5sA0eU" + "'\n", "Hugging Face access token"),
    ("db.yaml", "url: postgres://admin:S3cr3tPassw0rd@db.internal:5432/app\n", "password in a URL"),
    ("settings.py", 'DB_PASSWORD = "Tr0ub4dor&3-horse"\n', "password, token or key assigned as a literal string"),
    ("deploy.conf", "API_TOKEN=9f8e7d6c5b4a3f2e1d0c\n", "password, token or key in a config or env line"),
    ("openai.txt", "key: sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" + "T3BlbkFJ" + "k1L2m3N4o5P6q7R8s9T0" + "\n",
     "OpenAI API key"),
    ("npm.txt", "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + "\n", "npm access token"),
]
PLACEHOLDERS = [
    'AWS_ID = "AKIAXXXXXXXXXXXXXXXX"\n', 'AWS_ID = "AKIAIOSFODNN7EXAMPLE"\n', 'password = "<your-token>"\n',
    'api_key = "${API_KEY}"\n', 'token = "{{ token }}"\n', "url: postgres://user:<password>@host/db\n",
    'password = os.environ["DB_PASSWORD"]\n', "API_TOKEN=${API_TOKEN}\n", 'secret = "changeme-please"\n',
    'private_key = "xxxxxxxxxxxxxxxx"\n',
]


@pytest.mark.parametrize("name, content, rule", SECRET_CONTENT)
def test_secret_content_blocks(project, name, content, rule):
    (project / name).write_text(content)
    report = inspect(project)
    (found,) = findings_of(report, "PF801")
    assert not report.ok and found["path"] == name and found["line"] == 1 and rule in found["message"]
    assert "--allow-secret" in found["hint"] and ".packflowignore" in found["hint"]


@pytest.mark.parametrize("name", [".env", ".env.production", ".envrc", "server.pem", "tls.key", "id_rsa", "id_ed25519",
                                  ".netrc", ".pypirc", "cert.p12", "store.pfx", "kubeconfig", ".aws/credentials"])
def test_secret_file_names_block(project, name):
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("harmless\n")
    (project / ".gitignore").write_text("")  # the template ignores .env*; show the rule does not depend on it
    report = inspect(project)
    assert not report.ok and [f["path"] for f in findings_of(report, "PF801")] == [name]


@pytest.mark.parametrize("content", PLACEHOLDERS)
def test_placeholders_do_not_trigger(project, content):
    (project / "settings.py").write_text(content)
    (project / ".env.example").write_text("API_TOKEN=<your-token>\n")
    (project / "id_rsa.pub").write_text("ssh-ed25519 AAAA test\n")
    assert not findings_of(inspect(project), "PF801")


def test_secret_can_be_ignored_or_explicitly_allowed(project):
    (project / "tls.key").write_text("harmless\n")
    assert not inspect(project).ok
    report = inspect(project, allowed_secrets=frozenset({"tls.key"}))
    assert report.ok and findings_of(report, "PF803")[0]["severity"] == "info"
    (project / ".packflowignore").write_text("tls.key\n")
    assert inspect(project).ok and not findings_of(inspect(project), "PF803")


def test_binary_files_are_scanned_in_full(project):
    with (project / "weights.bin").open("wb") as handle:
        handle.write(bytes(range(256)) * 100)  # well past the first 8 KiB
        handle.write(b"\0\1-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAq8Vt2xL\0" + bytes(range(256)) * 10)
    (found,) = findings_of(inspect(project), "PF801")
    assert found["path"] == "weights.bin" and "at byte 25,602" in found["message"] and found["line"] is None


def test_git_lfs_pointer_blocks(project):
    (project / "weights").mkdir()
    (project / "weights" / "model.bin").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 104857600\n")
    (found,) = findings_of(inspect(project), "PF804")
    assert found["severity"] == "error" and "git lfs pull" in found["message"] and found["path"] == "weights/model.bin"


def scan(text: bytes, name: str = "x.txt") -> list:
    return [(hit.rule, hit.line) for hit in scan_chunks([text], name)[1]]


def test_one_finding_per_line_the_most_specific_rule():
    assert scan(f'aws_id = "{AKIA}"  # password = "hunter2hunter2"\n'.encode()) == [("AWS access key ID", 1)]


def test_lines_are_counted_across_chunks():
    text = b"filler line\n" * 200_000 + f'AWS_ID = "{AKIA}"\n'.encode()
    chunks = [text[i:i + 65536] for i in range(0, len(text), 65536)]
    assert [(h.rule, h.line) for h in scan_chunks(chunks, "x.cfg")[1]] == [("AWS access key ID", 200_001)]


def test_utf16_text_is_scanned_as_the_text_it_is():
    text = f'line one\nAWS_ID = "{AKIA}"\n'.encode("utf-16")
    kind, hits = scan_chunks([text], "x.txt")
    assert kind == "utf-16" and [(h.rule, h.line) for h in hits] == [("AWS access key ID", 2)]


def test_a_stray_nul_does_not_hide_a_text_file():
    assert scan(f'first\0line\nAWS_ID = "{AKIA}"\n'.encode()) == [("AWS access key ID", 2)]


def test_json_escaped_code_in_a_notebook_is_found():
    notebook = {"cells": [{"cell_type": "code", "source": ['api_key = "sk-q8Wm2Lx7Zr4Kp9Vt3Nb6"\n']}]}
    assert scan(json.dumps(notebook).encode(), "train.ipynb") == [
        ("password, token or key assigned as a literal string", 1)]


ML_SOURCE = '''\
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")
pad_token = tokenizer.eos_token
tokenizer.pad_token = tokenizer.eos_token
SPECIAL_TOKENS = {"pad_token": "[PAD]", "cls_token": "[CLS]"}
max_token_length = config.max_position_embeddings
token_type_ids = encoded["token_type_ids"]
secret_sauce = compute_features(batch)
api_key = os.environ.get("OPENAI_API_KEY")
password = getpass.getpass()
auth_token = read_token_from(path)
use_auth_token = True
'''
HF_CONFIG = json.dumps({"added_tokens": [{"id": 0, "content": "[PAD]"}], "pad_token": "[PAD]", "model_max_length": 512,
                        "tokenizer_class": "BertTokenizer", "bos_token_id": 0, "eos_token": "</s>",
                        "special_tokens_map_file": "special_tokens_map.json"}, indent=2)


NOTEBOOK = json.dumps({"cells": [{"source": ML_SOURCE.splitlines(True)}]})


@pytest.mark.parametrize("name, text", [("model.py", ML_SOURCE), ("tokenizer_config.json", HF_CONFIG),
                                        ("notebook.ipynb", NOTEBOOK)])
def test_ordinary_ml_code_passes(name, text):
    assert scan(text.encode(), name) == []


ADVERSARIAL = {
    "one long line of ACGT--": b"ACGT--",
    "newlines": b"\n",
    "separators": b"=:= ",
    "spaces": b" ",
    "almost a password assignment": b'password = "',
    "almost an env line": b"API_TOKEN=",
    "repeated keywords": b"password",
    "almost a URL": b"a://b:",
    "almost an OpenAI key": b"T3BlbkFJsk-",
    "almost a PEM block": b"-----BEGIN ",
    "quote runs": b"\"'",
}


def cpu_seconds(data: bytes, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        scan_chunks([data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)], "x.txt")
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("shape", list(ADVERSARIAL))
def test_scan_time_grows_linearly_with_the_input(shape):
    """8x the input may cost about 8x the time, never the 64x of a quadratic scan."""
    unit = ADVERSARIAL[shape]
    small = unit * (200_000 // len(unit))
    large = unit * (1_600_000 // len(unit))
    small_time, large_time = cpu_seconds(small), cpu_seconds(large)
    assert large_time <= 24 * max(small_time, 0.002), (shape, small_time, large_time)


def test_a_binary_file_of_many_short_printable_runs_costs_what_text_of_its_size_does():
    """A zip's bytes are thousands of member names between binary headers: searched run by run, 20,000 of them
    took 20 times what as much text takes; runs close together are now searched as one region."""
    from packflow_export.secrets import PythonFinder

    names = b"".join(b"\x00\x01\x02\x03PK\x01\x02" * 4 + f"features/{i}.npy".encode() for i in range(20_000))
    text = b"".join(f"features/{i}.npy = value {i}\n".encode() for i in range(len(names) // 28))

    def seconds(data: bytes) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            scan_chunks([data], "features.npz", PythonFinder())
            best = min(best, time.process_time() - started)
        return best
    assert seconds(names) <= 4 * max(seconds(text), 0.01)


# The two anchor finders: different speeds, the same findings ------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from packflow_export.secrets import HyperscanFinder, PythonFinder  # noqa: E402

PIECES = [b"password", b"PASSWORD", b"pass", b"pwd", b"secret", b"api_key", b"token", b"AKIA", b"ghp_", b"xoxb-",
          b"sk_live_", b"AIza", b"hf_", b"npm_", b"://", b"-----BEGIN RSA PRIVATE KEY-----", b"T3BlbkFJ", b"sk-",
          b'"', b"'", b" = ", b"=", b": ", b"\n", b"\r\n", b" ", b"\t", b"\0", b"\xff\xfe", b"export ", b"@",
          b"Q3EGRW7KZ2BN5M4P", b"a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", b"9f8e7d6c5b4a3f2e1d0c", b"user:S3cr3tPass@h",
          b"postgres", b"example", b"\\", b"x" * 30]
content = st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=8)), max_size=120).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=content, chunk=st.integers(min_value=1, max_value=64), name=st.sampled_from(["x.txt", "x.py", "x.bin"]))
def test_both_finders_find_the_same_secrets_whatever_the_chunking(data, chunk, name):
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]
    whole = scan_chunks([data], name, PythonFinder())
    assert scan_chunks(chunks, name, PythonFinder()) == whole
    assert scan_chunks([data], name, HyperscanFinder()) == whole
    assert scan_chunks(chunks, name, HyperscanFinder()) == whole


def test_hyperscan_is_what_large_scans_use():
    from packflow_export.secrets import finder_for

    assert isinstance(finder_for(1 << 30), HyperscanFinder) and isinstance(finder_for(1000), PythonFinder)


# Issue 15 item 13 and issue 19: secrets people leak, in the files they leak them in -------------------------------

MISSED_BEFORE = [
    ("config.yaml", "database:\n  password: Xk9#mP2vLq8wZr4t\n", 2),
    ("settings.py", 'SECRET_KEY = "k7#p2x9Lq!vZ4mW8rT1y"\n', 1),
    ("client.py", 'token = "9f8e7d6c5b4a3f2e1d0c9b8a"\n', 1),
    ("deploy.sh", '#!/bin/sh\nexport SECRET_KEY="x8Kq2LmP9vRt4Wz7Yb1N"\n', 2),
    ("db.py", 'password = "Summer2024-contest!"\n', 1),
    ("prod.py", 'API_KEY_PROD = "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"\n', 1),
    ("train.py", 'fooToken = "a8F3kL9qP2mZ7xW4vB6n"\n', 1),
    ("run.sh", 'curl -u ci-bot:Qm8vX2kL9pR4tZ7w https://registry.example.org/api\n', 1),
    ("call.sh", 'curl -H "Authorization: Bearer Tk9vX2mQ8pL4wZ7rB1nC5yD" https://api.example.org\n', 1),
]


@pytest.mark.parametrize("name, content, line", MISSED_BEFORE, ids=[case[0] for case in MISSED_BEFORE])
def test_secrets_missed_before_are_found_on_their_line(project, name, content, line):
    (project / name).write_text(content)
    (found,) = findings_of(inspect(project), "PF801")
    assert found["path"] == name and found["line"] == line


def test_prerelease_pins_in_requirements_are_not_secrets(project):
    """tiktoken==0.7.0.post1 and friends were PF801 (the env-line rule read `token` in their names)."""
    with (project / "requirements.txt").open("a") as handle:
        handle.write("tiktoken==0.7.0.post1\ntokenizers==0.15.2rc1\nsecretstorage==3.3.3.dev1\nkeyring==25.2.1\n")
    assert findings_of(inspect(project), "PF801") == []


def test_a_dotenv_file_is_flagged_by_name_and_each_key_on_its_line(project):
    (project / ".gitignore").write_text("")
    (project / ".env").write_text("DEBUG=true\nOPENAI_API_KEY=sk-proj-" + "q8Wm2Lx7Zr4Kp9Vt3Nb6Yc1Hd5Jf0Gs" * 3
                                  + "\nLOG_LEVEL=info\nDATABASE_URL=postgres://app:Vq8mX2kL9pR4tZ7w@db:5432/app\n")
    found = findings_of(inspect(project), "PF801")
    assert [(f["path"], f["line"]) for f in found] == [(".env", None), (".env", 2), (".env", 4)]
    assert "dotenv file" in found[0]["message"] and "OpenAI API key" in found[1]["message"]


def _zip_bytes(members: dict, stored: bool) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return buffer.getvalue()


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "deflated"])
def test_utf16_text_inside_a_nested_zip_is_found(project, stored):
    text = f'line one\nAWS_ID = "{AKIA}"\n'.encode("utf-16")
    inner = _zip_bytes({"notes/creds.txt": text}, stored)
    (project / "features.npz").write_bytes(_zip_bytes({"inner.zip": inner, "readme.txt": b"data"}, stored))
    (found,) = findings_of(inspect(project), "PF801")
    assert found["path"] == "features.npz" and "inner.zip!notes/creds.txt (line 2)" in found["message"]
    assert "AWS access key ID" in found["message"]


PLACEHOLDER_LINES = [
    'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"', "SLACK_BOT_TOKEN=xoxb-your-token", "OPENAI_API_KEY=<YOUR_API_KEY>",
    'OPENAI_API_KEY="sk-..."', 'api_key = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    'token = "00000000000000000000000000000000"',
    "password: ${DB_PASSWORD}", 'password = os.environ["DB_PASSWORD"]', "token: ${{ secrets.HF_TOKEN }}",
    "api_key: '{{ secrets.OPENAI_API_KEY }}'", "GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "url: postgres://user:password@localhost:5432/db", "stripe_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'",
    'secret_key = "your-secret-key-here"', 'HF_TOKEN = "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    'API_KEY = "REPLACE_WITH_YOUR_KEY"', 'password = "********"', 'token = "<token>"',
]


@pytest.mark.parametrize("line", PLACEHOLDER_LINES)
@pytest.mark.parametrize("name", ["settings.py", "config.yaml", "deploy.env.sh"])
def test_placeholders_and_documented_example_keys_are_never_findings(line, name):
    assert scan(line.encode() + b"\n", name) == []


def _many_member_zip(members: int, secrets_at: dict) -> bytes:
    """A zip of `members` empty stored members, those in secrets_at deflated with the given text."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(members):
            if index in secrets_at:
                archive.writestr(f"features/{index}.txt", secrets_at[index], zipfile.ZIP_DEFLATED)
            else:
                archive.writestr(f"features/{index}.npy", b"")
    return buffer.getvalue()


GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def test_a_zip_of_many_members_is_scanned_up_to_the_bound(project):
    """Issue 15 item 12: a .npz of 20,000 members is walked, not loaded: the secret in member 5 is found, the scan
    stops at 10,000 members with PF807 naming the bound, and a key past it is (as documented) not found."""
    from helpers import check_json

    secrets_at = {5: f'AWS_ID = "{AKIA}"\n'.encode(), 15_000: f"TOKEN={GITHUB_TOKEN}\n".encode()}
    (project / "features.npz").write_bytes(_many_member_zip(20_000, secrets_at))
    started = time.monotonic()
    code, report = check_json(project)
    assert time.monotonic() - started < 60
    assert code == 1
    (secret,) = findings_of(report, "PF801")
    assert secret["path"] == "features.npz" and "features/5.txt" in secret["message"]
    assert "AWS access key ID" in secret["message"]
    (bound,) = [f for f in findings_of(report, "PF807") if f["path"] == "features.npz"]
    assert "more than 10,000 members" in bound["message"] and "the rest is not scanned" in bound["message"]
    assert "GitHub" not in json.dumps(report["findings"])  # member 15,000 is past the bound
    assert not [f for f in report["findings"] if f["code"] == "PF823"]  # the model scan's bound is 100,000


def test_one_inflate_budget_for_all_the_members_of_a_file(project, monkeypatch):
    """A zip bomb's members, and those of the archives inside it, share one budget: once it is spent, the next
    member is not inflated (PF807, on the project file)."""
    from packflow_export.rules import contents

    monkeypatch.setattr(contents, "NESTED_INFLATE_BYTES", 1 << 20)
    filler = bytes(700 << 10)
    secret = filler[:-100] + f'\nAWS_ID = "{AKIA}"\n'.encode()
    inner = _zip_bytes({"b.txt": secret}, stored=False)
    (project / "bomb.npz").write_bytes(_zip_bytes({"a.bin": filler, "inner.zip": inner}, stored=False))
    report = inspect(project)
    assert not findings_of(report, "PF801")
    (unscanned,) = findings_of(report, "PF807")
    assert unscanned["path"] == "bomb.npz" and "bomb.npz!inner.zip: b.txt is not scanned" in unscanned["message"]
    assert "1,048,576-byte budget" in unscanned["message"]
    (project / "bomb.npz").write_bytes(_zip_bytes({"inner.zip": inner}, stored=False))
    (found,) = findings_of(inspect(project), "PF801")
    assert found["path"] == "bomb.npz" and "inner.zip!b.txt" in found["message"]


def _fast_zip(members: int) -> bytes:
    """A zip of `members` empty stored members built from the records directly (zipfile would take a minute)."""
    from packflow_export.archive import zipformat

    local, central = bytearray(), bytearray()
    for index in range(members):
        name = f"{index}.npy".encode()
        central += zipformat.central_entry(name, 0, zipformat.STORED, 0, 33, 0, 0, 0, 0o644, len(local))
        local += zipformat.local_header(name, 0, zipformat.STORED, 0, 33, 0, 0, 0, False)
    return bytes(local + central + zipformat.end_records(members, len(local), len(central), b""))


def test_walking_a_central_directory_keeps_memory_flat_and_stops_at_the_bound():
    import io
    import tracemalloc

    from packflow_export.archive import zipformat

    data = _fast_zip(60_000)  # a 3.3 MB directory: kept whole, its records alone would pass 4 MiB
    tracemalloc.start()
    count = sum(1 for _ in zipformat.walk_central_directory(io.BytesIO(data), 1_000_000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 60_000 and peak < 4 << 20  # one 1 MiB read of the directory at a time, not 60,000 records
    walked = []
    with pytest.raises(zipformat.MemberLimit, match="more than 10 members"):
        for entry in zipformat.walk_central_directory(io.BytesIO(data), 10):
            walked.append(entry.name)
    assert walked == [f"{index}.npy" for index in range(10)]


@pytest.mark.parametrize("method", ["ZIP_DEFLATED", "ZIP_BZIP2", "ZIP_LZMA"])
def test_members_compressed_as_zipfile_writes_them_are_scanned(project, method):
    """The walk reads what zipfile read before it (deflate, bzip2, lzma): a key inside is found, not skipped."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", getattr(zipfile, method)) as archive:
        archive.writestr("notes.txt", "x" * 100_000 + f'\nAWS_ID = "{AKIA}"\n')
    (project / "bundle.npz").write_bytes(buffer.getvalue())
    (found,) = findings_of(inspect(project), "PF801")
    assert found["path"] == "bundle.npz" and "notes.txt (line 2)" in found["message"]
