"""Targets for the server-process tests (imported by ``hostline serve`` via PYTHONPATH)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import hostline

STREAM_WORDS = 30


def stream_text() -> str:
    """The exact text :func:`stream_target` produces."""
    return "".join(f"**w{i}** " if i % 7 == 0 else f"w{i} " for i in range(STREAM_WORDS)).strip()


async def stream_target(request: hostline.RunRequest) -> AsyncIterator[str]:
    """Streams :func:`stream_text` word by word."""
    words = stream_text().split(" ")
    for i, w in enumerate(words):
        await asyncio.sleep(0.03)
        yield w if i == 0 else " " + w


async def history_echo(request: hostline.RunRequest) -> str:
    """Echoes the input and how many earlier messages the session holds."""
    await asyncio.sleep(float(os.environ.get("TG_TEST_SLOW", "0")))
    return f"{request.text} [history={len(request.history)}]"
