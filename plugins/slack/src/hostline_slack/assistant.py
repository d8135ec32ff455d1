"""Assistant threads, Slack's AI app surface.

``assistant_thread_started`` is remembered (so messages in that thread are
known to be an assistant conversation) and answered with the configured
suggested prompts; while the target runs the thread shows
``thinking_status``, and its first message becomes the thread's title.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from .api import SlackError
from .delivery import Where
from .events import d, s, slack_id

if TYPE_CHECKING:
    from .channel import SlackChannel

__all__ = ["NS", "clear", "thinking", "thread_started"]

#: Assistant threads by ``<instance>:<team>:<channel>:<thread_ts>``.
NS = "slack-assistant"


async def thread_started(ch: SlackChannel, team: str, event: dict[str, Any]) -> None:
    """``assistant_thread_started``: remember the thread, offer the suggested prompts."""
    thread = d(event.get("assistant_thread"))
    channel, ts = slack_id(thread.get("channel_id")), slack_id(thread.get("thread_ts"))
    if not channel or not ts:
        return
    await ch.host.store.kv_put(NS, f"{ch.name}:{team}:{channel}:{ts}",
                               {"user": s(thread.get("user_id")),
                                "context": d(thread.get("context"))},
                               ttl=ch.config.dedupe_ttl * 15)
    prompts = ch.config.suggested_prompts
    if prompts:
        with contextlib.suppress(SlackError):
            await ch.call(team, "assistant.threads.setSuggestedPrompts", {
                "channel_id": channel, "thread_ts": ts, "title": ch.config.prompts_title,
                "prompts": [{"title": p[:75], "message": p} for p in prompts]})


async def thinking(ch: SlackChannel, where: Where, text: str, *, first: bool) -> None:
    """Show "is thinking..." and, on a thread's first message, title it."""
    cfg = ch.config
    with contextlib.suppress(SlackError):
        await ch.call(where.team, "assistant.threads.setStatus", {
            "channel_id": where.channel, "thread_ts": where.thread_ts,
            "status": cfg.thinking_status})
    if first and cfg.set_thread_title and text:
        title = " ".join(text.split())[:60]
        with contextlib.suppress(SlackError):
            await ch.call(where.team, "assistant.threads.setTitle", {
                "channel_id": where.channel, "thread_ts": where.thread_ts, "title": title})


async def clear(ch: SlackChannel, where: Where) -> None:
    """Clear the thread's status (Slack clears it on a reply; not on a failure)."""
    with contextlib.suppress(SlackError):
        await ch.call(where.team, "assistant.threads.setStatus", {
            "channel_id": where.channel, "thread_ts": where.thread_ts, "status": ""})
