"""A real two-step Workflow served by hostline: per-conversation checkpoints
in the host's store (the default) or in files, restore on the next turn
(blocking and streaming), questions from ``request_info`` answered by the
person's next message, and recovery after the server is killed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hostline import Erasure, IsolationKeys, Message
from hostline.testing import make_host
from hostline_agent_framework import WorkflowTarget, WorkflowTargetError
from hostline_agent_framework._checkpoints import NAMESPACE

from .conftest import CLIENT_KEY, sdk_over_responses

CONFIG = """
[host]
target = "agent-framework"

[host.target_options]
factory = "hostline_af_testapp:build_workflow"
{extra}
{channels}
"""


FILES = 'checkpoint_dir = "checkpoints"'


def checkpoint_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


async def stored(host) -> list[str]:
    """The ids of every checkpoint, wherever this host's target keeps them."""
    target = host.target.obj
    if target.checkpoint_root is not None:
        return [p.stem for p in checkpoint_files(target.checkpoint_root)]
    rows = await host.store.kv_list(NAMESPACE, limit=1000)
    return sorted(key.rpartition("/")[2] for key, _ in rows)


@pytest.fixture(params=["store", "files"])
def where(request) -> str:
    """Where checkpoints go: the config line choosing it."""
    return "" if request.param == "store" else FILES


async def say(host, text, scope="chat-1", stream=False, isolation=None):
    turn = await host.begin_turn(channel="test", scope=scope, input=[Message.user(text)],
                                 isolation=isolation)
    if stream:
        return "".join([u.delta async for u in turn.stream()])
    return (await turn.run()).text


@pytest.mark.parametrize("stream", [False, True])
async def test_question_answer_and_continuation(hostline_app, stream, where):
    async with hostline_app(CONFIG.format(extra=where, channels="")) as (host, _client):
        target = host.target.obj
        assert isinstance(target, WorkflowTarget)
        if where:
            assert target.checkpoint_root == host.config.state_dir / "checkpoints"
        else:
            assert target.checkpoint_store is host.store and target.checkpoint_root is None
        assert await say(host, "hello", stream=stream) == "What is your name?"
        assert await say(host, "Ada", stream=not stream) == \
            "Nice to meet you, Ada! You first said 'hello'."
        assert await say(host, "how are you", stream=stream) == \
            "Ada, this is message 2: how are you"
        assert await say(host, "bye", stream=not stream) == "Ada, this is message 3: bye"
        # Another conversation starts from nothing.
        assert await say(host, "hi", scope="chat-2", stream=stream) == "What is your name?"
        assert await stored(host)
        if where:
            files = checkpoint_files(target.checkpoint_root)
            assert all(f.parent.parent == target.checkpoint_root for f in files)
        else:
            assert not (host.config.state_dir / "checkpoints").exists()


async def test_resumes_from_checkpoint_in_a_new_host(tmp_path, where):
    """A new Host (a restart, in-process) on the same state dir resumes the
    workflow from its checkpoints, in streaming and blocking runs."""
    steps = [("hello", True, "What is your name?"),
             ("Grace", False, "Nice to meet you, Grace! You first said 'hello'."),
             ("again", True, "Grace, this is message 2: again"),
             ("more", False, "Grace, this is message 3: more")]
    for text, stream, expected in steps:
        host = make_host(tmp_path, CONFIG.format(extra=where, channels=""))
        async with host.lifespan():
            assert await say(host, text, stream=stream) == expected


async def test_failed_turn_rolls_back_and_reports_safely(hostline_app, caplog, where):
    async with hostline_app(CONFIG.format(extra=where, channels="")) as (host, _client):
        await say(host, "hello")
        await say(host, "Ada")
        before = await stored(host)
        with pytest.raises(WorkflowTargetError) as info:
            await say(host, "crash", stream=True)
        assert "greeter" in str(info.value) and "RuntimeError" in str(info.value)
        assert "secret internal detail" not in str(info.value)
        assert await stored(host) == before
        # The next turn continues from the state before the failed one.
        assert await say(host, "fine") == "Ada, this is message 2: fine"


async def test_invalid_isolation_key_skips_checkpoint_files_but_runs(hostline_app, caplog):
    async with hostline_app(CONFIG.format(extra=FILES, channels="")) as (host, _client):
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


async def test_keep_checkpoints_prunes_old_ones(hostline_app, where):
    extra = f"keep_checkpoints = 2\n{where}"
    async with hostline_app(CONFIG.format(extra=extra, channels="")) as (host, _client):
        for text in ("hello", "Ada", "one", "two"):
            await say(host, text)
        assert len(await stored(host)) == 2
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
    checkpoint files and answers normally."""
    pytest.importorskip("hostline_responses")
    channels = f'[channels.responses]\napi_keys = ["{CLIENT_KEY}"]\n'
    async with hostline_app(CONFIG.format(extra=FILES, channels=channels)) as (host, client):
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


async def test_store_checkpoints_are_isolated_and_need_no_safe_path(hostline_app, caplog):
    """In the store, checkpoints are keyed by the session (which holds the
    isolation scope): two tenants with the same chat never share one, and a
    key that could not be a directory name checkpoints like any other."""
    async with hostline_app(CONFIG.format(extra="", channels="")) as (host, _client):
        a, b = IsolationKeys(user="tenant-a"), IsolationKeys(user="../../escape")
        with caplog.at_level(logging.WARNING, "hostline.agent_framework"):
            assert await say(host, "hello", isolation=a) == "What is your name?"
            assert await say(host, "hello", isolation=b) == "What is your name?"
            assert await say(host, "Ada", isolation=a) == \
                "Nice to meet you, Ada! You first said 'hello'."
            assert await say(host, "Bo", isolation=b, stream=True) == \
                "Nice to meet you, Bo! You first said 'hello'."
            assert await say(host, "again", isolation=a) == "Ada, this is message 2: again"
        assert "without checkpointing" not in caplog.text
        rows = await host.store.kv_list(NAMESPACE, limit=1000)
        sessions = {value["session"] for _, value in rows}
        assert len(sessions) == 2
        assert not (host.config.state_dir / "checkpoints").exists()


async def test_unreadable_stored_checkpoint_is_skipped(hostline_app, caplog):
    async with hostline_app(CONFIG.format(extra="", channels="")) as (host, _client):
        await say(host, "hello")
        await say(host, "Ada")
        (key, record), *_ = sorted(await host.store.kv_list(NAMESPACE, limit=1000),
                                   key=lambda r: r[1]["timestamp"], reverse=True)
        prefix = key.rpartition("/")[0]
        await host.store.kv_put(NAMESPACE, f"{prefix}/zz-broken",
                                {**record, "timestamp": "9999", "checkpoint": {"$bad": 1}})
        with caplog.at_level(logging.WARNING, "hostline.agent_framework"):
            assert await say(host, "on") == "Ada, this is message 2: on"
        assert "skipping unreadable checkpoint zz-broken" in caplog.text


async def test_erasing_a_person_removes_their_checkpoints(hostline_app):
    async with hostline_app(CONFIG.format(extra="", channels="")) as (host, _client):
        await say(host, "hello", scope="chat-1")
        await say(host, "hello", scope="chat-2")
        counts = await host.store.erase(Erasure.of(["test:chat-1"]))
        assert counts["records"] >= 1
        left = {value["session"] for _, value in await host.store.kv_list(NAMESPACE, limit=100)}
        assert left and all("chat-2" in s for s in left)
        # chat-1 starts from nothing; chat-2 carries on.
        assert await say(host, "Ada", scope="chat-1") == "What is your name?"
        assert await say(host, "Bo", scope="chat-2") == \
            "Nice to meet you, Bo! You first said 'hello'."


NOTEBOOK = """
[host]
target = "agent-framework"

[host.target_options]
factory = "hostline_af_testapp:build_notebook"
{extra}
"""


async def test_checkpoints_holding_an_application_type_need_it_allowed(hostline_app, where,
                                                                       caplog):
    """Agent Framework refuses to save a checkpoint it could not restore (and
    goes on without it, saying why) until the type is allowed."""
    async with hostline_app(NOTEBOOK.format(extra=where)) as (host, _client):
        with caplog.at_level(logging.WARNING):
            assert await say(host, "one") == "one"
        assert "blocked for type 'hostline_af_testapp:Note'" in caplog.text
    allowed = f'allowed_checkpoint_types = ["hostline_af_testapp:Note"]\n{where}'
    async with hostline_app(NOTEBOOK.format(extra=allowed)) as (host, _client):
        assert await say(host, "one") == "one"
        assert await say(host, "two", stream=True) == "one / two"
        assert await say(host, "three") == "one / two / three"
