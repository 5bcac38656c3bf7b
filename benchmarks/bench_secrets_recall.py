"""Secret-scan recall and false alarms on a labelled corpus, beside detect-secrets 1.5.0 on the same files.

The corpus is built here from a seeded RNG: true positives are tokens synthesised from each provider's documented
format (alphabet, length, fixed prefixes and checksums: GitHub's and npm's CRC-32, the base64 structure of
Bedrock keys, JWT headers) embedded in the files people leak them in (Python, YAML, JSON, .env, shell scripts,
notebooks, TOML, Kubernetes manifests, kubeconfigs, curl commands, credential files); false positives are what
ML projects hold (model and tokenizer code and configs, notebooks with base64 images, lock files with hashes,
UUIDs, placeholders and documented example keys). Each sample is one file in a default bake (cookiecutter, as
the tests bake); `check --json` runs once on the bake and a file counts as found when a PF801 finding reads its
content (a finding by file name alone does not count); detect-secrets scans the same files (`scan --all-files`).

Run: .venv/bin/python benchmarks/bench_secrets_recall.py [--seed 19] [--per-kind 6] [--keep DIR] [--no-peer]
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Callable, NamedTuple

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"
PEER_VENV = WORK / "detect-secrets-1.5.0"
AN = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = AN + "+/"
B64URL = AN + "_-"
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
DIGITS = string.digits
LOWER_AN = string.ascii_lowercase + string.digits


class Sample(NamedTuple):
    kind: str
    positive: bool
    path: str  # relative to the corpus folder
    text: str


class Corpus:
    """Tokens and their surroundings, all from one seeded RNG."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.samples: list[Sample] = []

    # tokens ------------------------------------------------------------------------------------------------------
    def r(self, alphabet: str, n: int) -> str:
        while True:
            value = "".join(self.rng.choice(alphabet) for _ in range(n))
            if not any(c.isdigit() for c in alphabet) or any(c.isdigit() for c in value):
                return value

    def crc_token(self, prefix: str) -> str:
        """GitHub's and npm's format: 30 random base62 characters and their CRC-32 in 6 base62 digits."""
        body = self.r(AN, 30)
        crc, digits, out = (
            zlib.crc32(body.encode()),
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            "",
        )
        while crc:
            crc, rest = divmod(crc, 62)
            out = digits[rest] + out
        return prefix + body + out.rjust(6, "0")

    def b64(self, raw: bytes, url: bool = False) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") if url else base64.b64encode(raw).decode()

    def password(self) -> str:
        words = ["Summer", "Falcon", "Orchid", "Granite", "Harbor", "Velvet", "Cobalt", "Meadow", "Tundra", "Quartz"]
        if self.rng.random() < 0.5:
            return f"{self.rng.choice(words)}{self.rng.randint(1000, 9999)}{self.rng.choice('!#%&*-_.')}{self.r(AN, 4)}"
        return self.r(AN + "!#%&*-_.@^", self.rng.randint(14, 22))

    def jwt(self, claims: dict) -> str:
        header = {"alg": self.rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
        return ".".join(
            [
                self.b64(json.dumps(header).encode(), True),
                self.b64(json.dumps(claims).encode(), True),
                self.r(B64URL, self.rng.choice([43, 86, 342])),
            ]
        )

    def pem_body(self, lines: int = 6) -> str:
        return "\n".join(self.r(B64, 64) for _ in range(lines)) + "\n" + self.r(B64, 20) + "=="

    # surroundings -------------------------------------------------------------------------------------------------
    def context(self, style: str, name: str, token: str) -> tuple[str, str]:
        """(file suffix, content) with the token assigned to `name` in a realistic file of this style."""
        lower = name.lower()
        if style == "py":
            return ".py", (
                f'"""Settings of the scoring service."""\nimport os\n\nMODEL_NAME = "fraud-scorer"\nBATCH_SIZE = 32\n'
                f'{name} = "{token}"\nTIMEOUT_S = float(os.environ.get("TIMEOUT_S", "30"))\n'
            )
        if style == "py-env":
            return ".py", f'import os\n\nos.environ["{name}"] = "{token}"\nfrom service import run\n\nrun()\n'
        if style == "yaml":
            return (
                ".yaml",
                f"service:\n  name: scorer\n  replicas: 2\ncredentials:\n  {lower}: {token}\n  region: eu-west-1\n",
            )
        if style == "yaml-quoted":
            return ".yml", f'model:\n  name: bert-base-uncased\n  max_length: 512\nprovider:\n  {lower}: "{token}"\n'
        if style == "json":
            return ".json", json.dumps(
                {"endpoint": "https://api.example.org/v1", lower: token, "timeout": 30}, indent=2
            ) + "\n"
        if style == "env":
            return ".env", f"LOG_LEVEL=info\nWORKERS=4\n{name}={token}\nCACHE_DIR=/tmp/cache\n"
        if style == "sh":
            return ".sh", (
                f'#!/usr/bin/env bash\nset -euo pipefail\nexport {name}="{token}"\n'
                f"python train.py --epochs 3 --output models/\n"
            )
        if style == "ipynb":
            cells = [
                {"cell_type": "markdown", "metadata": {}, "source": ["# Fine-tune\n"]},
                {
                    "cell_type": "code",
                    "execution_count": 1,
                    "metadata": {},
                    "outputs": [],
                    "source": ["import os\n", f'os.environ["{name}"] = "{token}"\n', "model = load_model()\n"],
                },
            ]
            return ".ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)
        if style == "toml":
            return ".toml", f'[service]\nname = "scorer"\nport = 8080\n\n[service.auth]\n{lower} = "{token}"\n'
        if style == "k8s":
            return ".yaml", (
                f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: scorer-credentials\n  namespace: ml\n"
                f"type: Opaque\nstringData:\n  {lower.replace('_', '-')}: {token}\n"
            )
        raise ValueError(style)

    def add(self, kind: str, style: str, name: str, token: str) -> None:
        suffix, text = self.context(style, name, token)
        self.samples.append(Sample(kind, True, f"tp/{len(self.samples):04d}-{kind}/config{suffix}", text))

    def add_file(self, kind: str, positive: bool, file_name: str, text: str) -> None:
        folder = "tp" if positive else "fp"
        self.samples.append(Sample(kind, positive, f"{folder}/{len(self.samples):04d}-{kind}/{file_name}", text))


STYLES = ["py", "yaml", "json", "env", "sh", "ipynb", "toml", "yaml-quoted", "py-env", "k8s"]


def token_kinds(c: Corpus) -> dict[str, tuple[Callable[[], str], list[str]]]:
    """kind -> (a token of that kind, the variable names people keep it in)."""
    return {**_cloud_kinds(c), **_ai_kinds(c), **_code_host_kinds(c), **_messaging_and_generic_kinds(c)}


def _bedrock_keys(c: Corpus) -> tuple[Callable[[], str], Callable[[], str]]:
    """Bedrock API keys: long-term ABSK + base64 of the key id and secret; short-term, a presigned URL in base64."""

    def long_term() -> str:
        return "ABSK" + c.b64(f"BedrockAPIKey-{c.r(LOWER_AN, 6)}-at-{c.r(DIGITS, 12)}:{c.r(B64, 40)}".encode())

    def short_term() -> str:
        url = (
            "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA"
            f"{c.r(B32, 16)}%2F20261201%2Fus-east-1%2Fbedrock%2Faws4_request&X-Amz-Date=20261201T090000Z&"
            f"X-Amz-Expires=43200&X-Amz-Security-Token=IQoJb3JpZ2luX2Vj{c.r(B64, 300)}"
            f"&X-Amz-Signature={c.r(HEX, 64)}&Version=1"
        )
        return "bedrock-api-key-" + c.b64(url.encode())

    return long_term, short_term


def _cloud_kinds(c: Corpus) -> dict[str, tuple[Callable[[], str], list[str]]]:
    bedrock, bedrock_short = _bedrock_keys(c)
    return {
        "aws-access-key-id": (lambda: "AKIA" + c.r(B32, 16), ["AWS_ACCESS_KEY_ID", "aws_access_key_id"]),
        "aws-temporary-access-key-id": (lambda: "ASIA" + c.r(B32, 16), ["AWS_ACCESS_KEY_ID"]),
        "aws-secret-access-key": (lambda: c.r(B64, 40), ["AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"]),
        "aws-session-token": (lambda: "IQoJb3JpZ2luX2Vj" + c.r(B64, 380) + "==", ["AWS_SESSION_TOKEN"]),
        "aws-bedrock-api-key": (bedrock, ["AWS_BEARER_TOKEN_BEDROCK", "bedrock_api_key"]),
        "aws-bedrock-short-term-key": (bedrock_short, ["AWS_BEARER_TOKEN_BEDROCK"]),
        "gcp-api-key": (lambda: "AIza" + c.r(B64URL, 35), ["GOOGLE_API_KEY", "GEMINI_API_KEY", "maps_key"]),
        "gcp-api-key-ending-in-dash": (lambda: "AIza" + c.r(B64URL, 34) + "-", ["GOOGLE_API_KEY"]),
        "gcp-oauth-client-secret": (lambda: "GOCSPX-" + c.r(B64URL, 28), ["GOOGLE_CLIENT_SECRET", "client_secret"]),
        "gcp-oauth-access-token": (lambda: "ya29.a0" + c.r(B64URL, 150), ["GOOGLE_ACCESS_TOKEN"]),
        "gcp-oauth-refresh-token": (lambda: "1//0" + c.r(B64URL, 99), ["GOOGLE_REFRESH_TOKEN"]),
        "azure-ad-client-secret": (
            lambda: c.r(AN, 3) + c.r(DIGITS, 1) + "Q~" + c.r(AN + "_~.-", 34),
            ["AZURE_CLIENT_SECRET", "client_secret"],
        ),
        "azure-storage-connection-string": (
            lambda: (
                "DefaultEndpointsProtocol=https;AccountName=mlstore"
                + c.r(DIGITS, 3)
                + ";AccountKey="
                + c.r(B64, 86)
                + "==;EndpointSuffix=core.windows.net"
            ),
            ["AZURE_STORAGE_CONNECTION_STRING"],
        ),
        "azure-service-bus-connection-string": (
            lambda: (
                "Endpoint=sb://ml-events.servicebus.windows.net/;SharedAccessKeyName="
                "RootManageSharedAccessKey;SharedAccessKey=" + c.r(B64, 43) + "="
            ),
            ["SERVICEBUS_CONNECTION"],
        ),
        "azure-sas-url": (
            lambda: (
                "https://mldata.blob.core.windows.net/train?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2027-01-01T00:00:00Z"
                "&st=2026-01-01T00:00:00Z&spr=https&sig=" + c.r(AN, 43).replace("1", "%2B") + "%3D"
            ),
            ["TRAINING_DATA_SAS_URL"],
        ),
    }


def _ai_kinds(c: Corpus) -> dict[str, tuple[Callable[[], str], list[str]]]:
    return {
        "openai-api-key": (lambda: "sk-" + c.r(AN, 20) + "T3BlbkFJ" + c.r(AN, 20), ["OPENAI_API_KEY", "openai_key"]),
        "openai-project-key": (lambda: "sk-proj-" + c.r(B64URL, 74) + "T3BlbkFJ" + c.r(B64URL, 74), ["OPENAI_API_KEY"]),
        "openai-service-account-key": (
            lambda: "sk-svcacct-" + c.r(B64URL, 74) + "T3BlbkFJ" + c.r(B64URL, 74),
            ["OPENAI_API_KEY"],
        ),
        "openai-admin-key": (
            lambda: "sk-admin-" + c.r(B64URL, 74) + "T3BlbkFJ" + c.r(B64URL, 74),
            ["OPENAI_ADMIN_KEY"],
        ),
        "anthropic-api-key": (lambda: "sk-ant-api03-" + c.r(B64URL, 93) + "AA", ["ANTHROPIC_API_KEY", "claude_key"]),
        "anthropic-admin-key": (lambda: "sk-ant-admin01-" + c.r(B64URL, 93) + "AA", ["ANTHROPIC_ADMIN_KEY"]),
        "huggingface-token": (lambda: "hf_" + c.r(string.ascii_letters, 34), ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]),
        "huggingface-org-token": (lambda: "api_org_" + c.r(string.ascii_letters, 34), ["HF_ORG_TOKEN"]),
        "cohere-api-key": (lambda: c.r(AN, 40), ["COHERE_API_KEY", "CO_API_KEY"]),
        "mistral-api-key": (lambda: c.r(AN, 32), ["MISTRAL_API_KEY"]),
        "groq-api-key": (lambda: "gsk_" + c.r(AN, 52), ["GROQ_API_KEY"]),
        "perplexity-api-key": (lambda: "pplx-" + c.r(AN, 48), ["PPLX_API_KEY", "PERPLEXITY_API_KEY"]),
        "replicate-api-token": (lambda: "r8_" + c.r(AN, 37), ["REPLICATE_API_TOKEN"]),
        "together-api-key": (lambda: c.r(HEX, 64), ["TOGETHER_API_KEY"]),
        "wandb-api-key": (lambda: c.r(HEX, 40), ["WANDB_API_KEY"]),
        "databricks-token": (lambda: "dapi" + c.r(HEX, 32), ["DATABRICKS_TOKEN"]),
        "kaggle-key": (lambda: c.r(HEX, 32), ["KAGGLE_KEY"]),
    }


def _code_host_kinds(c: Corpus) -> dict[str, tuple[Callable[[], str], list[str]]]:
    return {
        "github-classic-pat": (lambda: c.crc_token("ghp_"), ["GITHUB_TOKEN", "GH_TOKEN"]),
        "github-oauth-token": (lambda: c.crc_token("gho_"), ["GITHUB_OAUTH_TOKEN"]),
        "github-user-to-server-token": (lambda: c.crc_token("ghu_"), ["GITHUB_TOKEN"]),
        "github-server-to-server-token": (lambda: c.crc_token("ghs_"), ["GITHUB_TOKEN"]),
        "github-refresh-token": (lambda: "ghr_" + c.r(AN, 76), ["GITHUB_REFRESH_TOKEN"]),
        "github-fine-grained-pat": (
            lambda: "github_pat_" + c.r(AN, 22) + "_" + c.r(AN, 59),
            ["GH_PAT", "GITHUB_TOKEN"],
        ),
        "gitlab-pat": (lambda: "glpat-" + c.r(B64URL, 20), ["GITLAB_TOKEN", "private_token"]),
        "gitlab-routable-pat": (lambda: "glpat-" + c.r(B64URL, 27) + ".01." + c.r(LOWER_AN, 9), ["GITLAB_TOKEN"]),
        "gitlab-deploy-token": (lambda: "gldt-" + c.r(B64URL, 20), ["CI_DEPLOY_PASSWORD"]),
        "gitlab-runner-token": (lambda: "glrt-" + c.r(B64URL, 20), ["RUNNER_TOKEN"]),
        "gitlab-runner-registration-token": (lambda: "GR1348941" + c.r(B64URL, 20), ["REGISTRATION_TOKEN"]),
        "gitlab-ci-job-token": (lambda: "glcbt-64_" + c.r(B64URL, 20), ["CI_JOB_TOKEN"]),
        "gitlab-trigger-token": (lambda: "glptt-" + c.r(HEX, 40), ["TRIGGER_TOKEN"]),
        "gitlab-feed-token": (lambda: "glft-" + c.r(B64URL, 20), ["GITLAB_FEED_TOKEN"]),
        "gitlab-oauth-app-secret": (lambda: "gloas-" + c.r(HEX, 64), ["GITLAB_OAUTH_SECRET"]),
        "bitbucket-app-password": (
            lambda: "ATBB" + c.r(AN, 32) + c.r("0123456789ABCDEF", 8),
            ["BITBUCKET_APP_PASSWORD"],
        ),
        "bitbucket-access-token": (
            lambda: "ATCTT3xFfGN0" + c.r(B64URL, 180) + "=" + c.r("0123456789ABCDEF", 8),
            ["BITBUCKET_ACCESS_TOKEN"],
        ),
        "atlassian-api-token": (
            lambda: "ATATT3xFfGF0" + c.r(B64URL, 170) + "=" + c.r("0123456789ABCDEF", 8),
            ["JIRA_API_TOKEN"],
        ),
        "pypi-token": (lambda: "pypi-AgEIcHlwaS5vcmc" + c.r(B64URL, 150), ["TWINE_PASSWORD", "PYPI_TOKEN"]),
        "test-pypi-token": (lambda: "pypi-AgENdGVzdC5weXBpLm9yZw" + c.r(B64URL, 150), ["TEST_PYPI_TOKEN"]),
        "npm-token": (lambda: c.crc_token("npm_"), ["NPM_TOKEN"]),
        "docker-hub-pat": (lambda: "dckr_pat_" + c.r(B64URL, 27), ["DOCKERHUB_TOKEN"]),
    }


def _messaging_and_generic_kinds(c: Corpus) -> dict[str, tuple[Callable[[], str], list[str]]]:
    return {
        "stripe-live-secret-key": (lambda: "sk_live_" + c.r(AN, 99), ["STRIPE_SECRET_KEY"]),
        "stripe-test-secret-key": (lambda: "sk_test_" + c.r(AN, 99), ["STRIPE_SECRET_KEY"]),
        "stripe-live-restricted-key": (lambda: "rk_live_" + c.r(AN, 99), ["STRIPE_RESTRICTED_KEY"]),
        "stripe-test-restricted-key": (lambda: "rk_test_" + c.r(AN, 24), ["STRIPE_KEY"]),
        "stripe-webhook-secret": (lambda: "whsec_" + c.r(AN, 32), ["STRIPE_WEBHOOK_SECRET"]),
        "slack-bot-token": (lambda: f"xoxb-{c.r(DIGITS, 12)}-{c.r(DIGITS, 13)}-{c.r(AN, 24)}", ["SLACK_BOT_TOKEN"]),
        "slack-user-token": (
            lambda: f"xoxp-{c.r(DIGITS, 12)}-{c.r(DIGITS, 12)}-{c.r(DIGITS, 13)}-{c.r(HEX, 32)}",
            ["SLACK_USER_TOKEN"],
        ),
        "slack-app-token": (lambda: f"xapp-1-A{c.r(B32, 10)}-{c.r(DIGITS, 13)}-{c.r(HEX, 64)}", ["SLACK_APP_TOKEN"]),
        "slack-config-token": (lambda: "xoxe.xoxp-1-" + c.r(AN, 163), ["SLACK_CONFIG_TOKEN"]),
        "slack-webhook": (
            lambda: f"https://hooks.slack.com/services/T{c.r(B32, 10)}/B{c.r(B32, 10)}/{c.r(AN, 24)}",
            ["SLACK_WEBHOOK_URL"],
        ),
        "slack-workflow-webhook": (
            lambda: f"https://hooks.slack.com/triggers/T{c.r(B32, 9)}/{c.r(DIGITS, 13)}/{c.r(HEX, 32)}",
            ["SLACK_TRIGGER_URL"],
        ),
        "twilio-auth-token": (lambda: c.r(HEX, 32), ["TWILIO_AUTH_TOKEN"]),
        "twilio-api-key": (lambda: "SK" + c.r(HEX, 32), ["TWILIO_API_KEY"]),
        "sendgrid-api-key": (lambda: f"SG.{c.r(B64URL, 22)}.{c.r(B64URL, 43)}", ["SENDGRID_API_KEY"]),
        "mailgun-api-key": (lambda: "key-" + c.r(HEX, 32), ["MAILGUN_API_KEY"]),
        "mailgun-private-key": (lambda: f"{c.r(HEX, 32)}-{c.r(HEX, 8)}-{c.r(HEX, 8)}", ["MAILGUN_API_KEY"]),
        "discord-bot-token": (lambda: f"MT{c.r(B64URL, 24)}.{c.r(B64URL, 6)}.{c.r(B64URL, 38)}", ["DISCORD_BOT_TOKEN"]),
        "discord-webhook": (
            lambda: f"https://discord.com/api/webhooks/{c.r(DIGITS, 19)}/{c.r(B64URL, 68)}",
            ["DISCORD_WEBHOOK"],
        ),
        "telegram-bot-token": (
            lambda: f"{c.rng.randint(10**8, 10**10 - 1)}:AA{c.r(B64URL, 33)}",
            ["TELEGRAM_BOT_TOKEN"],
        ),
        "jwt": (
            lambda: c.jwt(
                {"sub": c.r(LOWER_AN, 10), "iss": "https://auth.example.org",
                 "exp": c.rng.randint(1_700_000_000, 2_000_000_000)}
            ),
            ["AUTH_TOKEN", "access_token"],
        ),
        "mapbox-secret-token": (
            lambda: "sk.eyJ1IjoibWx0ZWFtIiwiYSI6Im" + c.r(B64URL, 30) + "." + c.r(B64URL, 22),
            ["MAPBOX_SECRET_TOKEN"],
        ),
        "age-secret-key": (lambda: "AGE-SECRET-KEY-1" + c.r("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58), ["SOPS_AGE_KEY"]),
        "generic-api-key-hex": (lambda: c.r(HEX, 32), ["API_KEY", "SERVICE_API_KEY", "api_key"]),
        "generic-token-alnum": (lambda: c.r(AN, 40), ["ACCESS_TOKEN", "AUTH_TOKEN", "service_token"]),
        "generic-secret-base64": (lambda: c.r(B64, 44), ["CLIENT_SECRET", "APP_SECRET", "signing_secret"]),
        "generic-password": (c.password, ["DB_PASSWORD", "password", "SMTP_PASSWORD", "admin_password"]),
        "django-secret-key": (
            lambda: c.r(string.ascii_lowercase + string.digits + "!@#%^&*(-_=+)", 50),
            ["SECRET_KEY"],
        ),
        "generic-key-suffixed-name": (lambda: c.r(AN, 32), ["API_KEY_PROD", "STRIPE_KEY_LIVE", "SECRET_KEY_V2"]),
        "generic-camel-case-token": (lambda: c.r(AN, 30), ["fooToken", "serviceApiKey", "clientSecret"]),
    }


def add_positives(c: Corpus, per_kind: int) -> None:
    for kind, (make, names) in token_kinds(c).items():
        styles = c.rng.sample(STYLES, len(STYLES))
        for index in range(per_kind):
            c.add(kind, styles[index % len(styles)], names[index % len(names)], make())
    add_structured_positives(c, per_kind)


def add_structured_positives(c: Corpus, per_kind: int) -> None:
    """Kinds whose shape is a file or a command, not a variable."""
    for index in range(per_kind):
        user, host = (
            c.rng.choice(["analytics", "trainer", "svc_ml", "app"]),
            c.rng.choice(["db.internal", "10.0.3.12", "pg-prod"]),
        )
        pw = c.r(AN, c.rng.randint(12, 24))
        urls = {
            "postgres-url": f"postgres://{user}:{pw}@{host}:5432/features",
            "postgresql-driver-url": f"postgresql+psycopg2://{user}:{pw}@{host}/warehouse",
            "mysql-url": f"mysql://{user}:{pw}@{host}:3306/ml",
            "mongodb-srv-url": f"mongodb+srv://{user}:{pw}@cluster0.{c.r(LOWER_AN, 5)}.mongodb.net/"
            f"runs?retryWrites=true",
            "redis-url": f"redis://default:{pw}@cache.internal:6379/0",
            "amqp-url": f"amqp://{user}:{pw}@rabbitmq.internal:5672/ml",
            "git-remote-with-password": f"https://{user}:{pw}@git.example.org/ml/model.git",
        }
        for kind, url in urls.items():
            style = ["py", "yaml", "env", "json", "sh", "toml", "ipynb"][index % 7]
            c.add(
                kind,
                style,
                {"git-remote-with-password": "REPO_URL", "redis-url": "REDIS_URL", "amqp-url": "BROKER_URL"}.get(
                    kind, "DATABASE_URL"
                ),
                url,
            )
        add_key_files(c, index)
        add_command_lines(c, index)
        add_credential_files(c, index)


def add_key_files(c: Corpus, index: int) -> None:
    labels = {
        "rsa-private-key": "RSA PRIVATE KEY",
        "ec-private-key": "EC PRIVATE KEY",
        "pkcs8-private-key": "PRIVATE KEY",
        "encrypted-private-key": "ENCRYPTED PRIVATE KEY",
        "openssh-private-key": "OPENSSH PRIVATE KEY",
        "dsa-private-key": "DSA PRIVATE KEY",
        "pgp-private-key-block": "PGP PRIVATE KEY BLOCK",
    }
    for kind, label in labels.items():
        block = f"-----BEGIN {label}-----\n{c.pem_body()}\n-----END {label}-----\n"
        wrapper = index % 3
        if wrapper == 0:
            c.add_file(kind, True, "deploy_key.txt", block)
        elif wrapper == 1:
            c.add_file(kind, True, "keys.py", f'SIGNING_KEY = """{block}"""\n')
        else:
            c.add_file(
                kind, True, "values.yaml", "tls:\n  key: |\n" + "".join(f"    {line}\n" for line in block.splitlines())
            )
    version = 2 + index % 2
    c.add_file(
        "putty-private-key",
        True,
        "deploy.txt",
        f"PuTTY-User-Key-File-{version}: ssh-rsa\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n"
        f"{c.pem_body(2)}\n",
    )
    service_account = {
        "type": "service_account",
        "project_id": f"ml-prod-{c.r(DIGITS, 4)}",
        "private_key_id": c.r(HEX, 40),
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{c.pem_body()}\n-----END PRIVATE KEY-----\n",
        "client_email": "trainer@ml-prod.iam.gserviceaccount.com",
        "client_id": c.r(DIGITS, 21),
    }
    c.add_file("gcp-service-account-json", True, "gcp_sa.json", json.dumps(service_account, indent=2))
    key_data = c.b64(f"-----BEGIN RSA PRIVATE KEY-----\n{c.pem_body(3)}\n-----END RSA PRIVATE KEY-----\n".encode())
    token = c.jwt({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "ml"})
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: prod\n"
        "users:\n- name: trainer\n  user:\n"
    )
    c.add_file(
        "kubeconfig-client-key-data",
        True,
        "cluster.yaml",
        kubeconfig + f"    client-certificate-data: {c.b64(b'-----BEGIN CERTIFICATE-----' + c.r(AN, 40).encode())}\n"
        f"    client-key-data: {key_data}\n",
    )
    c.add_file("kubeconfig-token", True, "cluster.yaml", kubeconfig + f"    token: {token}\n")


def add_command_lines(c: Corpus, index: int) -> None:
    bearer, user, pw = c.r(B64URL, 40), c.rng.choice(["ci-bot", "admin", "deploy"]), c.r(AN, 16)
    c.add_file(
        "authorization-bearer-header",
        True,
        "call_api.sh",
        f'#!/bin/sh\ncurl -sS -X POST -H "Authorization: Bearer {bearer}" -H "Content-Type: application/json" '
        f"https://api.example.org/v1/predict -d @payload.json\n",
    )
    basic = c.b64(f"{user}:{pw}".encode())
    c.add_file(
        "authorization-basic-header",
        True,
        "client.py",
        f'import requests\n\nresponse = requests.get(\n    "https://registry.example.org/v2/_catalog",\n'
        f"    headers={{'Authorization': 'Basic {basic}'}},\n    timeout=10,\n)\n",
    )
    c.add_file(
        "curl-user-password",
        True,
        "upload.sh",
        f"#!/bin/sh\nset -e\ncurl -u {user}:{pw} -T model.tar.gz https://artifacts.example.org/models/\n",
    )
    c.add_file(
        "curl-user-long-option",
        True,
        "README.md",
        f"Upload the weights:\n\n```\ncurl --user '{user}:{pw}' -F file=@weights.bin https://x.example.org/upload\n```\n",
    )
    c.add_file(
        "wandb-login-call", True, "train.py", f"import wandb\n\nwandb.login(key='{c.r(HEX, 40)}')\nrun = wandb.init()\n"
    )
    c.add_file(
        "huggingface-login-call",
        True,
        "push.py",
        f"from huggingface_hub import login\n\nlogin(token='hf_{c.r(string.ascii_letters, 34)}')\n",
    )


def add_credential_files(c: Corpus, index: int) -> None:
    c.add_file("netrc-entry", True, "netrc.txt", f"machine api.wandb.ai\n  login user\n  password {c.r(HEX, 40)}\n")
    c.add_file(
        "aws-credentials-file",
        True,
        "aws_credentials.ini",
        f"[default]\naws_access_key_id = AKIA{c.r(B32, 16)}\naws_secret_access_key = {c.r(B64, 40)}\n"
        f"region = eu-west-1\n",
    )
    c.add_file(
        "kubernetes-secret-data",
        True,
        "secret.yaml",
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: registry\n  namespace: ml\ntype: Opaque\ndata:\n"
        f"  password: {c.b64(c.password().encode())}\n  username: {c.b64(b'mlbot')}\n",
    )
    c.add_file(
        "kubernetes-secret-sorted",
        True,
        "secret-export.yaml",
        f"apiVersion: v1\ndata:\n  api-key: {c.b64(c.r(AN, 32).encode())}\nkind: Secret\nmetadata:\n  name: api\n"
        f"type: Opaque\n",
    )
    c.add_file(
        "kaggle-json", True, "kaggle_creds.json", json.dumps({"username": f"ml{c.r(LOWER_AN, 5)}", "key": c.r(HEX, 32)})
    )
    auth = c.b64(f"mlbot:{c.r(AN, 24)}".encode())
    c.add_file(
        "docker-config-auth",
        True,
        "docker-config.json",
        json.dumps({"auths": {"registry.example.org": {"auth": auth}}}, indent=2),
    )
    c.add_file(
        "npmrc-auth-token",
        True,
        "npmrc.txt",
        f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={c.crc_token('npm_')}\n",
    )
    c.add_file(
        "pypirc-password",
        True,
        "pypirc.ini",
        f"[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\n"
        f"password = pypi-AgEIcHlwaS5vcmc{c.r(B64URL, 150)}\n",
    )
    c.add_file(
        "docker-compose-password",
        True,
        "docker-compose.yml",
        f"services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_USER: ml\n"
        f"      POSTGRES_PASSWORD: {c.password()}\n",
    )


# False positives --------------------------------------------------------------------------------------------------

ML_SOURCE = [
    'from transformers import AutoTokenizer\n\ntokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")\n'
    "tokenizer.pad_token = tokenizer.eos_token\npad_token = tokenizer.eos_token\n",
    "def generate(prompt, max_tokens=512, temperature=0.7):\n"
    "    return client.completions.create(prompt=prompt, max_tokens=max_tokens)\n",
    'encoded = tokenizer(texts, return_tensors="pt", padding=True)\ntoken_type_ids = encoded["token_type_ids"]\n'
    'attention_mask = encoded["attention_mask"]\n',
    'import os\n\napi_key = os.environ["OPENAI_API_KEY"]\nhf_token = os.getenv("HF_TOKEN")\n',
    'import getpass\n\npassword = getpass.getpass("Database password: ")\n'
    'conn = connect(user="ml", password=password)\n',
    'for key, value in sorted(metrics.items()):\n    print(f"{key}: {value:.4f}")\n',
    "cache_key = hashlib.sha256(text.encode()).hexdigest()\nif cache_key in cache:\n    return cache[cache_key]\n",
    'SPECIAL_TOKENS = {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}\n',
    "num_tokens = len(tokenizer.encode(text))\ntotal_tokens += num_tokens\nif total_tokens > token_budget:\n"
    "    break\n",
    "secret_sauce = compute_features(batch)\nauth_token = read_token_from(path)\nuse_auth_token = True\n",
    "key = jax.random.PRNGKey(0)\nkey, subkey = jax.random.split(key)\nparams = model.init(subkey, x)\n",
    "self.query = nn.Linear(hidden, hidden)\nself.key = nn.Linear(hidden, hidden)\n"
    "self.value = nn.Linear(hidden, hidden)\n",
    'def tokenize(batch):\n    return tokenizer(batch["text"], truncation=True, max_length=256)\n\n'
    "dataset = dataset.map(tokenize)\n",
    'primary_key = "customer_id"\npartition_key = "event_date"\nsort_key = "timestamp"\n',
    'model = AutoModelForCausalLM.from_pretrained("meta-llama/Llama-2-7b-hf", token=hf_token)\n',
    "credentials = service_account.Credentials.from_service_account_file(key_path)\n"
    "client = bigquery.Client(credentials=credentials)\n",
    'parser.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY)")\n',
    "logits = outputs.logits[:, -1, :]\nnext_token = torch.argmax(logits, dim=-1)\ntokens.append(next_token.item())\n",
    'KEY_COLUMNS = ["user_id", "item_id"]\nSECRET_NAME = "prod/ml/openai"\n'
    "secret = secrets_client.get_secret_value(SecretId=SECRET_NAME)\n",
    'eos_token_id = tokenizer.eos_token_id\nbos_token = tokenizer.bos_token\nunk_token = "<unk>"\n',
]


def add_negatives(c: Corpus, count: int) -> None:
    makers = [
        fp_ml_source,
        fp_tokenizer_config,
        fp_model_config,
        fp_notebook_image,
        fp_lock_file,
        fp_uuids,
        fp_hashes,
        fp_placeholder,
        fp_documented_example,
        fp_requirements,
        fp_ci_and_k8s,
        fp_vocab,
    ]
    index = 0
    while sum(1 for sample in c.samples if not sample.positive) < count:
        makers[index % len(makers)](c)
        index += 1


def fp_ml_source(c: Corpus) -> None:
    snippet = c.rng.choice(ML_SOURCE)
    c.add_file("ml-source", False, c.rng.choice(["model.py", "train.py", "inference.py"]), snippet)


def fp_tokenizer_config(c: Corpus) -> None:
    config = {
        "added_tokens_decoder": {
            str(i): {"content": t, "special": True} for i, t in enumerate(["<pad>", "</s>", "<unk>"])
        },
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "model_max_length": c.rng.choice([512, 2048, 4096, 131072]),
        "tokenizer_class": "LlamaTokenizer",
        "clean_up_tokenization_spaces": False,
        "chat_template": "{% for message in messages %}{{ message['content'] }}{% endfor %}",
    }
    c.add_file("tokenizer-config", False, "tokenizer_config.json", json.dumps(config, indent=2))


def fp_model_config(c: Corpus) -> None:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 4096,
        "num_attention_heads": 32,
        "vocab_size": 32000,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "rope_theta": 10000.0,
        "torch_dtype": "bfloat16",
        "_name_or_path": f"org/model-{c.r(LOWER_AN, 6)}",
        "key_value_heads": 8,
        "max_position_embeddings": 4096,
    }
    if c.rng.random() < 0.5:
        c.add_file("model-config", False, "config.json", json.dumps(config, indent=2))
    else:
        c.add_file(
            "model-config",
            False,
            "params.yaml",
            f'model:\n  name: bert-base-uncased\n  max_tokens: {c.rng.choice([256, 512])}\n  pad_token: "[PAD]"\n'
            f"train:\n  lr: 3.0e-5\n  seed: {c.rng.randint(0, 9999)}\n  key_metric: f1\n",
        )


def fp_notebook_image(c: Corpus) -> None:
    image = c.b64(c.rng.randbytes(c.rng.randint(3000, 12000)))
    cells = [
        {
            "cell_type": "code",
            "execution_count": 3,
            "metadata": {},
            "source": ["plt.plot(history['loss'])\n", "plt.show()\n"],
            "outputs": [
                {
                    "data": {"image/png": image, "text/plain": ["<Figure size 640x480>"]},
                    "metadata": {},
                    "output_type": "display_data",
                }
            ],
        }
    ]
    c.add_file(
        "notebook-base64-image",
        False,
        "eval.ipynb",
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1),
    )


def fp_lock_file(c: Corpus) -> None:
    style = c.rng.randrange(3)
    if style == 0:
        lines = "".join(
            f"numpy==2.1.{i} \\\n    --hash=sha256:{c.r(HEX, 64)} \\\n    --hash=sha256:{c.r(HEX, 64)}\n"
            for i in range(3)
        )
        c.add_file("lock-file-hashes", False, "requirements.lock", lines)
    elif style == 1:
        c.add_file(
            "lock-file-hashes",
            False,
            "uv.lock",
            f'[[package]]\nname = "torch"\nversion = "2.5.1"\nsource = {{ registry = "https://pypi.org/simple" }}\n'
            f'wheels = [\n    {{ url = "https://files.example.org/torch.whl", hash = "sha256:{c.r(HEX, 64)}", size '
            f"= 906 }},\n]\n",
        )
    else:
        c.add_file(
            "lock-file-hashes",
            False,
            "package-lock.json",
            json.dumps(
                {
                    "packages": {
                        "node_modules/ws": {
                            "version": "8.18.0",
                            "resolved": "https://registry.npmjs.org/ws/-/ws-8.18.0.tgz",
                            "integrity": "sha512-" + c.r(B64, 86) + "==",
                        }
                    }
                },
                indent=2,
            ),
        )


def fp_uuids(c: Corpus) -> None:
    import uuid

    ids = [str(uuid.UUID(int=c.rng.getrandbits(128), version=4)) for _ in range(3)]
    c.add_file(
        "uuids",
        False,
        c.rng.choice(["run.yaml", "meta.json"]),
        f'run_id: {ids[0]}\nexperiment_id: {ids[1]}\nrequest_id: "{ids[2]}"\nartifact_uri: mlruns/{ids[0]}/artifacts\n',
    )


def fp_hashes(c: Corpus) -> None:
    c.add_file(
        "hashes",
        False,
        c.rng.choice(["model.dvc", "checksums.txt", "MODEL_CARD.md"]),
        f"outs:\n- md5: {c.r(HEX, 32)}\n  size: {c.rng.randint(10**6, 10**9)}\n  path: weights.bin\n"
        f'commit: {c.r(HEX, 40)}\nsha256: {c.r(HEX, 64)}\netag: "{c.r(HEX, 32)}"\n',
    )


PLACEHOLDERS = [
    "OPENAI_API_KEY=<your-api-key>",
    'OPENAI_API_KEY="sk-..."',
    "SLACK_BOT_TOKEN=xoxb-your-token",
    "HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxx",
    'api_key = "YOUR_API_KEY"',
    "password: ${DB_PASSWORD}",
    'token = os.environ["GITHUB_TOKEN"]',
    "token: ${{ secrets.HF_TOKEN }}",
    "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX",
    'secret_key = "0000000000000000000000000000000000000000"',
    "DATABASE_URL=postgres://user:password@localhost:5432/app",
    "api_key: '{{ vault_api_key }}'",
    "STRIPE_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
    'password = "changeme"',
    "GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "ANTHROPIC_API_KEY=sk-ant-api03-...",
    "export API_TOKEN=$(cat /run/secrets/api_token)",
    'client_secret = "<client-secret>"',
    "redis_url: redis://:${REDIS_PASSWORD}@cache:6379",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
]
DOCUMENTED = [
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
]


def fp_placeholder(c: Corpus) -> None:
    line = c.rng.choice(PLACEHOLDERS)
    c.add_file(
        "placeholder", False, c.rng.choice(["settings.py", "config.yaml", "example.sh", "README.md"]), line + "\n"
    )


def fp_documented_example(c: Corpus) -> None:
    c.add_file(
        "documented-example-key",
        False,
        c.rng.choice(["docs.md", "setup.sh", "config.ini"]),
        c.rng.choice(DOCUMENTED) + "\n",
    )


def fp_requirements(c: Corpus) -> None:
    pins = [
        "tiktoken==0.7.0.post1",
        "tokenizers==0.15.2rc1",
        "secretstorage==3.3.3.dev1",
        "keyring==25.2.1",
        "python-jose[cryptography]==3.3.0",
        "pyjwt==2.9.0",
        "authlib==1.3.2",
        "google-auth==2.35.0",
        "sentencepiece==0.2.0",
    ]
    c.add_file("requirements-pins", False, "requirements.txt", "\n".join(c.rng.sample(pins, 5)) + "\n")


def fp_ci_and_k8s(c: Corpus) -> None:
    style = c.rng.randrange(3)
    if style == 0:
        c.add_file(
            "ci-secret-reference",
            False,
            "release.yml",
            "jobs:\n  publish:\n    steps:\n      - run: twine upload dist/*\n        env:\n"
            "          TWINE_PASSWORD: ${{ secrets.PYPI_TOKEN }}\n          HF_TOKEN: ${{ secrets.HF_TOKEN }}\n",
        )
    elif style == 1:
        c.add_file(
            "k8s-secret-reference",
            False,
            "deployment.yaml",
            "env:\n  - name: OPENAI_API_KEY\n    valueFrom:\n      secretKeyRef:\n        name: openai-credentials\n"
            "        key: api-key\n",
        )
    else:
        c.add_file(
            "k8s-configmap",
            False,
            "configmap.yaml",
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scorer\ndata:\n  MODEL_NAME: fraud-scorer\n"
            f'  TOKENIZERS_PARALLELISM: "false"\n  MAX_TOKENS: "{c.rng.choice([256, 512])}"\n',
        )


def fp_vocab(c: Corpus) -> None:
    words = [
        "password",
        "token",
        "secret",
        "key",
        "apikey",
        "auth",
        "credential",
        "the",
        "model",
        "train",
        "ing",
        "##s",
    ]
    vocab = {
        f"{'Ġ' if i % 2 else ''}{w}{c.r(string.ascii_lowercase, c.rng.randint(0, 3))}": i
        for i, w in enumerate(words * 8)
    }
    c.add_file("tokenizer-vocab", False, "vocab.json", json.dumps(vocab, indent=1))


# Running the scanners ----------------------------------------------------------------------------------------------


def bake(target: Path) -> Path:
    from cookiecutter.main import cookiecutter

    config = target / ".cookiecutterrc"
    target.mkdir(parents=True, exist_ok=True)
    config.write_text(f"cookiecutters_dir: {target / '.cc'}\nreplay_dir: {target / '.replay'}\n")
    return Path(cookiecutter(str(REPO), no_input=True, output_dir=str(target), config_file=str(config)))


def our_flags(project: Path) -> set[str]:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        PACKFLOW_EXPORT_CACHE=str(project.parent / "cache"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "packflow_export", "check", str(project), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    return {f["path"] for f in report["findings"] if f["code"] == "PF801" and " contains" in f["message"]}


def peer_flags(project: Path) -> set[str] | None:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "detect-secrets==1.5.0"], check=True)
    result = subprocess.run(
        [str(python), "-m", "detect_secrets", "scan", "--all-files", "corpus"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return None
    return {path for path, found in json.loads(result.stdout)["results"].items() if found}


def rate(flagged: set[str], samples: list[Sample]) -> str:
    hit = sum(1 for sample in samples if "corpus/" + sample.path in flagged)
    return f"{100 * hit / len(samples):.0f}% ({hit}/{len(samples)})"


def report(samples: list[Sample], scanners: dict[str, set[str]]) -> None:
    names = list(scanners)
    head = " | ".join(names)
    for positive, title in (
        (True, "Recall by token kind (true positives found)"),
        (False, "False alarms by kind of harmless file (files flagged)"),
    ):
        by_kind = collections.defaultdict(list)
        for sample in samples:
            if sample.positive == positive:
                by_kind[sample.kind].append(sample)
        print(f"\n## {title}: {len(by_kind)} kinds\n\n| kind | samples | {head} |\n|---|---|{'---|' * len(names)}")
        for kind, group in sorted(by_kind.items()):
            print(f"| {kind} | {len(group)} | {' | '.join(rate(scanners[n], group) for n in names)} |")
    positives = [s for s in samples if s.positive]
    negatives = [s for s in samples if not s.positive]
    print("\n## Overall\n\n| scanner | recall | false alarms |\n|---|---|---|")
    for name in names:
        print(f"| {name} | {rate(scanners[name], positives)} | {rate(scanners[name], negatives)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--per-kind", type=int, default=6, help="true positives per token kind")
    parser.add_argument("--negatives", type=int, default=360, help="harmless files")
    parser.add_argument("--keep", type=Path, help="write the bake here and keep it")
    parser.add_argument("--no-peer", action="store_true", help="skip detect-secrets")
    args = parser.parse_args()
    corpus = Corpus(args.seed)
    add_positives(corpus, args.per_kind)
    add_negatives(corpus, args.negatives)
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        if args.keep and where.exists():
            shutil.rmtree(where)
        project = bake(where)
        for sample in corpus.samples:
            path = project / "corpus" / sample.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(sample.text, encoding="utf-8")
        scanners = {"packflow_export": our_flags(project)}
        if not args.no_peer:
            peer = peer_flags(project)
            if peer is not None:
                scanners["detect-secrets 1.5.0"] = {"corpus/" + path.split("corpus/", 1)[-1] for path in peer}
    kinds = {sample.kind for sample in corpus.samples if sample.positive}
    print(
        f"# Labelled corpus: {sum(s.positive for s in corpus.samples)} true positives over {len(kinds)} token kinds, "
        f"{sum(not s.positive for s in corpus.samples)} harmless files (seed {args.seed})"
    )
    report(corpus.samples, scanners)


if __name__ == "__main__":
    main()
