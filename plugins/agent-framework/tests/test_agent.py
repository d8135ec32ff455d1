"""A real Agent Framework agent (with a local chat client) served by hostline:
the framework's session is kept in the hostline session across turns and
across restarts."""

from __future__ import annotations

from hostline import Message
from hostline.testing import make_host
from hostline_agent_framework import AgentTarget

from .conftest import sdk_over_responses

CONFIG = """
[host]
target = "agent-framework"

[host.target_options]
factory = "hostline_af_testapp:build_agent"
{channels}
"""


async def say(host, text, scope="chat-1", stream=False):
    turn = await host.begin_turn(channel="test", scope=scope, input=[Message.user(text)])
    if stream:
        return "".join([u.delta async for u in turn.stream()])
    return (await turn.run()).text


async def test_agent_keeps_its_session_across_turns(hostline_app):
    async with hostline_app(CONFIG.format(channels="")) as (host, _client):
        assert isinstance(host.target.obj, AgentTarget)
        assert await say(host, "hi") == "Turn 1: you said 'hi'; before that: nothing."
        assert await say(host, "how are you", stream=True) == \
            "Turn 2: you said 'how are you'; before that: hi."
        # Another conversation has its own session.
        assert await say(host, "hello", scope="chat-2") == \
            "Turn 1: you said 'hello'; before that: nothing."
        session, _ = await host.store.load_session(host.session_scope("test", "chat-1"), 10)
        stored = session.state["agent_framework"]["session"]
        assert stored["type"] == "session" and stored["state"]
        # /new starts a fresh agent session.
        await host.dispatch_command("/new", channel="test", scope="chat-1")
        assert await say(host, "again") == "Turn 1: you said 'again'; before that: nothing."


async def test_agent_session_survives_a_new_host_on_the_same_state(tmp_path):
    for i, (text, expected) in enumerate([
            ("one", "Turn 1: you said 'one'; before that: nothing."),
            ("two", "Turn 2: you said 'two'; before that: one."),
            ("three", "Turn 3: you said 'three'; before that: one, two.")]):
        host = make_host(tmp_path, CONFIG.format(channels=""))
        async with host.lifespan():
            assert await say(host, text, stream=bool(i % 2)) == expected


def test_openai_sdk_over_responses_channel_across_a_restart(hostline_server, app_env):
    server, client = sdk_over_responses(hostline_server, CONFIG, app_env)

    first = client.responses.create(model="agent", input="hi")
    assert first.output_text == "Turn 1: you said 'hi'; before that: nothing."
    stream = client.responses.create(model="agent", input="more", stream=True,
                                     previous_response_id=first.id)
    events = list(stream)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Turn 2: you said 'more'; before that: hi."
    last_id = next(e.response.id for e in events if e.type == "response.completed")

    server.restart()
    third = client.responses.create(model="agent", input="after restart",
                                    previous_response_id=last_id)
    assert third.output_text == "Turn 3: you said 'after restart'; before that: hi, more."
