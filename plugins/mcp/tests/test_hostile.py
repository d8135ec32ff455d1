"""Malformed JSON-RPC at the MCP endpoint: always a JSON-RPC or HTTP 4xx answer, never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_testkit import KEY

_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=15)
_methods = st.sampled_from(["initialize", "tools/list", "tools/call", "ping", "server/discover",
                            "notifications/initialized", "resources/list", "x", ""])
_message = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0", 2]), "method": _methods | _json},
    optional={"id": st.integers() | st.text(max_size=5) | st.none() | _json, "params": _json})
_versions = st.sampled_from([None, "2025-11-25", "2025-06-18", "2026-07-28", "1999-01-01", "x"])


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=20) as client:
        yield client


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(_message, st.lists(_message, max_size=3), _json), version=_versions,
       instance=st.sampled_from(["mcp", "stateless"]),
       accept=st.sampled_from(["application/json, text/event-stream", "application/json",
                               "text/html", None]))
def test_malformed_json_rpc_never_gets_a_5xx(http, body, version, instance, accept):
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    if version:
        headers["mcp-protocol-version"] = version
    if accept:
        headers["accept"] = accept
    response = http.post(f"/{instance}/", content=json.dumps(body), headers=headers)
    assert response.status_code < 500, (body, response.status_code, response.text[:300])


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[" * 5000, b'{"jsonrpc": "2.0"',
                                 b"null", b'"x"', b"1e999"])
def test_unparseable_bodies_get_a_parse_error(http, raw):
    response = http.post("/mcp/", content=raw, headers={
        "authorization": f"Bearer {KEY}", "content-type": "application/json",
        "accept": "application/json, text/event-stream"})
    assert 400 <= response.status_code < 500
    assert response.json()["jsonrpc"] == "2.0"


def test_oversized_body_is_413(http):
    response = http.post("/mcp/", content=b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}',
                         headers={"authorization": f"Bearer {KEY}",
                                  "content-type": "application/json"})
    assert response.status_code == 413


def test_unknown_session_and_methods_are_4xx(http):
    headers = {"authorization": f"Bearer {KEY}", "accept": "application/json, text/event-stream",
               "mcp-session-id": "nope", "mcp-protocol-version": "2025-11-25"}
    assert http.post("/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                     headers=headers).status_code == 404
    assert http.delete("/mcp/", headers=headers).status_code in (404, 405)
    assert http.put("/mcp/", headers=headers, content=b"{}").status_code < 500
    assert http.get("/mcp/", headers={"authorization": f"Bearer {KEY}"}).status_code < 500


def test_the_server_logged_no_unhandled_error(server):
    assert "unhandled error" not in server.output()
    assert "Traceback" not in server.output()
