"""Targets for the Discord tests (imported by ``hostline serve`` via PYTHONPATH)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import hostline

STREAM_WORDS = 30


def stream_text() -> str:
    """The exact text :func:`stream_target` produces."""
    return " ".join(f"w{i}" for i in range(STREAM_WORDS))


async def stream_target(request: hostline.RunRequest) -> AsyncIterator[str]:
    """Streams :func:`stream_text` word by word."""
    for i, w in enumerate(stream_text().split(" ")):
        await asyncio.sleep(0.03)
        yield w if i == 0 else " " + w


def long_text(n: int = 5000) -> str:
    """A Markdown answer of about ``n`` characters with a code block inside."""
    para = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6
    code = "```python\n" + "\n".join(f"value_{i} = {i} * 2" for i in range(40)) + "\n```"
    out = []
    while sum(len(p) + 2 for p in out) < n:
        out.append(para.strip())
        if len(out) % 4 == 2:
            out.append(code)
    return "\n\n".join(out)


async def long_target(request: hostline.RunRequest) -> str:
    """A 5,000-character answer."""
    return long_text()


async def history_echo(request: hostline.RunRequest) -> str:
    """Echoes the input and how many earlier messages the session holds."""
    await asyncio.sleep(float(os.environ.get("DC_TEST_SLOW", "0")))
    return f"{request.text} [history={len(request.history)}]"


async def by_input(request: hostline.RunRequest) -> AsyncIterator[str]:
    """Streams :func:`stream_text` for "stream", :func:`long_text` for "long",
    else echoes the input."""
    if request.text == "stream":
        async for delta in stream_target(request):
            yield delta
    elif request.text == "long":
        yield long_text()
    else:
        yield request.text
