"""The online path: OSV's /v1/querybatch and /v1/vulns/{id}, answered by a local stand-in for api.osv.dev on
127.0.0.1 that serves the real subset (matching with the tests' reference evaluation, paginating, and, like a
careless mirror, returning the withdrawn advisory too). What the stand-in received is asserted."""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from deps_support import osv_subset, reference_affected_ids, reference_index, subset_records
from helpers import reply_json

from packflow_export.deps.api import OsvApi
from packflow_export.deps.audit import audit_projects
from packflow_export.deps.database import open_database
from packflow_export.deps.records import AdvisorySourceError, ProjectInput, RequirementRecord

PAGE = 40  # advisories per query per page: tensorflow 2.4.0's 198 take five pages


class StandIn(ThreadingHTTPServer):
    """api.osv.dev on 127.0.0.1: the subset's records, the reference matcher, a log of what was asked."""

    def __init__(self, records: dict, fail_with: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.records = records
        self.index = reference_index(records)
        self.fail_with = fail_with
        self.log: list[tuple[str, str, object]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def affected(self, name: str, version: str) -> list[str]:
        # Withdrawn records are returned too (reference_index drops them, so add them back): the client must
        # ignore them from the full record, whatever the server says.
        found = reference_affected_ids(self.records, name, version, self.index)
        withdrawn = {identifier for identifier, record in self.records.items() if record.get("withdrawn")
                     and any(item["package"]["name"] == name for item in record["affected"])}
        return sorted(found | withdrawn)


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def _reply(self, status: int, body: object) -> None:
        reply_json(self, status, body)

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.log.append(("POST", self.path, payload))
        if self.server.fail_with:
            return self._reply(self.server.fail_with, {"code": 13, "message": "internal"})
        if self.path != "/v1/querybatch":
            return self._reply(404, {"message": "not found"})
        results = []
        for query in payload["queries"]:
            assert query["package"]["ecosystem"] == "PyPI"
            ids = self.server.affected(query["package"]["name"], query["version"])
            start = int(base64.b64decode(query["page_token"])) if query.get("page_token") else 0
            result: dict = {"vulns": [{"id": item, "modified": "2024-01-01T00:00:00Z"}
                                      for item in ids[start:start + PAGE]]}
            if start + PAGE < len(ids):
                result["next_page_token"] = base64.b64encode(str(start + PAGE).encode()).decode()
            results.append(result if result["vulns"] else {})
        self._reply(200, {"results": results})

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.log.append(("GET", self.path, None))
        identifier = self.path.removeprefix("/v1/vulns/")
        if identifier in self.server.records:
            return self._reply(200, self.server.records[identifier])
        self._reply(404, {"code": 5, "message": "Bug not found."})


@pytest.fixture(scope="module")
def records():
    return subset_records()


@pytest.fixture
def stand_in(records):
    server = StandIn(records)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


PINS = [("pyyaml", "5.3"), ("pyyaml", "5.1"), ("tensorflow", "2.4.0"), ("aiohttp", "3.8.1"), ("py", "1.11.0"),
        ("numpy", "2.0.0"), ("requests", "2.19.0")]


def test_querybatch_answers_what_the_database_answers(stand_in):
    api = OsvApi(stand_in.url, timeout=10, batch_size=3)
    online = api.lookup(PINS)
    offline = open_database(osv_subset()).lookup(PINS)
    assert online == offline  # same advisories, same summaries and aliases, same fixes
    assert len(online[("tensorflow", "2.4.0")]) == 198
    assert online[("numpy", "2.0.0")] == ()
    assert "PYSEC-2022-43059" not in {match.advisory.id for match in online[("aiohttp", "3.8.1")]}

    posts = [payload for method, path, payload in stand_in.log if method == "POST"]
    # Seven distinct pins in batches of three: three first requests, then the pages tensorflow still has.
    first = [query for payload in posts for query in payload["queries"] if "page_token" not in query]
    assert sorted((query["package"]["name"], query["version"]) for query in first) == sorted(PINS)
    assert [len(payload["queries"]) for payload in posts[:3]] == [3, 3, 1]
    follow_ups = [query for payload in posts for query in payload["queries"] if "page_token" in query]
    assert {query["package"]["name"] for query in follow_ups} == {"tensorflow"}
    assert len(follow_ups) == 4  # pages 2-5 of 198 ids at 40 a page
    # Every advisory record was fetched once, though pyyaml 5.3 and 5.1 share PYSEC-2020-96 and PYSEC-2021-142.
    gets = [path for method, path, _ in stand_in.log if method == "GET"]
    assert len(gets) == len(set(gets))
    assert "/v1/vulns/PYSEC-2021-142" in gets and "/v1/vulns/PYSEC-2022-43059" in gets
    assert api.lookup([("pyyaml", "5.3")]) == {("pyyaml", "5.3"): offline[("pyyaml", "5.3")]}
    assert len([path for method, path, _ in stand_in.log if method == "GET"]) == len(gets)  # cached


def test_audit_of_projects_online(stand_in):
    projects = [ProjectInput("a", "1.0", "a/", (RequirementRecord("PyYAML", "==5.3", path="requirements.txt", line=1),
                                                RequirementRecord("torch", "==1.13.0", line=2)), ("a@example.org",)),
                ProjectInput("b", "1.0", "b/", (RequirementRecord("torch", "==1.13.0"),))]
    audits = audit_projects(projects, OsvApi(stand_in.url))
    assert [audit.advisory_ids for audit in audits] == [("PYSEC-2020-96", "PYSEC-2021-142", "PYSEC-2022-43015"),
                                                       ("PYSEC-2022-43015",)]
    posts = [payload for method, _, payload in stand_in.log if method == "POST"]
    assert len(posts) == 1  # both projects' pins in one batch, the shared torch pin asked once
    assert sorted(query["package"]["name"] for query in posts[0]["queries"]) == ["pyyaml", "torch"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_api_is_a_failure_not_a_clean_bill():
    api = OsvApi(f"http://127.0.0.1:{closed_port()}", timeout=2, retry_delay=0)
    with pytest.raises(AdvisorySourceError) as raised:
        api.lookup([("pyyaml", "5.3")])
    assert "did not answer" in str(raised.value) and "--db" in str(raised.value)


def test_a_silent_api_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections, never answers
        api = OsvApi(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3, retry_delay=0)
        with pytest.raises(AdvisorySourceError, match="did not answer"):
            api.lookup([("pyyaml", "5.3")])


@pytest.mark.parametrize("status, attempts", [(503, 3), (400, 1)])
def test_http_errors_are_retried_when_transient_then_fail(records, status, attempts):
    server = StandIn(records, fail_with=status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(AdvisorySourceError, match=f"HTTP {status}"):
            OsvApi(server.url, timeout=5, retry_delay=0).lookup([("pyyaml", "5.3")])
        assert len(server.log) == attempts
    finally:
        server.shutdown()
        server.server_close()


def test_only_http_urls():
    for url in ("file:///etc/passwd", "ftp://example.org", "api.osv.dev"):
        with pytest.raises(AdvisorySourceError, match="not an http"):
            OsvApi(url)
