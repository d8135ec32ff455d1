"""Hostile payloads with valid signatures: 2xx or 4xx, never a 5xx, and the
runner's handling of whatever was accepted never crashes."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostline.testing import make_host, run_host
from hostline_slack.testing import FakeSlackAPI, event_envelope, message_event, signed_headers

from .conftest import slack_config

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(["D0X1", "C0X2", "U0USER1", "1767000000.000100", "<@U0BOT01>", "im"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)
paths = st.sampled_from([
    ("event",), ("event", "type"), ("event", "user"), ("event", "text"), ("event", "channel"),
    ("event", "ts"), ("event", "thread_ts"), ("event", "subtype"), ("event", "channel_type"),
    ("event", "files"), ("event", "bot_id"), ("event", "user_profile"),
    ("event", "assistant_thread"), ("event", "assistant_thread", "channel_id"),
    ("event", "tokens"), ("team_id",), ("event_id",), ("type",), ("authorizations",),
    ("challenge",),
])
mutations = st.lists(st.tuples(paths, json_values), min_size=1, max_size=3)
forms = st.dictionaries(st.sampled_from(["command", "text", "team_id", "user_id", "channel_id",
                                         "response_url", "trigger_id", "payload", "x"]),
                        st.text(max_size=30), max_size=6)
_counter = itertools.count(1)


def mutate(value: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    out = copy.deepcopy(value)
    for path, new in changes:
        node = out
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = new
    return out


def bases() -> list[dict[str, Any]]:
    return [event_envelope(message_event("hi")),
            event_envelope(message_event("<@U0BOT01> yo", channel="C0CH1", kind="app_mention")),
            event_envelope({"type": "assistant_thread_started", "assistant_thread": {
                "user_id": "U0USER1", "channel_id": "D0AS1", "thread_ts": "1.2"}}),
            event_envelope({"type": "app_uninstalled"}),
            event_envelope(message_event("f", files=[{"id": "F1", "name": "a"}]))]


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(mutations, min_size=20, max_size=20),
       form_batch=st.lists(forms, min_size=6, max_size=6),
       actions=st.lists(json_values, min_size=4, max_size=4))
def test_hostile_signed_payloads_never_5xx(tmp_path: Path, batch: list[Any],
                                           form_batch: list[Any], actions: list[Any]) -> None:
    async def run() -> None:
        async with FakeSlackAPI() as fake:
            await check(fake)

    async def check(fake: FakeSlackAPI) -> None:
        config = slack_config(fake, group_mode="all", feedback_buttons=True,
                              suggested_prompts=["hi"])
        async with run_host(make_host(tmp_path / f"h{next(_counter)}", config)) as (host, c):
            base = bases()
            for i, changes in enumerate(batch):
                body = json.dumps(mutate(base[i % len(base)], changes)).encode()
                r = await c.post("/slack/events", content=body, headers=signed_headers(body))
                assert r.status_code < 500, r.text
            for form in form_batch:
                for path in ("commands", "interactions"):
                    body = urlencode(form).encode()
                    r = await c.post(f"/slack/{path}", content=body, headers=signed_headers(
                        body, content_type="application/x-www-form-urlencoded"))
                    assert r.status_code < 500, r.text
            for raw in actions:
                payload = {"type": "block_actions", "team": {"id": "T0TEAM1"},
                           "user": raw, "container": raw,
                           "actions": [{"action_id": "hostline_feedback", "value": raw}]}
                body = urlencode({"payload": json.dumps(payload)}).encode()
                r = await c.post("/slack/interactions", content=body, headers=signed_headers(
                    body, content_type="application/x-www-form-urlencoded"))
                assert r.status_code < 500, r.text
            for raw in (b"", b"[]", b"\xff", b'{"type": 1}', b"null"):
                r = await c.post("/slack/events", content=raw, headers=signed_headers(raw))
                assert r.status_code < 500
            await fake.until(lambda: host.queue_depth == 0 and host.runner.inflight == 0,
                             timeout=30)
            await asyncio.sleep(0.05)
            failures = [s for s in host.runner.status if s.outcome != "done"]
            # Only Slack's refusals may fail a task; never the channel's own parsing.
            assert all((s.error or "").startswith("Slack") for s in failures), failures

    asyncio.run(run())


async def test_interaction_actions_of_any_type_are_not_a_500(tmp_path: Path) -> None:
    with FakeSlackAPI() as fake:
        async with run_host(make_host(tmp_path / "h", slack_config(fake))) as (_host, client):
            for actions in (1, True, 1.5, "x", {"a": 1}, None, [1, "a"]):
                payload = {"type": "block_actions", "team": {"id": "T0TEAM1"},
                           "user": {"id": "U0USER1"}, "actions": actions}
                body = urlencode({"payload": json.dumps(payload)})
                r = await client.post("/slack/interactions", content=body, headers=signed_headers(
                    body, content_type="application/x-www-form-urlencoded"))
                assert r.status_code == 200, (actions, r.text)
