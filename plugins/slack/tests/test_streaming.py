"""Streaming, assistant threads, push and restarts against a real ``hostline serve``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostline.testing import ServerProcess
from hostline_slack.testing import FakeSlackAPI, event_envelope, message_event

from .conftest import dm, send_event, server_env, slack_config, start_server


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as f:
        yield f


@pytest.fixture(scope="module")
def server(slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServerProcess]:
    config = slack_config(slack, host={"target": "slack_targets:streamer"},
                          suggested_prompts=["What can you do?", "Summarise this channel"],
                          feedback_buttons=True)
    proc = start_server(tmp_path_factory.mktemp("stream"), config, env=server_env())
    yield proc
    proc.stop()


def test_streamed_answer_uses_start_append_stop(server: ServerProcess,
                                                slack: FakeSlackAPI) -> None:
    event = message_event("tell me", channel="D0ST001")
    send_event(server.url, event_envelope(event))
    done = slack.wait_for(lambda: [m for m in slack.messages("D0ST001") if not m.streaming
                                   and m.text.endswith("part7 ")], timeout=15)
    m = done[0]
    assert m.streamed and m.thread_ts == event["ts"]
    assert m.text == "".join(f"part{i} " for i in range(8))
    assert 3 <= len(m.chunks) <= 7  # coalesced: fewer calls than deltas
    assert [b["type"] for b in m.blocks] == ["context_actions"]  # feedback under it
    methods = [c.method for c in slack.calls() if c.params.get("channel") == "D0ST001"]
    assert methods[0] == "chat.startStream" and methods[-1] == "chat.stopStream"
    assert "chat.postMessage" not in methods


def test_quick_stream_is_one_post(server: ServerProcess, slack: FakeSlackAPI) -> None:
    send_event(server.url, dm("quick one", channel="D0ST002"))
    slack.wait_for(lambda: slack.texts("D0ST002"))
    time.sleep(0.3)
    methods = [c.method for c in slack.calls() if c.params.get("channel") == "D0ST002"]
    assert methods == ["chat.postMessage"]
    assert slack.texts("D0ST002") == ["fast answer"]


def test_assistant_thread_prompts_status_and_title(server: ServerProcess,
                                                   slack: FakeSlackAPI) -> None:
    started = {"type": "assistant_thread_started", "event_ts": "1767000000.000200",
               "assistant_thread": {"user_id": "U0USER1", "channel_id": "D0AS001",
                                    "thread_ts": "1767000000.000100",
                                    "context": {"channel_id": "C0CHAN1",
                                                "team_id": slack.team_id}}}
    send_event(server.url, event_envelope(started))
    prompts = slack.wait_for(lambda: slack.calls("assistant.threads.setSuggestedPrompts"))
    assert prompts[0].ok
    assert [p["message"] for p in prompts[0].params["prompts"]] == [
        "What can you do?", "Summarise this channel"]
    send_event(server.url, event_envelope(message_event(
        "How do I file expenses?", channel="D0AS001", thread_ts="1767000000.000100")))
    slack.wait_for(lambda: [m for m in slack.messages("D0AS001") if not m.streaming])
    statuses = [c.params["status"] for c in slack.calls("assistant.threads.setStatus")
                if c.params["channel_id"] == "D0AS001"]
    assert statuses[0] == "is thinking\u2026" and all(c.ok for c in
                                                      slack.calls("assistant.threads.setStatus"))
    titles = slack.calls("assistant.threads.setTitle")
    assert titles and titles[0].params["title"] == "How do I file expenses?"
    assert slack.messages("D0AS001")[0].thread_ts == "1767000000.000100"


def test_push_to_a_user_opens_a_dm(server: ServerProcess, slack: FakeSlackAPI) -> None:
    out = subprocess.run([sys.executable, "-m", "hostline", "push", "--config",
                          str(server.config_path), "--channel", "slack", "--to", "U0PUSH1",
                          "Your report is **ready**"], capture_output=True, text=True,
                         cwd=server.config_path.parent, timeout=30, env=server.env)
    assert out.returncode == 0, out.stderr
    slack.wait_for(lambda: slack.texts("D0PUSH1"), timeout=15)
    assert slack.texts("D0PUSH1") == ["Your report is *ready*"]
    assert slack.calls("conversations.open")[0].params["users"] == "U0PUSH1"


def test_without_native_streaming_posts_and_updates(server: ServerProcess,
                                                    slack: FakeSlackAPI) -> None:
    slack.native_streaming = False
    try:
        send_event(server.url, dm("tell me more", channel="D0ST003"))
        slack.wait_for(lambda: slack.texts("D0ST003") and
                       slack.texts("D0ST003")[0].startswith("part0") and
                       slack.texts("D0ST003")[0].rstrip().endswith("part7"), timeout=15)
        m = slack.messages("D0ST003")[0]
        assert not m.streamed and m.edits >= 1
        assert len(slack.messages("D0ST003")) == 1
    finally:
        slack.native_streaming = True


def test_retried_event_answered_once_across_restart(slack: FakeSlackAPI,
                                                    tmp_path: Path) -> None:
    config = slack_config(slack, host={"target": "slack_targets:history_echo"},
                          outbox={"lease_seconds": 1.0})
    server = start_server(tmp_path / "restart", config, env=server_env())
    try:
        env = dm("only once", channel="D0RS001")
        assert send_event(server.url, env).status_code == 200
        slack.wait_for(lambda: slack.texts("D0RS001"))
        assert send_event(server.url, env, retry=1).status_code == 200
        server.restart()
        assert send_event(server.url, env, retry=2).status_code == 200
        send_event(server.url, dm("next", channel="D0RS001"))
        slack.wait_for(lambda: len(slack.texts("D0RS001")) >= 2)
        time.sleep(0.3)
        assert slack.texts("D0RS001") == ["echo: only once (history 0)",
                                          "echo: next (history 0)"]
        # A crash right after the ack loses nothing: the event is in the store.
        server.env["SLACK_TEST_SLOW"] = "2"
        server.restart()
        send_event(server.url, dm("survive", channel="D0RS002"))
        server.kill()
        server.env["SLACK_TEST_SLOW"] = "0"
        server.start()
        slack.wait_for(lambda: slack.texts("D0RS002"), timeout=20)
        assert slack.texts("D0RS002") == ["echo: survive (history 0)"]
    finally:
        server.stop()
