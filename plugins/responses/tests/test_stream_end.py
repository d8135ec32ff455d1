"""A stream whose producer raises still ends with a terminal event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from hostline_responses.sse import EventStream


async def _run(stream: EventStream) -> str:
    sent: list[Any] = []
    never = asyncio.Event()

    async def receive() -> Any:
        await never.wait()

    async def send(message: Any) -> None:
        sent.append(message)

    await stream({"type": "http"}, receive, send)
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"
                    ).decode()


def _events(text: str) -> list[str]:
    return [line[7:] for line in text.splitlines() if line.startswith("event: ")]


async def _failing(after: list[str]) -> AsyncIterator[dict[str, Any]]:
    for i, kind in enumerate(after):
        yield {"type": kind, "sequence_number": i}
    raise RuntimeError("the producer broke")


async def test_a_failing_producer_ends_with_an_error_event() -> None:
    text = await _run(EventStream(_failing(["response.created", "response.in_progress"])))
    assert _events(text) == ["response.created", "response.in_progress", "error"]
    assert '"sequence_number":2' in text


async def test_on_failure_makes_the_last_event() -> None:
    stream = EventStream(_failing(["response.created"]), on_failure=lambda seq: {
        "type": "response.failed", "sequence_number": seq})
    assert _events(await _run(stream)) == ["response.created", "response.failed"]


async def test_no_second_terminal_event() -> None:
    text = await _run(EventStream(_failing(["response.created", "response.completed"])))
    assert _events(text) == ["response.created", "response.completed"]
