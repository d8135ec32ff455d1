"""The openai target served by a real hostline host, configured by entry-point
name with ``[host.target_options]`` pointing at the local fake server."""

from __future__ import annotations

import logging

import httpx
import pytest

from hostline import ConfigError, Message
from hostline_openai import OpenAITargetError
from hostline_openai.testing import FakeOpenAIServer

KEY = "sk-test-4f9c2b7e1d"  # as in conftest.py
KEY_ENV = "HOSTLINE_TEST_OPENAI_KEY"
CLIENT_KEY = "hl-client-key-1"


def config(fake: FakeOpenAIServer, api: str = "chat", extra: str = "", channels: str = "") -> str:
    return f"""
[host]
target = "openai"

[host.target_options]
model = "gpt-test"
base_url = "{fake.base_url}"
api_key_env = "{KEY_ENV}"
api = "{api}"
max_retries = 1
timeout = 5
instructions = "You are a test bot."
{extra}
{channels}
"""


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_turns_keep_history_blocking_and_streaming(hostline_app, fake_openai, openai_key,
                                                         api):
    async with hostline_app(config(fake_openai, api)) as (host, _client):
        turn = await host.begin_turn(channel="test", scope="chat-1",
                                     input=[Message.user("hello")])
        reply = await turn.run()
        assert reply is not None and reply.text == "You said: hello"

        turn = await host.begin_turn(channel="test", scope="chat-1",
                                     input=[Message.user("and again")])
        deltas = [u.delta async for u in turn.stream()]
        assert len(deltas) > 1 and "".join(deltas) == "You said: and again"

        assert fake_openai.requests[-1].messages == [
            ("system", "You are a test bot."), ("user", "hello"),
            ("assistant", "You said: hello"), ("user", "and again")]
        assert fake_openai.requests[-1].stream

        # A new scope is a new conversation: no history leaks into it.
        turn = await host.begin_turn(channel="test", scope="chat-2",
                                     input=[Message.user("who am I?")])
        await turn.run()
        assert [r for r, _ in fake_openai.requests[-1].messages] == ["system", "user"]


async def test_model_failure_reaches_the_channel_as_an_error(hostline_app, fake_openai,
                                                             openai_key, caplog):
    async with hostline_app(config(fake_openai)) as (host, _client):
        fake_openai.fail_next(503, times=2, retry_after=0, message="no capacity")
        turn = await host.begin_turn(channel="test", scope="c", input=[Message.user("hi")])
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(OpenAITargetError, match=r"HTTP 503.*no capacity"):
                await turn.run()
        assert KEY not in caplog.text
        # The next turn works again.
        turn = await host.begin_turn(channel="test", scope="c", input=[Message.user("hi")])
        assert (await turn.run()).text == "You said: hi"


async def test_bad_options_fail_start_up_with_the_option_named(hostline_app, fake_openai):
    with pytest.raises(ConfigError, match=r"target_options.*'api' must be"):
        hostline_app(config(fake_openai, api="completions"))
    with pytest.raises(ConfigError, match="unexpected keyword argument 'temprature'"):
        hostline_app(config(fake_openai, extra="temprature = 1"))


def _responses_ready(url: str) -> bool:
    """The Responses channel is a separate plugin; skip if it is not serving."""
    r = httpx.post(url + "/responses/v1/responses", json={}, timeout=5,
                   headers={"authorization": f"Bearer {CLIENT_KEY}"})
    return r.status_code != 404


def test_openai_sdk_through_the_responses_channel(hostline_server, fake_openai):
    openai = pytest.importorskip("openai")
    pytest.importorskip("hostline_responses")
    channels = f'[channels.responses]\napi_keys = ["{CLIENT_KEY}"]\n'
    try:
        server = hostline_server(config(fake_openai, "responses", channels=channels),
                                 env={KEY_ENV: KEY})
    except RuntimeError as exc:  # the channel plugin may not be able to start yet
        pytest.skip(f"responses channel not available: {str(exc)[-300:]}")
    if not _responses_ready(server.url):
        pytest.skip("responses channel does not serve /responses/v1/responses yet")
    client = openai.OpenAI(base_url=server.url + "/responses/v1", api_key=CLIENT_KEY,
                           max_retries=0)

    first = client.responses.create(model="hostline", input="hello",
                                    instructions="Answer briefly.")
    assert first.output_text == "You said: hello"
    assert fake_openai.requests[-1].body["instructions"] == \
        "You are a test bot.\n\nAnswer briefly."

    stream = client.responses.create(model="hostline", input="and again", stream=True,
                                     previous_response_id=first.id)
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "You said: and again"
    assert fake_openai.requests[-1].messages[-3:] == [
        ("user", "hello"), ("assistant", "You said: hello"), ("user", "and again")]

    fake_openai.fail_next(500, times=2, retry_after=0, message="model exploded")
    failed = None
    try:
        failed = client.responses.create(model="hostline", input="boom")
    except openai.APIStatusError as exc:
        assert exc.status_code >= 500
        assert KEY not in str(exc.body)
    else:
        assert failed.status == "failed"
    assert KEY not in server.output()
