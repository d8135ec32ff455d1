"""A streamed reply shown in one chat as it grows: :class:`LiveReply`.

The target's deltas are only appended here; what reaches Telegram is driven
by timers, so reading the stream never waits on the Bot API:

* coalescing: the first message goes out once there is enough text
  (``FIRST_CHARS``) or ``first_delay`` after the first delta; a stream that
  ends before then is sent whole by the caller, one ``sendMessage``;
* then at most one edit per ``interval``, from a timer, with the text as it
  is at that moment (deltas in between cost nothing);
* ``on_visible`` is called once a message is visible (the caller stops the
  typing indicator there).

Streaming sends and edits are best effort: the caller's final delivery
makes the messages exact, durably.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from .api import TelegramError
from .format import render

log = logging.getLogger("hostline.telegram")

__all__ = ["FIRST_CHARS", "LiveReply"]

#: Text that is worth showing at once, without waiting for ``first_delay``.
FIRST_CHARS = 160

Send = Callable[[Any, dict[str, Any]], Awaitable[int | None]]


class LiveReply:
    """One reply being streamed into a chat (see the module docstring)."""

    def __init__(self, send: Send, where: Any, parse_mode: str, *, first_delay: float,
                 interval: float, on_visible: Callable[[], Awaitable[None]] | None = None,
                 channel: str = "") -> None:
        self._send = send
        self.where = where
        self.parse_mode = parse_mode
        self.first_delay = first_delay
        self.interval = interval
        self._on_visible = on_visible
        self._channel = channel
        self.text = ""
        #: Ids of the messages shown so far, and the payload each one shows.
        self.ids: list[int] = []
        self.shown: list[str] = []
        #: When the last send or edit went out (``-inf``: none yet).
        self.last_edit = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._dirty = False
        self._closed = False

    def feed(self, delta: str) -> None:
        """Append ``delta``; a timer shows it when its turn comes."""
        self.text += delta
        if self._closed:
            return
        if self._flushing is not None:
            self._dirty = True  # the flush in flight schedules the next one
            return
        if not self.ids and len(self.text) >= FIRST_CHARS:
            self._cancel_timer()
            self._flush_now()
        elif self._timer is None:
            if self.ids or self.last_edit > -math.inf:
                # The next edit, or another try of a first send that failed.
                delay = self.last_edit + self.interval - time.monotonic()
            else:
                delay = self.first_delay
            self._timer = asyncio.get_running_loop().call_later(max(0.0, delay),
                                                                self._flush_now)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush_now(self) -> None:
        self._timer = None
        self._dirty = False
        self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        visible = bool(self.ids)
        try:
            await self._show()
        except Exception:  # streaming is best effort
            log.debug("telegram channel %r: streaming update failed", self._channel,
                      exc_info=True)
        finally:
            self._flushing = None
        if not visible and self.ids and self._on_visible is not None:
            await self._on_visible()
        if self._dirty and not self._closed:
            self._dirty = False
            self.feed("")

    async def close(self) -> None:
        """Stop updating; wait for an update in flight (cancelled with the caller)."""
        self._closed = True
        self._cancel_timer()
        if self._flushing is not None:
            await self._flushing  # a cancelled caller cancels it too

    async def _show(self) -> None:
        """Bring the shown messages up to date with the text (one call at most)."""
        chunks = [c for c in render(self.text, self.parse_mode) if c.plain.strip()]
        for i, chunk in enumerate(chunks):
            payload = chunk.html if chunk.html is not None else chunk.plain
            item = {"t": "text", "plain": chunk.plain, "html": chunk.html}
            if i < len(self.ids):
                if self.shown[i] == payload:
                    continue
                self.last_edit = time.monotonic()
                try:
                    await self._send(self.where, {**item, "edit": self.ids[i]})
                    self.shown[i] = payload
                except TelegramError as exc:
                    log.debug("telegram channel %r: streaming edit failed: %s",
                              self._channel, exc)
                return
            # A send opens the interval too: no edit right on its heels, and a
            # failing send is not retried on every delta.
            self.last_edit = time.monotonic()
            try:
                mid = await self._send(self.where, item)
            except TelegramError as exc:
                log.debug("telegram channel %r: streaming send failed: %s", self._channel, exc)
                return
            if mid is None:
                return
            self.ids.append(mid)
            self.shown.append(payload)
            self.where = attrs.evolve(self.where, reply_to=None)
            return
