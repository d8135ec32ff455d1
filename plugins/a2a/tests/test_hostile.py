"""Malformed JSON-RPC at the A2A endpoint: always a JSON-RPC error or a 4xx, never a 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
from a2a_testkit import KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=15)
_methods = st.sampled_from([
    "SendMessage", "SendStreamingMessage", "GetTask", "CancelTask", "ListTasks",
    "SubscribeToTask", "CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
    "message/send", "message/stream", "tasks/get", "tasks/cancel", "tasks/resubscribe",
    "tasks/pushNotificationConfig/set", "tasks/pushNotificationConfig/get", "nope", ""])
_message = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0"]), "method": _methods | _json},
    optional={"id": st.integers() | st.text(max_size=5) | st.none() | _json,
              "params": _json | st.fixed_dictionaries({"message": _json}, optional={
                  "id": _json, "configuration": _json, "url": _json})})


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=20) as client:
        yield client


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(_message, st.lists(_message, max_size=2), _json),
       version=st.sampled_from([None, "1.0", "0.3", "9.9", "x"]))
def test_malformed_json_rpc_never_gets_a_5xx(http, body, version):
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    if version:
        headers["a2a-version"] = version
    response = http.post("/a2a/", content=json.dumps(body), headers=headers)
    assert response.status_code < 500, (body, response.status_code, response.text[:300])
    if response.headers.get("content-type", "").startswith("application/json"):
        assert response.json().get("jsonrpc") == "2.0"


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[" * 5000, b"1e999"])
def test_unparseable_bodies_get_a_parse_error(http, raw):
    response = http.post("/a2a/", content=raw, headers={"authorization": f"Bearer {KEY}"})
    assert 400 <= response.status_code < 500
    assert response.json()["jsonrpc"] == "2.0"
    assert response.json()["error"]["code"] in (-32700, -32600)


@pytest.mark.parametrize("raw", [b"null", b"[]", b'"x"', b'{"jsonrpc": "2.0"}'])
def test_json_that_is_no_request_gets_invalid_request(http, raw):
    response = http.post("/a2a/", content=raw, headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code < 500
    assert response.json()["error"]["code"] == -32600


def test_oversized_body_is_413(http):
    response = http.post("/a2a/", content=b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}',
                         headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code == 413


def test_the_server_logged_no_unhandled_error(server):
    assert "unhandled error" not in server.output()
