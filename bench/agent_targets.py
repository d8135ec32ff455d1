"""Targets of the agent scenarios (``bench/agents.py``), imported by ``hostline serve``.

``plain`` returns a reply at once; ``instant_stream`` yields the same reply
in four deltas without waiting: what it costs beyond ``plain`` is the price
of streaming itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import hostline

REPLY = "here is a short answer of a few words, as a model would stream it to you."
DELTAS = 4


def reply_for(text: str) -> str:
    """The reply both targets give to ``text``."""
    return f"{text}: {REPLY}"


async def plain(request: hostline.RunRequest) -> str:
    """The whole reply, returned."""
    return reply_for(request.text)


async def instant_stream(request: hostline.RunRequest) -> AsyncIterator[str]:
    """The same reply in four deltas, none waited for."""
    text = reply_for(request.text)
    step = -(-len(text) // DELTAS)
    for i in range(0, len(text), step):
        yield text[i:i + step]
