"""Secret detection for files about to be packed: by file name and by content, modelled on gitleaks/detect-secrets."""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from pathlib import PurePosixPath
from typing import IO, Iterable, NamedTuple, Optional

SAMPLE_BYTES = 8192
CHUNK_BYTES = 1 << 20
OVERLAP_BYTES = 4096


class NameRule(NamedTuple):
    rule: str
    patterns: tuple  # fnmatch patterns, matched case-insensitively against the file name or the POSIX path


class ContentRule(NamedTuple):
    rule: str
    pattern: "re.Pattern[bytes]"
    secret_group: int  # the group holding the secret value, checked against placeholders (0: whole match)


NAME_RULES = (
    NameRule("dotenv file", (".env", ".env.*", "*.env", ".envrc")),
    NameRule("private key file", ("*.pem", "*.key", "id_rsa", "id_rsa_*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
                                  "*.p12", "*.pfx", "*.jks", "*.keystore", "*.ppk", "*.gpg", "*.asc")),
    NameRule("credentials file", (".netrc", "_netrc", ".pypirc", ".git-credentials", ".npmrc", ".dockercfg",
                                  "*/.docker/config.json", ".aws/credentials", "*/.aws/credentials", "credentials.json",
                                  "client_secret*.json", "application_default_credentials.json", "*.tfstate",
                                  "service-account*.json", "htpasswd", ".htpasswd")),
    NameRule("kubeconfig", ("kubeconfig", "*.kubeconfig", ".kube/config", "*/.kube/config")),
)
# Example files whose names look like secrets but that exist to be shared (their content is still scanned).
NAME_ALLOWED = ("*.example", "*.sample", "*.template", "*.dist", "*.pub", ".env.example", ".env.sample")

_QUOTED = rb"""["']([^"'\s]{8,})["']"""
CONTENT_RULES = (
    ContentRule("PEM private key", re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), 0),
    ContentRule("AWS access key id", re.compile(rb"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b"), 1),
    ContentRule("AWS secret access key", re.compile(
        rb"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"), 1),
    ContentRule("GitHub token", re.compile(rb"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b"), 1),
    ContentRule("GitLab token", re.compile(rb"\b(glpat-[A-Za-z0-9_-]{20})\b"), 1),
    ContentRule("Slack token", re.compile(rb"\b(xox[abposr]-[A-Za-z0-9-]{10,})\b"), 1),
    ContentRule("Stripe live key", re.compile(rb"\b((?:sk|rk)_live_[A-Za-z0-9]{24,})\b"), 1),
    ContentRule("Google API key", re.compile(rb"\b(AIza[0-9A-Za-z_-]{35})\b"), 1),
    ContentRule("OpenAI API key", re.compile(rb"\b(sk-(?:proj-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})\b"), 1),
    ContentRule("Hugging Face token", re.compile(rb"\b(hf_[A-Za-z0-9]{34,})\b"), 1),
    ContentRule("PyPI token", re.compile(rb"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})"), 1),
    ContentRule("npm token", re.compile(rb"\b(npm_[A-Za-z0-9]{36})\b"), 1),
    ContentRule("password in a URL", re.compile(rb"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s:@'\"]{3,})@[^\s'\"]+"), 1),
    ContentRule("password or token assignment", re.compile(
        rb"(?i)\b[a-z0-9_.-]*(?:password|passwd|pwd|secret|api_?key|access_?token|auth_?token|private_?key)\b"
        rb"[\"']?\s*[:=]\s*" + _QUOTED), 1),
    ContentRule("password or token in an env line", re.compile(
        rb"(?im)^\s*(?:export\s+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|API_KEY|APIKEY|TOKEN)[A-Z0-9_]*\s*=\s*([^\s\"'#$][^\s\"'#]{7,})\s*$"), 1),
)

PLACEHOLDER_WORDS = re.compile(
    rb"(?i)example|sample|dummy|placeholder|changeme|change_me|your[_-]|xxxx|\*\*\*|redacted|fake|test|<|>|\$\{|\{\{|%\(|os\.environ|getenv")


def is_placeholder(value: bytes) -> bool:
    """True for values that only stand for a secret: `<your-token>`, `${TOKEN}`, `AKIAXXXXXXXXXXXXXXXX`, ..."""
    if PLACEHOLDER_WORDS.search(value):
        return True
    core = value[4:] if value[:4].isupper() else value
    return len(set(core)) <= 3


@lru_cache(maxsize=None)
def _name_matchers() -> tuple:
    """(allowed matcher, [(rule, base-name matcher, path matcher)]), compiled once: one regex per rule."""
    def matcher(patterns):
        return re.compile("|".join(fnmatch.translate(p) for p in patterns) or "(?!)").match

    rules = [(rule.rule, matcher([p for p in rule.patterns if "/" not in p]), matcher([p for p in rule.patterns if "/" in p]))
             for rule in NAME_RULES]
    return matcher(NAME_ALLOWED), rules


def name_rule(name: str) -> Optional[str]:
    """The name rule a file matches, by its base name or its path (case-insensitively)."""
    base = PurePosixPath(name).name.lower()
    allowed, rules = _name_matchers()
    if allowed(base):
        return None
    for rule, by_base, by_path in rules:
        if by_base(base) or by_path(name.lower()):
            return rule
    return None


def looks_binary(sample: bytes) -> bool:
    return b"\0" in sample


def scan_stream(stream: IO[bytes]) -> Iterable[tuple]:
    """(rule, line) for each line holding a secret in a text stream; binary streams stop after one small sample."""
    sample = stream.read(SAMPLE_BYTES)
    if looks_binary(sample):
        return
    buffer, base_line, seen = sample, 1, set()
    while True:
        chunk = stream.read(CHUNK_BYTES)
        final = not chunk
        buffer += chunk
        for rule in CONTENT_RULES:
            for match in rule.pattern.finditer(buffer):
                if is_placeholder(match.group(rule.secret_group)):
                    continue
                line = base_line + buffer.count(b"\n", 0, match.start())
                if line not in seen:  # one finding per line: the most specific rule, listed first
                    seen.add(line)
                    yield rule.rule, line
        if final:
            return
        keep = buffer[-OVERLAP_BYTES:]
        base_line += buffer.count(b"\n", 0, len(buffer) - len(keep))
        buffer = keep
