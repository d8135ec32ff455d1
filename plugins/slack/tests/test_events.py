"""The Events API against a real ``hostline serve`` and the FakeSlackAPI, with
requests signed and blocks checked by the official slack_sdk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from slack_sdk.models.blocks import Block

from hostline.testing import ServerProcess
from hostline_slack.testing import FakeSlackAPI, event_envelope, message_event

from .conftest import dm, send_event, send_form, server_env, slack_config, start_server


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as f:
        f.add_user("U0USER1", name="Ann Lee", display_name="ann")
        yield f


@pytest.fixture(scope="module")
def feedback_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "feedback.jsonl"


@pytest.fixture(scope="module")
def server(slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory,
           feedback_file: Path) -> Iterator[ServerProcess]:
    config = slack_config(slack, host={"target": "slack_targets:history_echo",
                                       "plugins": ["slack_targets:feedback_recorder"]},
                          feedback_buttons=True)
    proc = start_server(tmp_path_factory.mktemp("events"), config,
                        env=server_env(SLACK_FEEDBACK_FILE=str(feedback_file)))
    yield proc
    proc.stop()


def queue(server: ServerProcess) -> int:
    return int(httpx.get(server.url + "/readyz").json()["queue"])


def test_url_verification(server: ServerProcess) -> None:
    r = send_event(server.url, {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWM"
                                "mHkvFXO7tYXAYM8P", "type": "url_verification"})
    assert r.status_code == 200
    assert r.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_dm_answered_in_its_thread_with_history(server: ServerProcess,
                                                slack: FakeSlackAPI) -> None:
    first = message_event("hi there", channel="D0DM100")
    assert send_event(server.url, event_envelope(first)).status_code == 200
    slack.wait_for(lambda: slack.texts("D0DM100"))
    answer = slack.messages("D0DM100")[0]
    assert answer.text == "echo: hi there (history 0)"
    assert answer.thread_ts == first["ts"]
    # Valid Block Kit, as slack_sdk parses it: the text, then the feedback buttons.
    blocks = [Block.parse(b) for b in answer.blocks]
    assert [b.type for b in blocks if b] == ["section", "context_actions"]
    follow = message_event("and again", channel="D0DM100", thread_ts=first["ts"])
    send_event(server.url, event_envelope(follow))
    slack.wait_for(lambda: len(slack.texts("D0DM100")) == 2)
    assert slack.messages("D0DM100")[1].text == "echo: and again (history 2)"
    assert slack.messages("D0DM100")[1].thread_ts == first["ts"]


def test_mention_answered_and_plain_channel_message_ignored(server: ServerProcess,
                                                            slack: FakeSlackAPI) -> None:
    plain = message_event("just chatting", channel="C0CHAN1")
    assert send_event(server.url, event_envelope(plain)).status_code == 200
    mention = message_event(f"<@{slack.bot_user_id}> what now?", channel="C0CHAN1",
                            kind="app_mention")
    assert send_event(server.url, event_envelope(mention)).status_code == 200
    slack.wait_for(lambda: slack.texts("C0CHAN1"))
    time.sleep(0.3)
    assert slack.texts("C0CHAN1") == ["echo: what now? (history 0)"]
    assert slack.messages("C0CHAN1")[0].thread_ts == mention["ts"]


def test_bad_signatures_and_replays_are_refused_with_nothing_queued(
        server: ServerProcess, slack: FakeSlackAPI) -> None:
    before = len(slack.calls())
    env = dm("sneaky", channel="D0DM101")
    assert send_event(server.url, env, secret="wrong-secret").status_code == 401
    assert send_event(server.url, env, timestamp=int(time.time()) - 360).status_code == 401
    assert send_event(server.url, env, timestamp=int(time.time()) + 360).status_code == 401
    r = httpx.post(server.url + "/slack/events", json=env)  # unsigned
    assert r.status_code == 401 and "signature" in r.text
    assert queue(server) == 0
    time.sleep(0.3)
    assert slack.texts("D0DM101") == [] and len(slack.calls()) == before


def test_edits_deletes_and_bots_are_acked_not_run(server: ServerProcess,
                                                  slack: FakeSlackAPI) -> None:
    for event in (message_event("x", channel="D0DM102", subtype="message_changed"),
                  message_event("x", channel="D0DM102", subtype="message_deleted"),
                  message_event("x", channel="D0DM102", bot_id="B0OTHER"),
                  message_event("x", channel="D0DM102", user=slack.bot_user_id)):
        assert send_event(server.url, event_envelope(event)).status_code == 200
    assert send_event(server.url, dm("real one", channel="D0DM102")).status_code == 200
    slack.wait_for(lambda: slack.texts("D0DM102"))
    time.sleep(0.2)
    assert slack.texts("D0DM102") == ["echo: real one (history 0)"]


def test_long_answer_split_in_order_within_limits(server: ServerProcess,
                                                  slack: FakeSlackAPI) -> None:
    from .slack_targets import long_text

    send_event(server.url, dm("long please", channel="D0DM103"))
    slack.wait_for(lambda: len(slack.texts("D0DM103")) >= 4 and
                   "THE END" in slack.texts("D0DM103")[-1], timeout=20)
    texts = slack.texts("D0DM103")
    assert all(len(t) <= 3000 for t in texts)
    for t in texts:  # never cut inside a code block
        assert t.count("```") % 2 == 0
    joined = " ".join(" ".join(texts).replace("```", " ").split())
    for word in ("Paragraph 0:", "word5x39", "line_0 = 0 * 2", "line_59 = 59 * 2",
                 "item 19 with *bold* text", "Paragraph 11:", "THE END"):
        assert word in joined
    order = [joined.index(w) for w in ("Paragraph 0:", "line_59", "item 19", "Paragraph 11:",
                                       "THE END")]
    assert order == sorted(order)
    assert len(long_text()) >= 10_000


def test_429_on_first_post_is_waited_out(server: ServerProcess, slack: FakeSlackAPI) -> None:
    slack.rate_limit("chat.postMessage", retry_after=1)
    start = time.monotonic()
    send_event(server.url, dm("patience", channel="D0DM104"))
    slack.wait_for(lambda: slack.texts("D0DM104"), timeout=15)
    assert time.monotonic() - start >= 1.0
    assert slack.texts("D0DM104") == ["echo: patience (history 0)"]
    assert slack.violations == []


def test_markdown_renders_as_mrkdwn(server: ServerProcess, slack: FakeSlackAPI) -> None:
    send_event(server.url, dm("md", channel="D0DM105"))
    text = slack.wait_for(lambda: slack.texts("D0DM105"))[0]
    assert "*Bold* and _it_ with `code` and <https://example.com|a link>" in text
    assert "\u2022 one\n\u2022 two" in text
    assert "```\na | b\n--+--\n1 | 2\n```" in text
    assert "```\nx &lt; y\n```" in text


def test_slash_command_new_and_unknown(server: ServerProcess, slack: FakeSlackAPI) -> None:
    form = {"command": "/new", "text": "", "team_id": slack.team_id, "user_id": "U0USER1",
            "user_name": "ann", "channel_id": "D0DM106", "trigger_id": "1.2.abc",
            "response_url": slack.response_url()}
    assert send_form(server.url, "commands", form).status_code == 200
    slack.wait_for(lambda: slack.responses)
    assert slack.responses[-1]["body"]["response_type"] == "ephemeral"
    form = {**form, "command": "/bogus", "trigger_id": "1.2.abd",
            "response_url": slack.response_url()}
    send_form(server.url, "commands", form)
    slack.wait_for(lambda: len(slack.responses) == 2)
    assert "Unknown command" in slack.responses[-1]["body"]["text"]
    assert send_form(server.url, "commands", form, secret="nope").status_code == 401


def test_feedback_click_reaches_the_hook(server: ServerProcess, slack: FakeSlackAPI,
                                         feedback_file: Path) -> None:
    import json

    send_event(server.url, dm("rate me", channel="D0DM107"))
    answer = slack.wait_for(lambda: slack.messages("D0DM107"))[0]
    payload = {"type": "block_actions", "team": {"id": slack.team_id},
               "user": {"id": "U0USER1", "name": "ann", "team_id": slack.team_id},
               "container": {"type": "message", "message_ts": answer.ts,
                             "channel_id": "D0DM107", "thread_ts": answer.thread_ts},
               "channel": {"id": "D0DM107"}, "trigger_id": "123.456.789",
               "response_url": slack.response_url("act"),
               "actions": [{"type": "feedback_buttons", "action_id": "hostline_feedback",
                            "block_id": "x", "value": "negative",
                            "action_ts": "1767000000.1234"}]}
    r = send_form(server.url, "interactions", {"payload": json.dumps(payload)})
    assert r.status_code == 200
    send_form(server.url, "interactions", {"payload": json.dumps(payload)})  # a retry
    seen = slack.wait_for(lambda: feedback_file.exists() and feedback_file.read_text())
    time.sleep(0.3)
    lines = [json.loads(x) for x in feedback_file.read_text().splitlines()]
    assert len(lines) == 1, seen
    assert lines[0]["rating"] == "negative"
    assert lines[0]["answer"] == "echo: rate me (history 0)"
    assert lines[0]["message_id"] == answer.ts and lines[0]["run_id"]
    assert lines[0]["identity"] == f"slack:{slack.team_id}:U0USER1"


def test_bad_bodies_are_4xx(server: ServerProcess) -> None:
    from hostline_slack.testing import signed_headers

    for body in (b"{not json", b"[1,2]", b'{"type":"event_callback"}', b"\xff\xfe"):
        r = httpx.post(server.url + "/slack/events", content=body, headers=signed_headers(body))
        assert 400 <= r.status_code < 500, body
    r = httpx.get(server.url + "/slack/events")
    assert r.status_code == 405
    assert httpx.get(server.url + "/healthz").status_code == 200


