"""Proactive pacing of Bot API sends, so Telegram rarely has to answer 429.

Telegram asks bots to send at most about one message per second to one chat
(short bursts are tolerated), twenty a minute to one group, and about thirty
a second in all. :class:`SendPacer` spaces sends and edits to stay inside
those limits: a caller asks for a slot and sleeps until it comes (a
coroutine waiting, nothing else held).

Each limit is a GCRA (the "virtual scheduling" form of a token bucket): per
key only the time at which the next send would be on schedule is kept, and a
key whose time has passed is forgotten, so nothing is kept per idle chat:
when the map grows, and from a timer once sends stop (a burst's entries
would otherwise stay until the next burst, and keep the memory they sit in
from being returned).
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["SendPacer"]


class _Schedule:
    """One GCRA: sends ``interval`` apart on average, ``burst`` at once."""

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.tolerance = interval * max(0, burst - 1)
        self._due: dict[str, float] = {}
        self._sweep_at = 256

    def reserve(self, key: str, now: float) -> float:
        """Take the next slot for ``key``; returns the seconds to wait for it."""
        due = max(self._due.get(key, now), now)
        wait = max(0.0, due - self.tolerance - now)
        self._due[key] = due + self.interval
        if len(self._due) >= self._sweep_at:
            self._forget(now)
        return wait

    def forget(self, now: float) -> float | None:
        """Drop the keys idle at ``now``; when the others are idle, or None."""
        self._forget(now)
        if not self._due:
            return None
        return max(self._due.values())

    def _forget(self, now: float) -> None:
        for key in [k for k, due in self._due.items() if due <= now]:
            del self._due[key]
        if not self._due:
            self._due = {}  # a dict keeps its table when emptied: let a burst's go
        # Sweep again when the map has doubled: amortised O(1) per send.
        self._sweep_at = max(256, 2 * len(self._due))

    def __len__(self) -> int:
        return len(self._due)


class SendPacer:
    """Paces sends per chat and bot-wide. A rate of 0 switches that limit off.

    ``chat_rate`` and ``chat_burst`` apply to private chats, ``group_rate``
    (per second) to groups, ``bot_rate`` and ``bot_burst`` to everything.
    """

    def __init__(self, *, chat_rate: float = 1.0, chat_burst: int = 3,
                 group_rate: float = 20 / 60, bot_rate: float = 30.0,
                 bot_burst: int = 30) -> None:
        self._chat = _Schedule(1 / chat_rate, chat_burst) if chat_rate > 0 else None
        self._group = _Schedule(1 / group_rate, chat_burst) if group_rate > 0 else None
        self._bot = _Schedule(1 / bot_rate, bot_burst) if bot_rate > 0 else None
        self._per_chat = [s for s in (self._chat, self._group) if s is not None]
        self._sweep: asyncio.TimerHandle | None = None

    def reserve(self, chat: str, *, group: bool) -> float:
        """Take a send slot in ``chat``; the seconds until it may be used."""
        now = time.monotonic()
        schedule = self._group if group else self._chat
        wait = schedule.reserve(chat, now) if schedule is not None else 0.0
        if self._bot is not None:
            wait = max(wait, self._bot.reserve("", now + wait) + wait)
        return wait

    async def wait(self, chat: str, *, group: bool) -> None:
        """Sleep until this send is on schedule."""
        wait = self.reserve(chat, group=group)
        if self._sweep is None and self._per_chat:
            self._sweep_later(asyncio.get_running_loop(), time.monotonic() + wait + 1.0)
        if wait > 0:
            await asyncio.sleep(wait)

    def _sweep_later(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        # One timer for the whole pacer, not one per chat.
        self._sweep = loop.call_later(max(0.0, at - time.monotonic()), self._sweep_idle, loop)

    def _sweep_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        idle_at = [at for s in self._per_chat if (at := s.forget(now)) is not None]
        self._sweep = None
        if idle_at:
            self._sweep_later(loop, max(idle_at))

    def close(self) -> None:
        """Cancel the sweep timer (the channel is stopping)."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    @property
    def tracked(self) -> int:
        """Chats with a send scheduled in the future (idle ones are forgotten)."""
        return sum(len(s) for s in self._per_chat)
