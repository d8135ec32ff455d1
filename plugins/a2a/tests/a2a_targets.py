"""The target of the A2A tests (the server imports this module by path)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hostline import RunRequest


async def remembering(request: RunRequest) -> AsyncIterator[str]:
    """Streams ``(N before) <text>``; ``slow...`` takes about 20 s, ``fail`` raises."""
    if request.text == "fail":
        raise RuntimeError("the target failed on purpose")
    earlier = sum(1 for m in request.history if m.role == "user")
    if request.text.startswith("slow"):
        for n in range(100):
            await asyncio.sleep(0.2)
            yield f"{n} "
        return
    reply = f"({earlier} before) {request.text}"
    for start in range(0, len(reply), 5):
        await asyncio.sleep(0.01)
        yield reply[start:start + 5]
