"""Properties of the stream parser and header handling, with hostile input."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator

from hypothesis import given, settings
from hypothesis import strategies as st

from hostline_openai import OpenAITargetError
from hostline_openai._sse import iter_sse
from hostline_openai._target import (
    _chat_deltas,
    _chat_result,
    _responses_deltas,
    _responses_result,
    _retry_after,
)


async def _aiter(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


def _events(lines: list[str]) -> list[tuple[str | None, str]]:
    async def go() -> list[tuple[str | None, str]]:
        return [(e.event, e.data) async for e in iter_sse(_aiter(lines))]
    return asyncio.run(go())


line_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                    max_size=40)


@given(st.lists(st.tuples(st.none() | line_text.filter(lambda s: s.strip() == s and s),
                          st.lists(line_text, min_size=1, max_size=3)), max_size=8))
def test_sse_round_trip(events):
    lines: list[str] = []
    for name, data in events:
        if name is not None:
            lines.append(f"event: {name}")
        lines.extend(f"data: {d}" for d in data)
        lines.append("")
    assert _events(lines) == [(name, "\n".join(data)) for name, data in events]


def test_sse_ignores_comments_and_handles_missing_final_blank_line():
    assert _events([": keep-alive", "id: 7", "data:x", "retry: 10", "", "data: last"]) == [
        (None, "x"), (None, "last")]


def _check_stream(lines: list[str], api: str) -> None:
    """Parsing must yield only strings or raise OpenAITargetError, nothing else."""
    parse = _chat_deltas if api == "chat" else _responses_deltas

    async def go() -> None:
        try:
            async for delta in parse(iter_sse(_aiter(lines))):
                assert isinstance(delta, str)
        except OpenAITargetError as exc:
            assert str(exc)
    asyncio.run(go())


@settings(max_examples=200)
@given(st.lists(st.text(max_size=60), max_size=12), st.sampled_from(["chat", "responses"]))
def test_hostile_stream_lines(lines, api):
    _check_stream(lines, api)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10)
    | st.sampled_from(["error", "response.failed", "response.output_text.delta", "[DONE]"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "delta", "choices", "content", "error", "message", "index",
                         "response", "refusal"]), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300)
@given(st.lists(json_values, max_size=6), st.sampled_from(["chat", "responses"]))
def test_hostile_json_events(values, api):
    _check_stream([line for v in values for line in (f"data: {json.dumps(v)}", "")], api)


body_keys = st.sampled_from(["choices", "message", "content", "output", "type", "text",
                             "usage", "status", "error", "finish_reason", "refusal",
                             "prompt_tokens", "input_tokens"])
bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from(["message", "output_text", "failed", "incomplete", "length"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(body_keys, inner, max_size=4),
    max_leaves=15)


@settings(max_examples=300)
@given(st.dictionaries(body_keys, bodies, max_size=5))
def test_hostile_blocking_bodies(body):
    for parse in (_chat_result, _responses_result):
        try:
            result = parse(body)
        except OpenAITargetError:
            continue
        assert isinstance(result.text, str)


@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms"]), st.text(max_size=30)))
def test_retry_after_never_crashes_or_goes_negative(headers):
    value = _retry_after(headers)
    assert value is None or value >= 0


def test_retry_after_forms():
    assert _retry_after({"retry-after": "2"}) == 2
    assert _retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert _retry_after({"retry-after": "soon"}) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 20 < (_retry_after({"retry-after": later}) or 0) <= 31
    assert _retry_after({}) is None
