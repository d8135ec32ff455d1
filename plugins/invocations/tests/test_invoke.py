"""Invocations against a real ``hostline serve``, with httpx."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invocations_testkit import ALICE, BOB, KEY

from hostline_invocations.testing import InvocationsClient


def test_json_invocation_and_session_continued(server):
    with InvocationsClient(server.url, key=KEY) as client:
        first = client.invoke("hello there")
        assert first["response"].strip() == "turn 1: hello there"
        sid = first["session_id"]
        second = client.invoke([{"role": "user", "content": [{"type": "text", "text": "more"}]}],
                               session_id=sid)
        assert second == {"response": "turn 2: more ", "session_id": sid}
        # A new invocation without session_id is a new session.
        assert client.invoke("again")["response"].startswith("turn 1:")


def test_sse_deltas_end_with_done(server):
    with InvocationsClient(server.url, key=KEY) as client:
        sid = client.invoke("one")["session_id"]
        events = client.stream("two words", session_id=sid)
    assert events[-1] == "[DONE]"
    deltas = [e["delta"] for e in events[:-1] if "delta" in e]
    assert len(deltas) >= 3  # streamed, not one chunk
    assert "".join(deltas) == "turn 2: two words "
    assert events[-2] == {"response": "turn 2: two words ", "session_id": sid}
    assert all(e["session_id"] == sid for e in events[:-1])


def test_sessions_belong_to_the_key(server):
    with InvocationsClient(server.url, key=KEY) as plain, \
            InvocationsClient(server.url, key=ALICE) as alice:
        sid = plain.invoke("mine")["session_id"]
        # The same id under another key is another (fresh) session.
        assert alice.invoke("yours?", session_id=sid)["response"].startswith("turn 1:")
        assert plain.invoke("still mine", session_id=sid)["response"].startswith("turn 2:")


def test_isolation_keys_separate_sessions(server):
    with InvocationsClient(server.url, key=KEY,
                           headers={"x-agent-user-isolation-key": "tenant-a"}) as a, \
            InvocationsClient(server.url, key=KEY,
                              headers={"x-agent-user-isolation-key": "tenant-b"}) as b:
        sid = a.invoke("hi")["session_id"]
        assert b.invoke("hi", session_id=sid)["response"].startswith("turn 1:")
        assert a.invoke("hi", session_id=sid)["response"].startswith("turn 2:")


def test_authentication(server):
    url = f"{server.url}/invocations/invoke"
    missing = httpx.post(url, json={"message": "x"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["error"]["code"] == "missing_api_key"
    wrong = httpx.post(url, json={"message": "x"}, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "nope" not in wrong.text
    # No keys configured: loopback clients only, and this test is on loopback.
    assert httpx.post(f"{server.url}/open/invoke", json={"message": "x"}).status_code == 200


def test_allowlist_applies_to_key_identities(server):
    with InvocationsClient(server.url, key=ALICE, instance="guarded") as alice, \
            InvocationsClient(server.url, key=BOB, instance="guarded") as bob:
        assert alice.invoke("hi")["response"].startswith("turn 1:")
        denied = bob.post({"message": "hi"})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"


def test_bad_input_gets_4xx_in_the_error_shape(server):
    url = f"{server.url}/invocations/invoke"
    auth = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    cases = [b"", b"{", b"[]", b'"text"', b"{}", b'{"message": 1}', b'{"message": ""}',
             b'{"message": []}', b'{"message": [{"content": 5}]}', b'{"message": [7]}',
             b'{"message": "x", "stream": "yes"}', b'{"message": "x", "session_id": ""}',
             b'{"message": "x", "session_id": "../../etc"}', b'{"message": "x", "extra": 1}',
             b'{"message": [{"role": "tool", "content": "x"}]}',
             b"[" * 100_000]
    for body in cases:
        response = httpx.post(url, content=body, headers=auth)
        assert 400 <= response.status_code < 500, (body[:40], response.status_code)
        assert set(response.json()["error"]) >= {"message", "type", "code"}
    # hostline's JSON policy: a lone surrogate becomes U+FFFD, not an error.
    replaced = httpx.post(url, content=b'{"message": "a\\ud800"}', headers=auth)
    assert replaced.json()["response"].strip() == "turn 1: a\ufffd"
    too_big = httpx.post(f"{server.url}/guarded/invoke", headers={
        "authorization": f"Bearer {ALICE}"}, json={"message": "x" * 5000})
    assert too_big.status_code == 413


def test_target_failure_is_an_error_answer_not_a_traceback(server):
    with InvocationsClient(server.url, key=KEY) as client:
        failed = client.post({"message": "fail"})
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "agent_error"
        assert "Traceback" not in failed.text
        events = client.stream("fail")
        assert events[-1] == "[DONE]" and events[-2]["error"]["code"] == "agent_error"
        assert client.invoke("still serving")["response"].startswith("turn 1:")


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                          c, max_size=4),
                     max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(
    _json,
    st.fixed_dictionaries({"message": _json},
                          optional={"session_id": _json, "stream": st.just(False)})))
def test_hostile_bodies_never_get_a_5xx(server, body):
    response = httpx.post(f"{server.url}/invocations/invoke", content=json.dumps(body),
                          headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code < 500, (body, response.text)
    if response.status_code != 200:
        assert "error" in response.json()
