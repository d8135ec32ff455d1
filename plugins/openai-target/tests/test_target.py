"""The openai target against the local fake server: both APIs, streaming and
not, retries, timeouts and errors."""

from __future__ import annotations

import logging

import pytest

from hostline import Message, RunRequest, Session
from hostline_openai import OpenAITarget, OpenAITargetError, openai_target
from hostline_openai.testing import FakeOpenAIServer

# The same values as conftest.py (test modules cannot import conftest
# under --import-mode=importlib).
KEY = "sk-test-4f9c2b7e1d"
KEY_ENV = "HOSTLINE_TEST_OPENAI_KEY"

APIS = ["chat", "responses"]


def make(fake: FakeOpenAIServer, **options: object) -> OpenAITarget:
    options.setdefault("model", "gpt-test")
    options.setdefault("api_key_env", KEY_ENV)
    options.setdefault("max_retries", 2)
    return openai_target(base_url=fake.base_url, **options)  # type: ignore[arg-type]


def req(text: str, history: tuple[Message, ...] = (), **options: object) -> RunRequest:
    return RunRequest((Message.user(text),), history, Session("s"), options=dict(options))


async def collect(target: OpenAITarget, request: RunRequest) -> list[str]:
    return [d async for d in target.stream(request)]


@pytest.mark.parametrize("api", APIS)
async def test_blocking_run_maps_history_and_instructions(fake_openai, openai_key, api):
    target = make(fake_openai, api=api, instructions="Be brief.")
    history = (Message.user("earlier question"), Message.assistant("earlier answer"))
    result = await target.run(req("what now?", history))
    assert result.text == "You said: what now?"
    assert result.usage.output_tokens == 4 and result.usage.input_tokens > 0
    sent = fake_openai.requests[-1]
    assert sent.api == api and not sent.stream
    assert sent.messages == [("system", "Be brief."), ("user", "earlier question"),
                             ("assistant", "earlier answer"), ("user", "what now?")]
    assert sent.body["model"] == "gpt-test"


@pytest.mark.parametrize("api", APIS)
async def test_streaming_yields_deltas(fake_openai, openai_key, api):
    fake_openai.reply = lambda r: "one two three four"
    deltas = await collect(make(fake_openai, api=api), req("count"))
    assert len(deltas) == 4
    assert "".join(deltas) == "one two three four"
    assert fake_openai.requests[-1].stream


async def test_params_and_request_instructions_are_sent(fake_openai, openai_key):
    target = make(fake_openai, api="responses", instructions="Operator prompt.",
                  params={"temperature": 0.2, "max_output_tokens": 50})
    await target.run(req("hi", instructions="Channel prompt."))
    body = fake_openai.requests[-1].body
    assert body["temperature"] == 0.2 and body["max_output_tokens"] == 50
    assert body["instructions"] == "Operator prompt.\n\nChannel prompt."


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stream", [False, True])
async def test_429_then_success(fake_openai, openai_key, api, stream):
    fake_openai.fail_next(429, retry_after=0)
    target = make(fake_openai, api=api)
    text = "".join(await collect(target, req("hello"))) if stream else (
        await target.run(req("hello"))).text
    assert text == "You said: hello"
    assert len(fake_openai.requests) == 2


async def test_5xx_retried_then_clear_error(fake_openai, openai_key, caplog):
    fake_openai.fail_next(503, times=3, retry_after=0, message="upstream overloaded")
    with caplog.at_level(logging.WARNING, "hostline.openai"):
        with pytest.raises(OpenAITargetError) as info:
            await make(fake_openai, max_retries=2).run(req("hello"))
    assert info.value.status == 503 and info.value.retryable
    assert "HTTP 503" in str(info.value) and "after 3 attempts" in str(info.value)
    assert "upstream overloaded" in str(info.value)
    assert len(fake_openai.requests) == 3
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 2


async def test_retry_after_longer_than_allowed_fails_at_once(fake_openai, openai_key):
    fake_openai.fail_next(429, retry_after=3600)
    with pytest.raises(OpenAITargetError) as info:
        await make(fake_openai, max_retry_wait=5).run(req("hello"))
    assert "3600" in str(info.value) and info.value.status == 429
    assert len(fake_openai.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_timeout_is_a_clear_error(fake_openai, openai_key, stream):
    fake_openai.delay_next(30)
    target = make(fake_openai, timeout=0.3, max_retries=0)
    with pytest.raises(OpenAITargetError) as info:
        if stream:
            await collect(target, req("hello"))
        else:
            await target.run(req("hello"))
    assert "did not answer within 0.3s" in str(info.value)


async def test_timeout_then_success(fake_openai, openai_key):
    fake_openai.delay_next(30)
    result = await make(fake_openai, timeout=0.3, max_retries=1).run(req("hello"))
    assert result.text == "You said: hello"


async def test_wrong_key_names_the_variable_not_the_key(fake_openai, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-0123456789")
    target = make(fake_openai)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(OpenAITargetError) as info:
            await target.run(req("hello"))
    assert info.value.status == 401 and not info.value.retryable
    assert KEY_ENV in str(info.value)
    assert "sk-wrong" not in str(info.value) and "sk-wrong" not in caplog.text
    assert "sk-wrong" not in repr(target)
    assert len(fake_openai.requests) == 1  # 401 is not retried


async def test_missing_key_warns_and_server_refuses(fake_openai, monkeypatch, caplog):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with caplog.at_level(logging.WARNING, "hostline.openai"):
        target = make(fake_openai)
    assert KEY_ENV in caplog.text
    with pytest.raises(OpenAITargetError, match="refused the API key"):
        await target.run(req("hello"))


async def test_bad_request_is_not_retried_and_explains(fake_openai, openai_key):
    target = make(fake_openai, params={"temperature": 7})
    with pytest.raises(OpenAITargetError) as info:
        await target.run(req("hello"))
    assert info.value.status == 400 and "temperature" in str(info.value)
    assert len(fake_openai.requests) == 1


async def test_unknown_model(openai_key):
    with FakeOpenAIServer(api_key=KEY, model_ids=("gpt-real",)) as fake:
        with pytest.raises(OpenAITargetError, match="HTTP 404"):
            await make(fake, model="gpt-missing").run(req("hello"))


@pytest.mark.parametrize("api", APIS)
async def test_model_failing_mid_stream(fake_openai, openai_key, api):
    fake_openai.reply = lambda r: "a b c d"
    fake_openai.fail_midstream_next("the GPU caught fire")
    got: list[str] = []
    with pytest.raises(OpenAITargetError, match="the GPU caught fire"):
        async for delta in make(fake_openai, api=api).stream(req("x")):
            got.append(delta)
    assert got == ["a "]


async def test_unreachable_server(openai_key):
    with FakeOpenAIServer(api_key=KEY) as fake:
        url = fake.base_url
    target = openai_target(base_url=url, model="m", api_key_env=KEY_ENV, max_retries=0)
    with pytest.raises(OpenAITargetError, match="cannot reach the model server"):
        await target.run(req("hello"))


@pytest.mark.parametrize("options, message", [
    ({"model": ""}, "model"),
    ({"model": "m", "api": "completions"}, "api"),
    ({"model": "m", "base_url": "ftp://x"}, "base_url"),
    ({"model": "m", "base_url": "https://user:pw@x/v1"}, "credentials"),
    ({"model": "m", "timeout": 0}, "timeout"),
    ({"model": "m", "max_retries": -1}, "max_retries"),
    ({"model": "m", "params": {"messages": []}}, "messages"),
    ({"model": "m", "instructions": "a", "system_prompt": "b"}, "not both"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        openai_target(**options)
