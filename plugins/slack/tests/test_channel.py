"""In process: identity, files in and out, permanent errors, group mode ``all``."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import hostline
from hostline_slack.testing import FakeSlackAPI, event_envelope, message_event, signed_headers

from .conftest import slack_config


async def post(client: Any, envelope: dict[str, Any]) -> None:
    body = json.dumps(envelope).encode()
    r = await client.post("/slack/events", content=body, headers=signed_headers(body))
    assert r.status_code == 200, r.text


async def test_identity_files_in_and_out(hostline_app: Any, fake: FakeSlackAPI) -> None:
    seen: list[hostline.RunRequest] = []
    got: list[bytes] = []

    async def target(request: hostline.RunRequest) -> hostline.RunResult:
        seen.append(request)
        part = next(p for p in request.input[0].content if isinstance(p, hostline.FilePart))
        assert part.file_id is not None
        got.append(await host.channels["slack"].download(part.file_id))
        data = "data:text/plain;base64," + base64.b64encode(b"report body").decode()
        return hostline.RunResult((hostline.Message.assistant(
            ["Here is the report", hostline.FilePart(url=data, name="report.txt",
                                                     mime_type="text/plain")]),))

    shared = fake.add_file(b"hello file", name="notes.txt")
    config = slack_config(fake, email_claim=True, stream=False)
    async with hostline_app(config, target=target) as (host, client):
        await post(client, event_envelope(message_event(
            "see attached", channel="D0FI001", subtype="file_share", files=[shared])))
        await fake.until(lambda: fake.uploads)
        await fake.until(lambda: fake.texts("D0FI001"))
    identity = seen[0].identity
    assert identity == hostline.Identity("slack", f"{fake.team_id}:U0USER1", "ann")
    assert identity.claims == {"team_id": fake.team_id, "email": "ann@example.com"}
    assert seen[0].destination.reference == {"team_id": fake.team_id,
                                             "thread_ts": seen[0].destination.reference[
                                                 "thread_ts"]}
    assert got == [b"hello file"]
    upload = fake.uploads[0]
    assert upload["content"] == b"report body" and upload["channel"] == "D0FI001"
    assert upload["thread_ts"] is not None
    assert fake.texts("D0FI001") == ["Here is the report"]


async def test_gone_conversations_are_permanent(hostline_app: Any, fake: FakeSlackAPI) -> None:
    fake.remove_channel("C0GONE1")
    fake.leave_channel("C0LEFT1")
    fake.deactivate("D0INACT")
    async with hostline_app(slack_config(fake, outbox={"max_attempts": 3})) as (host, _):
        for address in ("C0GONE1", "C0LEFT1", "D0INACT"):
            await host.push("hello", to=hostline.Destination("slack", address,
                                                             reference={"team_id": "T0TEAM1"}))
        await fake.until(lambda: len(fake.calls("chat.postMessage")) >= 3)
        await asyncio.sleep(0.5)
        dead = await host.store.list_tasks(["dead"])
    errors = sorted(c.response["error"] for c in fake.calls("chat.postMessage"))
    assert errors == ["account_inactive", "channel_not_found", "not_in_channel"]
    assert len(dead) == 3  # tried once each, not retried


async def test_5xx_is_retried_from_a_durable_reply(hostline_app: Any, fake: FakeSlackAPI) -> None:
    fake.fail("chat.postMessage", error="internal_error", status=500, times=2)
    async with hostline_app(slack_config(fake)) as (_host, client):
        await post(client, event_envelope(message_event("persist", channel="D0RT001")))
        await fake.until(lambda: fake.texts("D0RT001"), timeout=15)
    assert fake.texts("D0RT001") == ["persist"]
    assert [c.status for c in fake.calls("chat.postMessage")] == [500, 500, 200]


async def test_group_mode_all_and_thread_follow_ups(hostline_app: Any, fake: FakeSlackAPI) -> None:
    config = slack_config(fake, group_mode="all")
    async with hostline_app(config) as (_host, client):
        root = message_event("anyone?", channel="C0ALL01")
        await post(client, event_envelope(root))
        # The same message as an app_mention too: answered once.
        await post(client, event_envelope(dict(root, type="app_mention")))
        await fake.until(lambda: fake.texts("C0ALL01"))
        await asyncio.sleep(0.3)
    assert fake.texts("C0ALL01") == ["anyone?"]
    async with hostline_app(slack_config(fake)) as (_host, client):  # mention_only
        mention = message_event(f"<@{fake.bot_user_id}> start", channel="C0MO001",
                                kind="app_mention")
        await post(client, event_envelope(mention))
        await fake.until(lambda: fake.texts("C0MO001"))
        follow = message_event("and more", channel="C0MO001", thread_ts=mention["ts"])
        await post(client, event_envelope(follow))
        elsewhere = message_event("not for you", channel="C0MO001")
        await post(client, event_envelope(elsewhere))
        await fake.until(lambda: len(fake.texts("C0MO001")) >= 2)
        await asyncio.sleep(0.3)
    assert fake.texts("C0MO001") == ["start", "and more"]
