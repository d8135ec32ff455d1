"""Targets for the Invocations tests (the server imports this module by path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hostline import RunRequest


async def chatty(request: RunRequest) -> AsyncIterator[str]:
    """Streams ``turn N: <text>`` word by word; N counts this session's turns."""
    if request.text == "fail":
        raise RuntimeError("the target failed on purpose")
    turn = sum(1 for m in request.history if m.role == "user") + 1
    for word in f"turn {turn}: {request.text}".split(" "):
        await asyncio.sleep(0.01)
        yield word + " "
