"""Maintainers alerted by email: a real SMTP server (aiosmtpd) on 127.0.0.1 receives the alerts built from a
real audit of the OSV subset; plain SMTP, and STARTTLS with AUTH PLAIN or LOGIN against a self-signed certificate."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from deps_support import osv_subset

from packflow_export.deps.audit import audit_projects
from packflow_export.deps.database import open_database
from packflow_export.deps.notify import NotifyError, notify_smtp, parse_smtp_url
from packflow_export.deps.records import ProjectInput, RequirementRecord


class Inbox:
    """An aiosmtpd handler keeping every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        return [(list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=email.policy.default))
                for envelope in self.envelopes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def audits():
    database = open_database(osv_subset())
    projects = [
        ProjectInput("fraud-scorer", "1.2.0", "inbox/fraud_scorer-1.2.0.zip",
                     (RequirementRecord("requests", "==2.19.0", path="requirements.txt", line=3),
                      RequirementRecord("torch", "==1.13.0", path="requirements.txt", line=4)),
                     ("alice@example.org", "bob@example.org")),
        ProjectInput("clean-one", "0.1.0", "inbox/clean_one-0.1.0.zip",
                     (RequirementRecord("requests", "==2.32.3"),), ("carol@example.org",)),
        ProjectInput("hostile\r\nBcc: all@example.org", "9\n9", "inbox/odd.zip",
                     (RequirementRecord("pyyaml", "==5.3"),),
                     ("evil@example.org\r\nBcc: victim@example.org", "dave@example.org", "not an address")),
        ProjectInput("orphan", "1.0.0", "inbox/orphan-1.0.0.zip", (RequirementRecord("py", "==1.11.0"),), ()),
    ]
    return audit_projects(projects, database)


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def test_one_email_per_affected_project(smtp_server, audits):
    controller, inbox = smtp_server
    alerts, deliveries = notify_smtp(f"smtp://127.0.0.1:{controller.port}", audits, sender="audit@pipeline.example")
    received = inbox.messages()
    assert len(received) == 2 == len(alerts)  # the clean project gets nothing, the orphan has nobody to write to
    (recipients, message), (odd_recipients, odd) = received
    assert recipients == ["alice@example.org", "bob@example.org"]
    assert message["From"] == "audit@pipeline.example" and message["To"] == "alice@example.org, bob@example.org"
    assert message["Subject"] == ("[packflow-export] fraud-scorer 1.2.0: 3 known vulnerabilities in its "
                                  "dependencies")
    body = message.get_content()
    for expected in ("- requests==2.19.0 (requirements.txt:3)",
                     "PYSEC-2018-28 (CVE-2018-18074, GHSA-x84v-xcm2-53pg): The Requests package before 2.20.0",
                     "fix: upgrade to >= 2.20.0", "PYSEC-2023-74", "fix: upgrade to >= 2.31.0",
                     "- torch==1.13.0 (requirements.txt:4)", "PYSEC-2022-43015", "fix: upgrade to >= 1.13.1",
                     "https://osv.dev/vulnerability/PYSEC-2022-43015", "inbox/fraud_scorer-1.2.0.zip"):
        assert expected in body, expected
    assert "clean-one" not in str([m.as_string() for _, m in received])
    # A hostile archive's name and maintainers cannot add headers or recipients.
    assert odd_recipients == ["dave@example.org"]
    assert odd["Bcc"] is None and "victim" not in odd.as_string()
    assert odd["Subject"] == "[packflow-export] hostile Bcc: all@example.org 9 9: 2 known vulnerabilities in its " \
                             "dependencies"
    assert [(item.project, item.sent, item.recipients, item.problem) for item in deliveries] == [
        ("fraud-scorer", True, ("alice@example.org", "bob@example.org"), None),
        ("hostile\r\nBcc: all@example.org", True, ("dave@example.org",), None),
        ("orphan", False, (), "no maintainers listed")]


def test_dry_run_sends_nothing(audits):
    port = free_port()  # nothing listens there: a dry run must not connect
    alerts, deliveries = notify_smtp(f"smtp://127.0.0.1:{port}", audits, dry_run=True)
    assert [alert.project for alert in alerts] == ["fraud-scorer", "hostile\r\nBcc: all@example.org"]
    assert alerts[0].subject.endswith("3 known vulnerabilities in its dependencies")
    assert "PYSEC-2018-28" in alerts[0].body
    assert {item.problem for item in deliveries} == {"dry run", "no maintainers listed"}
    assert not any(item.sent for item in deliveries)


def test_unreachable_server_fails_clearly(audits):
    with pytest.raises(NotifyError, match="cannot be used"):
        notify_smtp(f"smtp://127.0.0.1:{free_port()}", audits, timeout=5)


def test_urls_and_passwords():
    assert parse_smtp_url("smtp://mail.example.org") == parse_smtp_url("smtp://mail.example.org:25")
    settings = parse_smtp_url("smtp://alerts%40corp@mail.example.org:587?starttls=1")
    assert (settings.host, settings.port, settings.starttls, settings.username) == \
        ("mail.example.org", 587, True, "alerts@corp")
    assert parse_smtp_url("smtps://mail.example.org").port == 465
    with pytest.raises(NotifyError, match="password in the URL is refused"):
        parse_smtp_url("smtp://user:secret@mail.example.org")
    with pytest.raises(NotifyError, match="smtp://HOST:PORT"):
        parse_smtp_url("http://mail.example.org")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make the STARTTLS test's certificate (apt-get install openssl)"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(params=["PLAIN", "LOGIN"])
def tls_server(certificate, request):
    """A server that requires STARTTLS and AUTH, offering one mechanism (smtplib prefers PLAIN, then LOGIN)."""
    excluded = ["LOGIN"] if request.param == "PLAIN" else ["PLAIN"]
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    logins: list[tuple[str, bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((mechanism, auth_data.login, auth_data.password))
        good = auth_data.login == b"alerts" and auth_data.password == b"s3cret pass"
        return AuthResult(success=good, handled=False)  # handled=False: aiosmtpd answers 535 on a failure

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_context,
                            require_starttls=True, auth_required=True, authenticator=authenticator,
                            auth_exclude_mechanism=excluded)
    controller.start()
    client_context = ssl.create_default_context(cafile=str(cert))
    yield controller, inbox, logins, client_context, request.param
    controller.stop()


def test_starttls_and_login_with_the_password_from_the_environment(tls_server, audits, monkeypatch):
    controller, inbox, logins, context, mechanism = tls_server
    url = f"smtp://alerts@127.0.0.1:{controller.port}?starttls=1"
    monkeypatch.delenv("PACKFLOW_SMTP_PASSWORD", raising=False)
    with pytest.raises(NotifyError, match=r"\$PACKFLOW_SMTP_PASSWORD"):
        notify_smtp(url, audits, ssl_context=context)
    monkeypatch.setenv("ALERTS_SMTP_PASSWORD", "wrong")
    with pytest.raises(NotifyError, match="refused the login of alerts"):
        notify_smtp(url, audits, ssl_context=context, password_env="ALERTS_SMTP_PASSWORD", timeout=10)
    assert inbox.envelopes == []
    monkeypatch.setenv("ALERTS_SMTP_PASSWORD", "s3cret pass")
    _, deliveries = notify_smtp(url, audits, ssl_context=context, password_env="ALERTS_SMTP_PASSWORD")
    assert [item.sent for item in deliveries] == [True, True, False]
    assert [recipients for recipients, _ in inbox.messages()] == [["alice@example.org", "bob@example.org"],
                                                                  ["dave@example.org"]]
    assert logins == [(mechanism, b"alerts", b"wrong"), (mechanism, b"alerts", b"s3cret pass")]
    # The server requires STARTTLS: without it, the client is turned away before any mail.
    with pytest.raises(NotifyError):
        notify_smtp(f"smtp://alerts@127.0.0.1:{controller.port}", audits, ssl_context=context,
                    password_env="ALERTS_SMTP_PASSWORD", timeout=10)
    assert len(inbox.envelopes) == 2


def test_smtps_implicit_tls(certificate, audits):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=server_context)
    controller.start()
    try:
        client_context = ssl.create_default_context(cafile=str(cert))
        _, deliveries = notify_smtp(f"smtps://127.0.0.1:{controller.port}", audits, ssl_context=client_context)
        assert [item.sent for item in deliveries] == [True, True, False]
        assert len(inbox.envelopes) == 2
        # A client that does not trust the certificate refuses to send anything.
        with pytest.raises(NotifyError, match="CERTIFICATE_VERIFY_FAILED"):
            notify_smtp(f"smtps://127.0.0.1:{controller.port}", audits, timeout=10)
        assert len(inbox.envelopes) == 2
    finally:
        controller.stop()
