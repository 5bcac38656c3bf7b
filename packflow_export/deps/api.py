"""OSV's HTTP API as an advisory source: `/v1/querybatch` for which advisories affect each pin, then
`/v1/vulns/{id}` for each advisory's full record (fetched once per run).

OSV decides what affects a version (its own matching); the full record gives the id, aliases, summary,
severity and the lowest fixed version above the pin (computed here with the same rules as the offline
database). Anything that stops an answer (unreachable host, timeout, HTTP error, a reply that is not OSV's
JSON) raises AdvisorySourceError: an audit that could not ask is a failure, never "no known vulnerabilities".
Standard library only (urllib), so no dependency is added.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Collection, Mapping, Optional

from .. import __version__
from .database import PackageKey
from .osv import (ECOSYSTEM, JsonObject, advisory_of, affected_fix, compile_affected, parse_version, pypi_entries,
                  usable)
from .records import AdvisorySourceError, Match

DEFAULT_OSV_URL = "https://api.osv.dev"
MAX_QUERIES_PER_BATCH = 1000  # osv.dev's own limit (bindings/go/osvdev: MaxQueriesPerQueryBatchRequest)
MAX_PAGES = 100  # per query: a server that keeps answering with page tokens is broken, not thorough
RETRIES = 3
RETRY_STATUSES = {429, 500, 502, 503, 504}


class OsvApi:
    """An advisory source that asks OSV (or a mirror of its API) over HTTPS."""

    def __init__(self, url: str = DEFAULT_OSV_URL, timeout: float = 30.0, batch_size: int = MAX_QUERIES_PER_BATCH,
                 retry_delay: float = 0.5) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise AdvisorySourceError(f"--osv-url {url!r} is not an http(s) URL (the default is {DEFAULT_OSV_URL})")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.batch_size = max(1, min(batch_size, MAX_QUERIES_PER_BATCH))
        self.retry_delay = retry_delay
        self.records: dict[str, Optional[JsonObject]] = {}  # id -> full record (None: withdrawn or unusable)
        self.requests = 0

    @property
    def description(self) -> str:
        """The API's base URL."""
        return self.url

    def _request(self, path: str, payload: Optional[JsonObject] = None) -> Any:
        """One JSON request, retried on 429/5xx and connection errors; AdvisorySourceError when it cannot answer."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST",
                                         headers={"Content-Type": "application/json", "Accept": "application/json",
                                                  "User-Agent": f"packflow-export/{__version__}"})
        problem = ""
        for attempt in range(RETRIES):
            if attempt:
                time.sleep(self.retry_delay * 2 ** (attempt - 1))
            self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) only
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code not in RETRY_STATUSES:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = str(getattr(exc, "reason", exc) or type(exc).__name__)
            except ValueError as exc:
                problem = f"the reply is not JSON ({exc})"
                break
        raise AdvisorySourceError(f"OSV API {self.url}{path} did not answer: {problem}; check --osv-url and the "
                                  f"network, or audit offline with --db (OSV's PyPI all.zip)")

    def _query_ids(self, packages: list[PackageKey]) -> list[list[str]]:
        """The advisory ids for each package, in order, following every page token."""
        ids: list[list[str]] = [[] for _ in packages]
        pending: list[tuple[int, Optional[str]]] = [(index, None) for index in range(len(packages))]
        pages = [0] * len(packages)
        while pending:
            chunk, pending = pending[:self.batch_size], pending[self.batch_size:]
            queries = []
            for index, token in chunk:
                name, version = packages[index]
                query: dict[str, Any] = {"package": {"name": name, "ecosystem": ECOSYSTEM}, "version": version}
                if token:
                    query["page_token"] = token
                queries.append(query)
            results = self._request("/v1/querybatch", {"queries": queries}).get("results")
            if not isinstance(results, list) or len(results) != len(chunk):
                raise AdvisorySourceError(f"OSV API {self.url}/v1/querybatch answered {len(chunk)} queries with "
                                          f"{len(results) if isinstance(results, list) else 'no'} results")
            for (index, _), result in zip(chunk, results, strict=True):
                result = result if isinstance(result, Mapping) else {}
                for vuln in result.get("vulns") or ():
                    if isinstance(vuln, Mapping) and isinstance(vuln.get("id"), str):
                        ids[index].append(vuln["id"])
                token = result.get("next_page_token")
                if isinstance(token, str) and token:
                    pages[index] += 1
                    if pages[index] >= MAX_PAGES:
                        raise AdvisorySourceError(f"OSV API {self.url} kept paginating {packages[index]} past "
                                                  f"{MAX_PAGES} pages")
                    pending.append((index, token))
        return ids

    def record(self, advisory_id: str) -> Optional[JsonObject]:
        """The full record of an advisory (cached for the run); None when it is withdrawn or unusable."""
        if advisory_id not in self.records:
            found = self._request("/v1/vulns/" + urllib.parse.quote(advisory_id, safe=""))
            self.records[advisory_id] = found if usable(found) else None
        return self.records[advisory_id]

    def lookup(self, packages: Collection[PackageKey]) -> dict[PackageKey, tuple[Match, ...]]:
        """The advisories affecting each (name, version), as OSV answers."""
        ordered = sorted(set(packages))
        answers: dict[PackageKey, tuple[Match, ...]] = {}
        for key, ids in zip(ordered, self._query_ids(ordered), strict=True):
            matches = {}
            for advisory_id in dict.fromkeys(ids):
                record = self.record(advisory_id)
                if record is not None:
                    matches[record["id"]] = _match(record, key)
            answers[key] = tuple(matches[identifier] for identifier in sorted(matches))
        return answers


def _match(record: JsonObject, key: PackageKey) -> Match:
    """The record as a match for one pin: its advisory and the lowest fix above the pin (OSV said it matches)."""
    raws = [entry for name, entry in pypi_entries(record) if name == key[0]]
    packages = [item for item in (compile_affected(raw) for raw in raws) if item]
    _, fixed = affected_fix(packages, parse_version(key[1]), key[1])
    return Match(advisory_of(record, raws), fixed)
