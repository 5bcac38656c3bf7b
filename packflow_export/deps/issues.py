"""One issue in the project's tracker listing the known vulnerabilities: opened, or the open one updated, and
closed once none is left. For the generated CI's scheduled audit; the API calls use the CI's own variables.

GitHub: GITHUB_API_URL (default https://api.github.com), GITHUB_REPOSITORY and a token in GITHUB_TOKEN (the
workflow's, with `issues: write` only). GitLab: CI_API_V4_URL, CI_PROJECT_ID and a token in
PACKFLOW_AUDIT_GITLAB_TOKEN (a masked CI/CD variable: a project access token with the `api` scope); with none
set the audit fails rather than keep the advisories to itself. The issue is found again by its title among the
open issues. Standard library only (urllib).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from .. import __version__
from ..errors import EXIT_UNAVAILABLE, UsageError
from .records import DepsError, ProjectAudit

TITLE = "Known vulnerabilities in the dependencies (packflow-export audit)"
MARKER = "<!-- packflow-export audit -->"
GITLAB_TOKEN_ENV = "PACKFLOW_AUDIT_GITLAB_TOKEN"
PROVIDERS = ("github", "gitlab")


class IssueError(DepsError):
    """The issue tracker cannot be used: unreachable, or it refused the request (exit 4)."""

    exit_code = EXIT_UNAVAILABLE


@dataclass(frozen=True)
class IssueOutcome:
    """What was done in the tracker: opened, updated, closed or nothing, and the issue's address."""

    provider: str
    action: str  # "opened", "updated", "closed" or "none"
    number: Optional[int] = None
    url: Optional[str] = None


def issue_body(audits: Sequence[ProjectAudit]) -> str:
    """The issue's text: each affected project's advisories with their fix, and its maintainers mentioned."""
    lines = [MARKER, "The scheduled `python -m packflow_export audit` found known vulnerabilities:", ""]
    for audit in audits:
        if not audit.hits:
            continue
        lines.append(f"### {audit.name} {audit.version}")
        if audit.maintainers:
            lines.append("Maintainers: " + ", ".join(audit.maintainers))
        lines += ["", "| requirement | advisory | summary | fix |", "|---|---|---|---|"]
        for hit in audit.hits:
            aliases = f" ({', '.join(hit.advisory.aliases)})" if hit.advisory.aliases else ""
            summary = (hit.advisory.summary or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{hit.requirement.display}` | [{hit.advisory.id}]({hit.advisory.url}){aliases} | "
                         f"{summary} | {hit.fix} |")
        lines.append("")
    lines.append("Update the pins (`python -m packflow_export lock --upgrade`), commit, and this issue is updated "
                 "by the next scheduled audit (closed when nothing is left).")
    return "\n".join(lines) + "\n"


class _Tracker:
    """The JSON requests both trackers take."""

    def __init__(self, api: str, headers: Mapping[str, str], timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(api)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UsageError(f"issue tracker API {api!r} is not an http(s) URL")
        self.api, self.headers, self.timeout = api.rstrip("/"), dict(headers), timeout

    def request(self, method: str, path: str, payload: Optional[Mapping[str, Any]] = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method, headers={
            **self.headers, "Content-Type": "application/json", "User-Agent": f"packflow-export/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) only
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise IssueError(f"{method} {self.api}{path}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as exc:
            raise IssueError(f"{method} {self.api}{path}: {getattr(exc, 'reason', exc)}") from exc


def _required(environ: Mapping[str, str], name: str, why: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise UsageError(f"--open-issue needs ${name} ({why})")
    return value


def _github(body: Optional[str], environ: Mapping[str, str]) -> IssueOutcome:
    repository = _required(environ, "GITHUB_REPOSITORY", "owner/name, set by GitHub Actions")
    token = _required(environ, "GITHUB_TOKEN", "pass the workflow's token: env GITHUB_TOKEN: ${{ github.token }}")
    tracker = _Tracker(environ.get("GITHUB_API_URL") or "https://api.github.com", {
        "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28"})
    base = f"/repos/{repository}/issues"
    listed = tracker.request("GET", f"{base}?state=open&per_page=100") or []
    found = next((item for item in listed if isinstance(item, Mapping) and item.get("title") == TITLE
                  and "pull_request" not in item), None)
    if body is None:
        if found is None:
            return IssueOutcome("github", "none")
        closed = tracker.request("PATCH", f"{base}/{found['number']}", {"state": "closed"})
        return IssueOutcome("github", "closed", found["number"], closed.get("html_url"))
    if found is None:
        made = tracker.request("POST", base, {"title": TITLE, "body": body})
        return IssueOutcome("github", "opened", made.get("number"), made.get("html_url"))
    updated = tracker.request("PATCH", f"{base}/{found['number']}", {"body": body})
    return IssueOutcome("github", "updated", found["number"], updated.get("html_url"))


def _gitlab(body: Optional[str], environ: Mapping[str, str]) -> IssueOutcome:
    api = _required(environ, "CI_API_V4_URL", "set by GitLab CI")
    project = _required(environ, "CI_PROJECT_ID", "set by GitLab CI")
    token = _required(environ, GITLAB_TOKEN_ENV, "a masked CI/CD variable holding a project access token with the "
                                                 "api scope")
    tracker = _Tracker(api, {"PRIVATE-TOKEN": token})
    base = f"/projects/{urllib.parse.quote(project, safe='')}/issues"
    query = urllib.parse.urlencode({"state": "opened", "search": TITLE, "in": "title", "per_page": 100})
    listed = tracker.request("GET", f"{base}?{query}") or []
    found = next((item for item in listed if isinstance(item, Mapping) and item.get("title") == TITLE), None)
    if body is None:
        if found is None:
            return IssueOutcome("gitlab", "none")
        closed = tracker.request("PUT", f"{base}/{found['iid']}", {"state_event": "close"})
        return IssueOutcome("gitlab", "closed", found["iid"], closed.get("web_url"))
    if found is None:
        made = tracker.request("POST", base, {"title": TITLE, "description": body})
        return IssueOutcome("gitlab", "opened", made.get("iid"), made.get("web_url"))
    updated = tracker.request("PUT", f"{base}/{found['iid']}", {"description": body})
    return IssueOutcome("gitlab", "updated", found["iid"], updated.get("web_url"))


def sync_issue(provider: str, audits: Sequence[ProjectAudit], environ: Mapping[str, str]) -> IssueOutcome:
    """Open the issue, or update the open one, when a project is affected; close it when none is."""
    if provider not in PROVIDERS:
        raise UsageError(f"--open-issue {provider!r}: choose {' or '.join(PROVIDERS)}")
    body = issue_body(audits) if any(audit.hits for audit in audits) else None
    return (_github if provider == "github" else _gitlab)(body, environ)
