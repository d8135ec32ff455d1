"""One reply streamed with the Teams streaming protocol: :class:`TeamsStream`.

``typing`` activities with a ``streaminfo`` entity: an ``informative``
update opens the stream (``streamSequence`` 1), ``streaming`` updates carry
the whole text so far with increasing ``streamSequence``, and a ``message``
with ``streamType: final`` (no sequence) ends it. Every update after the
first carries ``streamId`` = the id the connector returned for the first.

What reaches Teams is driven by timers; the target's deltas are only
appended, so reading the stream never waits on the connector:

* the stream opens ``stream_first_delay`` after the run starts; a reply that
  is ready by then is one plain message, with no stream at all;
* then at most one update per ``stream_interval``, with the text as it is at
  that moment;
* the final message waits only for the rest of Teams' one-request-a-second
  slot after the last update.

Updates are best effort: if one fails, the stream stops updating and the
final message still goes out (as a plain message if the stream is gone).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING, Any

from hostline import DeliveryError

from .activities import Inbound, outgoing, split_text

if TYPE_CHECKING:
    from .channel import TeamsChannel

log = logging.getLogger("hostline.teams")

__all__ = ["TeamsStream"]

#: Teams accepts about one streaming request per second per conversation.
_SLOT = 1.0


class TeamsStream:
    """One reply being streamed into a personal chat (see the module docstring)."""

    def __init__(self, channel: TeamsChannel, inbound: Inbound) -> None:
        self.channel = channel
        self.inbound = inbound
        self.ref = inbound.reference()
        self.sequence = 0
        self.stream_id: str | None = None
        self.text = ""
        self.sent = ""
        self.alive = True
        self.last_sent = -math.inf
        self._opened = False
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._dirty = False
        self._closed = False

    @property
    def started(self) -> bool:
        """Whether the connector accepted the first update (we have a stream id)."""
        return self.stream_id is not None

    # driving ------------------------------------------------------------------------
    def start(self) -> None:
        """Open the stream once ``stream_first_delay`` has passed."""
        delay = self.channel.config.stream_first_delay
        self._timer = asyncio.get_running_loop().call_later(delay, self._flush_now, True)

    def feed(self, delta: str) -> None:
        """Append ``delta``; a timer sends it when its turn comes."""
        self.text += delta
        if self._closed or not self._opened or not self.alive:
            return
        if self._flushing is not None:
            self._dirty = True  # the update in flight schedules the next one
            return
        if self._timer is None and self.text != self.sent:
            delay = self.last_sent + self.channel.config.stream_interval - time.monotonic()
            self._timer = asyncio.get_running_loop().call_later(max(0.0, delay),
                                                                self._flush_now)

    def _flush_now(self, opening: bool = False) -> None:
        self._timer = None
        self._dirty = False
        self._opened = True
        self._flushing = asyncio.get_running_loop().create_task(self._flush(opening))

    async def _flush(self, opening: bool) -> None:
        try:
            informative = self.channel.config.stream_informative_text
            if opening and informative:
                await self._update(informative[:1000], "informative")
            elif self.text != self.sent:
                self.sent = self.text
                await self._update(self.text, "streaming")
        finally:
            self._flushing = None
        if not self._closed and (self._dirty or self.text != self.sent):
            self._dirty = False
            self.feed("")

    async def stop(self) -> None:
        """Stop updating; wait for an update in flight (cancelled with the caller)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await self._flushing  # a cancelled caller cancels it too

    # wire ---------------------------------------------------------------------------
    def _activity(self, kind: str, text: str, stream_type: str,
                  attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        info: dict[str, Any] = {"streamType": stream_type}
        if stream_type != "final":
            self.sequence += 1
            info["streamSequence"] = self.sequence
        if self.stream_id is not None:
            info["streamId"] = self.stream_id
        return outgoing(self.ref, type=kind, text=text, attachments=attachments,
                        entities=[{"type": "streaminfo", **info}], channel_data=dict(info),
                        reply_to_id=self.inbound.id)

    async def _update(self, text: str, stream_type: str) -> None:
        activity = self._activity("typing", text, stream_type)
        self.last_sent = time.monotonic()
        try:
            body = await self.channel._require_connector().send(
                self.inbound.service_url, self.inbound.conversation_id, activity,
                self.inbound.id)
        except DeliveryError as exc:
            log.info("teams %s: stopping a stream update: %s", self.channel.name, exc)
            self.alive = False
            return
        if self.stream_id is None:
            stream_id = body.get("id")
            if not isinstance(stream_id, str) or not stream_id:
                log.info("teams %s: the connector returned no stream id", self.channel.name)
                self.alive = False
                return
            self.stream_id = stream_id

    async def close_with(self, text: str, attachments: list[dict[str, Any]]) -> None:
        """End the stream with the final message (or send it plainly if that fails)."""
        if not text and not attachments:
            text = self.text or " "
        pieces = split_text(text) if text else [""]
        first, rest = pieces[0], pieces[1:]
        final = self._activity("message", first, "final",
                               attachments if not rest else None)
        if first:
            final["textFormat"] = "markdown"
        channel, inbound = self.channel, self.inbound
        wait = self.last_sent + min(_SLOT, channel.config.stream_interval) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await channel._require_connector().send(
                inbound.service_url, inbound.conversation_id, final, inbound.id)
        except DeliveryError as exc:
            # Stream gone (403 after the 2-minute limit...) or transient: a plain message.
            log.info("teams %s: final stream message failed (%s); sending it as a message",
                     channel.name, exc)
            await channel._deliver(inbound, outgoing(
                self.ref, text=first or None, attachments=attachments if not rest else None,
                reply_to_id=inbound.id))
        for i, piece in enumerate(rest):
            await channel._deliver(inbound, outgoing(
                self.ref, text=piece, attachments=attachments if i == len(rest) - 1 else None,
                reply_to_id=inbound.id))
