"""A small Server-Sent Events reader for streamed model responses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

__all__ = ["ServerSentEvent", "iter_sse"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One event: its ``event`` name (``None`` when the server gave none) and ``data``."""

    event: str | None
    data: str


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """Group ``lines`` (without line endings) into events, per the SSE spec.

    ``data:`` lines of one event are joined with newlines; comment lines
    (``:``) and ``id:``/``retry:`` fields are ignored; a blank line ends an
    event. A final event without a trailing blank line is still yielded.
    """
    event: str | None = None
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield ServerSentEvent(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield ServerSentEvent(event, "\n".join(data))
