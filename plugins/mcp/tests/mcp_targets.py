"""The target of the MCP tests (the server imports this module by path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hostline import RunRequest


async def counting(request: RunRequest) -> AsyncIterator[str]:
    """Streams ``[N earlier] <text>`` in small pieces; N counts this session's earlier turns."""
    if request.text == "fail":
        raise RuntimeError("the target failed on purpose")
    earlier = sum(1 for m in request.history if m.role == "user")
    reply = f"[{earlier} earlier] {request.text}"
    for start in range(0, len(reply), 4):
        await asyncio.sleep(0.01)
        yield reply[start:start + 4]
