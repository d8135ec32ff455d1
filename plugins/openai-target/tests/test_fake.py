"""The fake against OpenAI's own Python client: what the SDK accepts, the fake speaks."""

from __future__ import annotations

import httpx
import openai
import pytest

from hostline_openai.testing import FakeOpenAIServer

KEY = "sk-test-4f9c2b7e1d"  # as in conftest.py


@pytest.fixture
def client(fake_openai: FakeOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEY, base_url=fake_openai.base_url, max_retries=0)


def test_sdk_chat_completion_and_stream(client: openai.OpenAI,
                                        fake_openai: FakeOpenAIServer) -> None:
    done = client.chat.completions.create(model="gpt-test",
                                          messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content == "You said: hi"
    assert done.usage is not None and done.usage.completion_tokens == 3
    stream = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi there"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: hi there"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 6
    assert fake_openai.requests[-1].stream


def test_sdk_responses_stream(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-test", input="hello",
                                 instructions="be brief") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "You said: hello" == final.output_text
    assert final.status == "completed"


def test_sdk_errors_keep_their_shape(fake_openai: FakeOpenAIServer) -> None:
    wrong = openai.OpenAI(api_key="sk-wrong-0123456789", base_url=fake_openai.base_url,
                          max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth:
        wrong.models.list()
    assert auth.value.code == "invalid_api_key" and "sk-wrong" not in str(auth.value)
    right = openai.OpenAI(api_key=KEY, base_url=fake_openai.base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError) as bad:
        right.chat.completions.create(model="gpt-test", messages=[])
    assert bad.value.param == "messages"
    fake_openai.fail_next(429, retry_after=0)
    with pytest.raises(openai.RateLimitError) as limited:
        right.chat.completions.create(model="gpt-test",
                                      messages=[{"role": "user", "content": "x"}])
    assert limited.value.response.headers["retry-after"] == "0"


def test_streams_are_chunked_server_sent_events(fake_openai: FakeOpenAIServer) -> None:
    body = {"model": "gpt-test", "stream": True,
            "messages": [{"role": "user", "content": "one two"}]}
    with httpx.stream("POST", fake_openai.base_url + "/chat/completions", json=body,
                      headers={"authorization": f"Bearer {KEY}"}) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        assert response.headers["content-type"].startswith("text/event-stream")
        events = response.read().split(b"\n\n")
    assert events[-1] == b"" and events[-2] == b"data: [DONE]"
    assert all(e.startswith(b"data: {") for e in events[:-2])


def test_other_methods_get_openais_404(fake_openai: FakeOpenAIServer) -> None:
    response = httpx.delete(fake_openai.base_url + "/chat/completions",
                            headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (DELETE /v1/chat/completions)"
