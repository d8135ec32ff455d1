"""Streaming an answer into a thread: native streams, else post-and-update.

Native: ``chat.startStream`` opens a message with the first text,
``chat.appendStream`` adds what arrived since the last call and
``chat.stopStream`` closes it with the rest (and the feedback buttons).
Without native streaming (the workspace or token lacks it, or there is no
thread) the answer is posted once and edited with ``chat.update``.

Both coalesce: nothing is shown until the target has produced
``stream_min_chars`` or ``stream_first_delay`` has passed (an answer faster
than that is one ``chat.postMessage``); after that at most one call per
``stream_interval``, made when a delta arrives, so the loop never sleeps and
a slow model holds nothing but its own turn. The final call carries
whatever is left, so a streamed answer costs start + one append per
interval + stop.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import TYPE_CHECKING, Any

import hostline

from .api import SlackError
from .delivery import ANSWERS_NS, Where, feedback_blocks
from .format import render

if TYPE_CHECKING:
    from .channel import SlackChannel

log = logging.getLogger("hostline.slack")

__all__ = ["stream_answer"]

#: Characters of one streamed message before it is closed and a new one opened.
STREAM_MAX = 11_000


class _Native:
    """One native stream per message; a new message past :data:`STREAM_MAX`."""

    def __init__(self, ch: SlackChannel, where: Where) -> None:
        self.ch = ch
        self.where = where
        self.ts: str | None = None
        self.size = 0
        self.shown = ""

    async def start(self, text: str) -> None:
        w = self.where
        answer = await self.ch.call(w.team, "chat.startStream", {
            "channel": w.channel, "thread_ts": w.thread_ts, "markdown_text": text,
            "recipient_team_id": w.team, "recipient_user_id": w.user}, channel=w.channel)
        self.ts = str(answer.get("ts"))
        self.size = len(text)
        self.shown += text

    async def append(self, text: str) -> None:
        if self.ts is None:
            await self.start(text)
            return
        if self.size + len(text) > STREAM_MAX:
            await self.stop(None, None)
            await self.start(text)
            return
        await self.ch.call(self.where.team, "chat.appendStream",
                           {"channel": self.where.channel, "ts": self.ts,
                            "markdown_text": text}, channel=self.where.channel)
        self.size += len(text)
        self.shown += text

    async def stop(self, text: str | None, blocks: list[dict[str, Any]] | None) -> None:
        if text and self.size + len(text) > STREAM_MAX:
            await self.stop(None, None)
            await self.start(text)
            text = None
        assert self.ts is not None
        await self.ch.call(self.where.team, "chat.stopStream",
                           {"channel": self.where.channel, "ts": self.ts,
                            "markdown_text": text or None, "blocks": blocks},
                           channel=self.where.channel)
        self.shown += text or ""


async def stream_answer(ch: SlackChannel, turn: hostline.Turn, where: Where, key: str) -> None:
    """Stream ``turn`` into ``where``; the final answer after response hooks goes last."""
    cfg = ch.config
    native = cfg.native_streaming and where.thread_ts is not None and \
        where.team not in ch.no_native
    stream = _Native(ch, where)
    posted: list[str] = []  # post-and-update: ts of the message being edited
    shown_post = ""
    pending = ""
    text = ""
    started = time.monotonic()
    last = -math.inf
    broken = False  # a call failed: stop showing, deliver the final answer durably
    failed = False
    try:
        async for update in turn.stream():
            if not update.delta:
                continue
            text += update.delta
            pending += update.delta
            now = time.monotonic()
            if broken:
                continue
            opened = bool(stream.ts or posted)
            if not opened and len(text) < cfg.stream_min_chars and \
                    now - started < cfg.stream_first_delay:
                continue
            if opened and now - last < cfg.stream_interval:
                continue
            last = now
            try:
                if native:
                    try:
                        await stream.append(pending)
                        pending = ""
                        continue
                    except SlackError as exc:
                        if stream.ts is not None or not exc.no_streaming:
                            raise
                        ch.no_native.add(where.team)
                        native = False
                        log.info("slack channel %r: native streaming unavailable in %s (%s); "
                                 "posting and updating", ch.name, where.team, exc.error)
                first = render(text, limit=cfg.max_message_chars)[0] if text.strip() else ""
                if first and first != shown_post:
                    if posted:
                        await ch.call(where.team, "chat.update",
                                      {"channel": where.channel, "ts": posted[0], "text": first},
                                      channel=where.channel)
                    else:
                        answer = await ch.call(where.team, "chat.postMessage", {
                            "channel": where.channel, "thread_ts": where.thread_ts,
                            "text": first, "unfurl_links": False}, channel=where.channel)
                        posted.append(str(answer.get("ts")))
                    shown_post = first
            except SlackError as exc:
                log.info("slack channel %r: streaming to %s paused: %s", ch.name,
                         where.channel, exc)
                broken = True
    except Exception:
        log.exception("slack channel %r: target failed while streaming", ch.name)
        failed = True
    await _finish(ch, turn, where, key, stream, posted, pending, failed=failed)


async def _finish(ch: SlackChannel, turn: hostline.Turn, where: Where, key: str, stream: _Native,
                  posted: list[str], pending: str, *, failed: bool) -> None:
    poster = ch.poster
    reply = turn.reply
    if failed:
        final = ch.config.error_reply
        items = poster.plain_items(final) if final else []
    else:
        final = reply.text if reply is not None else ""
        items = poster.result_items(reply, run_id=turn.run_id, scope=turn.request.session.key) \
            if reply is not None else []
    if stream.ts is not None:
        feedback = ch.config.feedback_buttons and not failed and bool(final)
        exact = not failed and final == stream.shown + pending
        rest = pending if exact else ""
        try:
            await stream.stop(rest, _feedback_only() if feedback else None)
        except SlackError as exc:
            log.info("slack channel %r: chat.stopStream failed: %s", ch.name, exc)
            exact = False
        if exact:
            if feedback:
                await ch.host.store.kv_put(
                    ANSWERS_NS, f"{ch.name}:{where.channel}:{stream.ts}",
                    {"answer": final[:4000], "run_id": turn.run_id,
                     "scope": turn.request.session.key, "team": where.team},
                    ttl=30 * 24 * 3600.0)
            files = [i for i in items if i["t"] == "file"]
            await poster.deliver(where, files, key=key, in_task=False)
            return
        # The answer changed after the hooks (or failed): say it again, exactly.
        if reply is None and not failed:
            with contextlib.suppress(SlackError):
                await ch.call(where.team, "chat.delete",
                              {"channel": where.channel, "ts": stream.ts}, channel=where.channel)
        await poster.deliver(where, items, key=key, in_task=False)
        return
    if posted and items and items[0]["t"] == "text":
        items[0]["edit"] = posted[0]
    elif posted and not items:
        with contextlib.suppress(SlackError):
            await ch.call(where.team, "chat.delete", {"channel": where.channel,
                                                      "ts": posted[0]}, channel=where.channel)
    await poster.deliver(where, items, key=key, in_task=False)


def _feedback_only() -> list[dict[str, Any]]:
    """The feedback buttons alone, added under a streamed message when it stops."""
    return feedback_blocks(" ")[1:]
