"""Shared helpers for core tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    """Poll ``check`` until true; fail after ``timeout`` seconds (a bound, not a timing assert)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        out = check()
        if not isinstance(out, bool):
            out = await out
        if out:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)
