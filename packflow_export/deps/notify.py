"""Alert a project's maintainers by email: one message per affected project, to its packflow.yaml
`maintainers`, over SMTP (standard library smtplib/email).

The server is a URL: `smtp://HOST[:PORT]` (plain, port 25; add `?starttls=1` for STARTTLS), `smtps://HOST[:PORT]`
(TLS from the first byte, port 465), `smtp://USER@HOST:587?starttls=1` to log in. The password is read only
from an environment variable (PACKFLOW_SMTP_PASSWORD unless another name is given): a password in the URL is
refused, so it never reaches a command line, a process list or a CI log. Archives come from strangers, so
every value that reaches a header is stripped of control characters, and a maintainer entry that is not one
plain address is left out (and reported), never passed to the server.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Iterable, Optional, Sequence

from ..errors import EXIT_UNAVAILABLE
from .records import DepsError, ProjectAudit

DEFAULT_PASSWORD_ENV = "PACKFLOW_SMTP_PASSWORD"
DEFAULT_SENDER = "packflow-export@localhost"
ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
TRUE = {"1", "true", "yes", "on"}


class NotifyError(DepsError):
    """The SMTP server cannot be used: bad URL, no password in the environment, unreachable, refused login (exit 4)."""

    exit_code = EXIT_UNAVAILABLE


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server, read from its URL and options."""

    host: str
    port: int
    tls: bool = False  # smtps://: TLS from the first byte
    starttls: bool = False
    username: Optional[str] = None
    password_env: str = DEFAULT_PASSWORD_ENV


@dataclass(frozen=True)
class Alert:
    """One email: to whom, about which project, with what subject and body."""

    project: str
    version: str
    recipients: tuple[str, ...]
    subject: str
    body: str


@dataclass(frozen=True)
class Delivery:
    """What became of one alert (or why a project got none)."""

    project: str
    version: str
    sent: bool
    recipients: tuple[str, ...] = ()
    problem: Optional[str] = None  # why not sent, or which recipients were refused


def parse_smtp_url(url: str, *, starttls: Optional[bool] = None, username: Optional[str] = None,
                   password_env: str = DEFAULT_PASSWORD_ENV) -> SmtpSettings:
    """SmtpSettings from `smtp://[USER@]HOST[:PORT][?starttls=1]` or `smtps://...`; flags override the URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise NotifyError(f"--notify {url!r}: give smtp://HOST:PORT (or smtps://HOST:PORT)")
    if parts.password is not None:
        raise NotifyError(f"--notify: a password in the URL is refused; set it in ${password_env} instead")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError as exc:
        raise NotifyError(f"--notify {url!r}: {exc}") from exc
    query = urllib.parse.parse_qs(parts.query)
    wants_starttls = query.get("starttls", ["0"])[-1].lower() in TRUE
    user = username or (urllib.parse.unquote(parts.username) if parts.username else None)
    return SmtpSettings(parts.hostname, port, parts.scheme == "smtps",
                        wants_starttls if starttls is None else starttls, user, password_env)


def _clean(text: str) -> str:
    return CONTROL.sub(" ", text).strip()


def recipients_of(maintainers: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(plain addresses to write to, entries left out): one `user@domain` each, nothing else."""
    good: list[str] = []
    bad: list[str] = []
    for entry in maintainers:
        text = str(entry).strip()
        (good if ADDRESS.fullmatch(text) else bad).append(text)
    return tuple(dict.fromkeys(good)), tuple(bad)


def alert_text(audit: ProjectAudit) -> tuple[str, str]:
    """(subject, body) of the alert for one affected project."""
    count = len(audit.hits)
    name, version = _clean(audit.name) or "(unnamed project)", _clean(audit.version)
    noun = "vulnerability" if count == 1 else "vulnerabilities"
    subject = f"[packflow-export] {name} {version}: {count} known {noun} in its dependencies"
    lines = [f"The dependencies of {name} {version} ({_clean(audit.source)}) are affected by {count} known {noun}.",
             "", "Each requirement, the advisory, what it is about and the fix:", ""]
    for hit in audit.hits:
        aliases = f" ({', '.join(hit.advisory.aliases)})" if hit.advisory.aliases else ""
        lines += [f"- {hit.requirement.display} ({hit.requirement.where})",
                  f"  {hit.advisory.id}{aliases}: {hit.advisory.summary or 'no summary given'}",
                  f"  fix: {hit.fix}", f"  {hit.advisory.url}", ""]
    lines += ["Update the pins (python -m packflow_export lock --upgrade, when the project has requirements.in),",
              "release a new version, and reply to the pipeline's owners if an advisory does not apply.", "",
              "-- ", "Sent by packflow-export audit to the maintainers listed in packflow.yaml."]
    return subject, "\n".join(lines) + "\n"


def build_alerts(audits: Sequence[ProjectAudit]) -> tuple[tuple[Alert, ...], tuple[Delivery, ...]]:
    """(one alert per affected project with maintainers, deliveries explaining the affected projects left out)."""
    alerts, skipped = [], []
    for audit in audits:
        if not audit.hits:
            continue
        good, bad = recipients_of(audit.maintainers)
        if not good:
            why = f"no usable maintainer address ({', '.join(map(repr, bad))})" if bad else "no maintainers listed"
            skipped.append(Delivery(audit.name, audit.version, False, (), why))
            continue
        subject, body = alert_text(audit)
        alerts.append(Alert(audit.name, audit.version, good, subject, body))
    return tuple(alerts), tuple(skipped)


def message_of(alert: Alert, sender: str) -> EmailMessage:
    """The alert as an email."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(alert.recipients)
    message["Subject"] = alert.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message.set_content(alert.body)
    return message


def _connect(settings: SmtpSettings, timeout: float, context: Optional[ssl.SSLContext]) -> smtplib.SMTP:
    password = None
    if settings.username:
        password = os.environ.get(settings.password_env)
        if password is None:
            raise NotifyError(f"--notify logs in as {settings.username}: set the password in ${settings.password_env}")
    context = context or ssl.create_default_context()
    client: Optional[smtplib.SMTP] = None
    try:
        if settings.tls:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        _greet(client, settings, password, context)
        return client
    except smtplib.SMTPAuthenticationError as exc:
        _close(client)
        raise NotifyError(f"SMTP server {settings.host}:{settings.port} refused the login of {settings.username} "
                          f"({exc.smtp_code})") from exc
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        _close(client)
        raise NotifyError(f"SMTP server {settings.host}:{settings.port} cannot be used: {exc}") from exc


def _greet(client: smtplib.SMTP, settings: SmtpSettings, password: Optional[str], context: ssl.SSLContext) -> None:
    """EHLO, then STARTTLS and the login when the settings ask for them."""
    client.ehlo()
    if settings.starttls:
        client.starttls(context=context)
        client.ehlo()
    if settings.username and password is not None:
        client.login(settings.username, password)


def _close(client: Optional[smtplib.SMTP]) -> None:
    """A connection whose login or STARTTLS failed is closed, not left to the garbage collector."""
    if client is not None:
        client.close()


def notify_smtp(url: str, audits: Sequence[ProjectAudit], dry_run: bool = False, *, sender: str = DEFAULT_SENDER,
                starttls: Optional[bool] = None, username: Optional[str] = None,
                password_env: str = DEFAULT_PASSWORD_ENV, timeout: float = 30.0,
                ssl_context: Optional[ssl.SSLContext] = None) -> tuple[tuple[Alert, ...], tuple[Delivery, ...]]:
    """Email each affected project's maintainers (one message per project); dry_run builds them and sends none.

    Returns the alerts and one delivery per affected project (sent, or why not). A server that cannot be
    reached or refuses the login raises NotifyError before anything is sent.
    """
    settings = parse_smtp_url(url, starttls=starttls, username=username, password_env=password_env)
    if not ADDRESS.fullmatch(sender):
        raise NotifyError(f"--smtp-from {sender!r} is not one plain address (user@domain)")
    alerts, skipped = build_alerts(audits)
    if dry_run or not alerts:
        return alerts, tuple(Delivery(a.project, a.version, False, a.recipients, "dry run") for a in alerts) + skipped
    deliveries = []
    client = _connect(settings, timeout, ssl_context)
    try:
        for alert in alerts:
            deliveries.append(_send(client, alert, sender))
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass
    return alerts, tuple(deliveries) + skipped


def _send(client: smtplib.SMTP, alert: Alert, sender: str) -> Delivery:
    try:
        refused = client.send_message(message_of(alert, sender), from_addr=sender, to_addrs=list(alert.recipients))
    except smtplib.SMTPRecipientsRefused as exc:
        return Delivery(alert.project, alert.version, False, (), f"every recipient refused: {sorted(exc.recipients)}")
    except (smtplib.SMTPException, OSError) as exc:
        return Delivery(alert.project, alert.version, False, (), f"not sent: {exc}")
    accepted = tuple(address for address in alert.recipients if address not in refused)
    problem = f"refused: {', '.join(sorted(refused))}" if refused else None
    return Delivery(alert.project, alert.version, True, accepted, problem)
