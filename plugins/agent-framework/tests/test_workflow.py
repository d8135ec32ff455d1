"""A real two-step Workflow served by hostline: per-conversation checkpoints,
restore on the next turn (blocking and streaming), questions from
``request_info`` answered by the person's next message, and recovery after
the server is killed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hostline import IsolationKeys, Message
from hostline.testing import make_host
from hostline_agent_framework import WorkflowTarget, WorkflowTargetError

from .conftest import CLIENT_KEY, sdk_over_responses

CONFIG = """
[host]
target = "agent-framework"

[host.target_options]
factory = "hostline_af_testapp:build_workflow"
{extra}
{channels}
"""


def checkpoint_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


async def say(host, text, scope="chat-1", stream=False, isolation=None):
    turn = await host.begin_turn(channel="test", scope=scope, input=[Message.user(text)],
                                 isolation=isolation)
    if stream:
        return "".join([u.delta async for u in turn.stream()])
    return (await turn.run()).text


@pytest.mark.parametrize("stream", [False, True])
async def test_question_answer_and_continuation(hostline_app, stream):
    async with hostline_app(CONFIG.format(extra="", channels="")) as (host, _client):
        target = host.target.obj
        assert isinstance(target, WorkflowTarget)
        assert target.checkpoint_root == host.config.state_dir / "checkpoints"
        assert await say(host, "hello", stream=stream) == "What is your name?"
        assert await say(host, "Ada", stream=not stream) == \
            "Nice to meet you, Ada! You first said 'hello'."
        assert await say(host, "how are you", stream=stream) == \
            "Ada, this is message 2: how are you"
        assert await say(host, "bye", stream=not stream) == "Ada, this is message 3: bye"
        # Another conversation starts from nothing.
        assert await say(host, "hi", scope="chat-2", stream=stream) == "What is your name?"
        files = checkpoint_files(target.checkpoint_root)
        assert files and all(f.parent.parent == target.checkpoint_root for f in files)


async def test_resumes_from_checkpoint_in_a_new_host(tmp_path):
    """A new Host (a restart, in-process) on the same state dir resumes the
    workflow from its checkpoints, in streaming and blocking runs."""
    steps = [("hello", True, "What is your name?"),
             ("Grace", False, "Nice to meet you, Grace! You first said 'hello'."),
             ("again", True, "Grace, this is message 2: again"),
             ("more", False, "Grace, this is message 3: more")]
    for text, stream, expected in steps:
        host = make_host(tmp_path, CONFIG.format(extra="", channels=""))
        async with host.lifespan():
            assert await say(host, text, stream=stream) == expected


async def test_failed_turn_rolls_back_and_reports_safely(hostline_app, caplog):
    async with hostline_app(CONFIG.format(extra="", channels="")) as (host, _client):
        await say(host, "hello")
        await say(host, "Ada")
        root = host.target.obj.checkpoint_root
        before = checkpoint_files(root)
        with pytest.raises(WorkflowTargetError) as info:
            await say(host, "crash", stream=True)
        assert "greeter" in str(info.value) and "RuntimeError" in str(info.value)
        assert "secret internal detail" not in str(info.value)
        assert checkpoint_files(root) == before
        # The next turn continues from the state before the failed one.
        assert await say(host, "fine") == "Ada, this is message 2: fine"


async def test_invalid_isolation_key_skips_checkpointing_but_runs(hostline_app, caplog):
    async with hostline_app(CONFIG.format(extra="", channels="")) as (host, _client):
        root = host.target.obj.checkpoint_root
        bad = IsolationKeys(user="../../escape")
        with caplog.at_level(logging.WARNING, "hostline.agent_framework"):
            assert await say(host, "hello", isolation=bad) == "What is your name?"
        assert "without checkpointing" in caplog.text
        assert checkpoint_files(root.parent) == []
        # A good key checkpoints under its own directory.
        good = IsolationKeys(user="tenant-a", chat="chat 7")
        assert await say(host, "hello", isolation=good) == "What is your name?"
        assert await say(host, "Lin", isolation=good, stream=True) == \
            "Nice to meet you, Lin! You first said 'hello'."
        files = checkpoint_files(root)
        assert files and all(f.is_relative_to(root / "tenant-a" / "chat 7") for f in files)


async def test_keep_checkpoints_prunes_old_files(hostline_app):
    async with hostline_app(CONFIG.format(extra="keep_checkpoints = 2", channels="")) as (
            host, _client):
        for text in ("hello", "Ada", "one", "two"):
            await say(host, text)
        assert len(checkpoint_files(host.target.obj.checkpoint_root)) == 2
        assert await say(host, "three") == "Ada, this is message 4: three"


def test_killed_between_turns_resumes_over_the_responses_channel(hostline_server, app_env):
    server, client = sdk_over_responses(hostline_server, CONFIG.replace("{extra}", ""), app_env)
    conversation = client.conversations.create()

    first = client.responses.create(model="wf", input="hello", conversation=conversation.id)
    assert first.output_text == "What is your name?"

    server.kill()  # SIGKILL: no graceful shutdown, only what is on disk survives
    server.start()
    stream = client.responses.create(model="wf", input="Ada", conversation=conversation.id,
                                     stream=True)
    text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert text == "Nice to meet you, Ada! You first said 'hello'."

    server.kill()
    server.start()
    third = client.responses.create(model="wf", input="still here?",
                                    conversation=conversation.id)
    assert third.output_text == "Ada, this is message 2: still here?"

    # A failing step is a failed response with a generic message, nothing internal.
    failed = client.responses.create(model="wf", input="crash", conversation=conversation.id)
    assert failed.status == "failed"
    assert "secret internal detail" not in failed.model_dump_json()


async def test_hostile_isolation_header_over_http(hostline_app, caplog):
    """Through the Responses channel's HTTP endpoint: a traversal-looking
    isolation header is carried to the target, which runs without
    checkpoints and answers normally."""
    pytest.importorskip("hostline_responses")
    channels = f'[channels.responses]\napi_keys = ["{CLIENT_KEY}"]\n'
    async with hostline_app(CONFIG.format(extra="", channels=channels)) as (host, client):
        root = host.target.obj.checkpoint_root
        headers = {"authorization": f"Bearer {CLIENT_KEY}",
                   "x-agent-user-isolation-key": "../../outside"}
        with caplog.at_level(logging.WARNING, "hostline.agent_framework"):
            r = await client.post("/responses/v1/responses", headers=headers,
                                  json={"model": "wf", "input": "hello"})
        if r.status_code == 404:
            pytest.skip("responses channel does not serve /responses/v1/responses yet")
        assert r.status_code == 200, r.text
        assert r.json()["output"][0]["content"][0]["text"] == "What is your name?"
        assert "without checkpointing" in caplog.text
        assert checkpoint_files(root.parent.parent) == []
