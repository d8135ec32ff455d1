"""Shared helpers for core tests."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

# Test plugins are named by import path in configs; server processes get this
# directory through PYTHONPATH.
HELPERS = Path(__file__).parent / "helpers"
sys.path.insert(0, str(HELPERS))


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
