"""Sending answers: the interaction webhook first, the bot's own messages after.

An answer is a list of *items*, JSON-able so a durable reply task can
carry them: ``{"op": "original" | "followup" | "channel", "content": ...,
"components": [...]}``. ``original`` edits the deferred response
(``PATCH /webhooks/{app}/{token}/messages/@original``), ``followup`` adds a
message to it, ``channel`` is a bot message (``POST /channels/{id}/messages``).

Interaction tokens last 15 minutes. An item that would go out through a
token past its life (less a safety margin), or whose token Discord no longer
knows, goes to the channel as a bot message instead; an ephemeral answer goes
to the person's DM, never to the channel where others would read it.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from hostline import RunResult

from .api import DiscordAPI, DiscordError, DiscordPermanentError, DiscordRetryableError
from .format import escape_markdown, render_chunks, split_message
from .interactions import EPHEMERAL, TOKEN_LIFETIME
from .ratelimit import Route

__all__ = ["FEEDBACK_PREFIX", "NEW_BUTTON", "Where", "answer_items", "as_bot_messages",
           "dm_channel", "plain_items", "result_chunks", "send_item"]

#: custom_id of the "New conversation" button and prefix of the feedback buttons'.
NEW_BUTTON = "hostline:new"
FEEDBACK_PREFIX = "hostline:fb:"
#: Mentions in agent text never ping anyone.
NO_MENTIONS: dict[str, Any] = {"parse": []}
#: An unknown-webhook answer this soon after the interaction means Discord has
#: not processed our deferral yet (it arrives with the HTTP answer), not that
#: the token is dead.
ACK_GRACE = 10.0


@attrs.frozen
class Where:
    """Where an answer goes: an interaction's webhook and its channel."""

    channel_id: str | None
    user_id: str | None = None
    token: str | None = None
    created: float = 0.0
    ephemeral: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (for reply tasks)."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Where:
        """Inverse of :meth:`to_json`."""
        return cls(data.get("channel_id"), data.get("user_id"), data.get("token"),
                   float(data.get("created") or 0.0), bool(data.get("ephemeral")))

    def token_alive(self, margin: float) -> bool:
        """Whether the interaction token is still good for a call now."""
        return self.token is not None and time.time() < self.created + TOKEN_LIFETIME - margin


def _message_id(answer: Any) -> str | None:
    value = answer.get("id") if isinstance(answer, dict) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


async def dm_channel(api: DiscordAPI, user_id: str) -> str:
    """The DM channel with ``user_id`` (``POST /users/@me/channels``)."""
    answer = await api.request(Route("POST", "/users/@me/channels"), {"recipient_id": user_id})
    channel = _message_id(answer)
    if channel is None:
        raise DiscordRetryableError("POST /users/@me/channels", 200, "no channel id in the answer")
    return channel


async def send_item(api: DiscordAPI, app_id: str, where: Where, item: dict[str, Any], *,
                    margin: float, dm: Any) -> str | None:
    """Send one item; returns the message id. ``dm(user_id)`` resolves DM channels."""
    op = item.get("op", "channel")
    body: dict[str, Any] = {"content": item.get("content", ""), "allowed_mentions": NO_MENTIONS}
    if item.get("components") is not None:
        body["components"] = item["components"]
    if op != "channel" and where.token_alive(margin):
        assert where.token is not None
        try:
            if op == "original":
                answer = await api.request(Route(
                    "PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                    webhook_id=app_id, webhook_token=where.token), body)
            else:
                if where.ephemeral:
                    body["flags"] = EPHEMERAL
                answer = await api.request(Route(
                    "POST", "/webhooks/{webhook_id}/{webhook_token}", webhook_id=app_id,
                    webhook_token=where.token), body, query="wait=true")
            return _message_id(answer)
        except DiscordError as exc:
            if not exc.token_dead:
                raise
            if time.time() - where.created < ACK_GRACE:
                raise DiscordRetryableError(exc.route, exc.status, "interaction not "
                                            "acknowledged yet", retry_after=1.0) from None
        body.pop("flags", None)
    # The token is gone: a bot message, in the DM when the answer was private.
    if where.ephemeral or where.channel_id is None:
        if where.user_id is None:
            raise DiscordPermanentError("send", 0, "no channel and no user to send to")
        channel = await dm(where.user_id)
    else:
        channel = where.channel_id
    answer = await api.request(Route("POST", "/channels/{channel_id}/messages",
                                     channel_id=channel), body)
    return _message_id(answer)


def result_chunks(result: RunResult) -> list[str]:
    """A result's text as Discord messages (rendered Markdown, split)."""
    text = "\n\n".join(m.text for m in result.messages if m.text.strip())
    return render_chunks(text) if text.strip() else []


def plain_items(text: str) -> list[dict[str, Any]]:
    """Plain text (a command's reply) as items: the original, then follow-ups."""
    chunks = split_message(escape_markdown(text)) if text.strip() else ["…"]
    return [{"op": "original" if i == 0 else "followup", "content": c}
            for i, c in enumerate(chunks)]


def answer_items(chunks: list[str], run_id: str, *, new_button: bool,
                 feedback: bool) -> list[dict[str, Any]]:
    """An answer as items, its buttons under the last message."""
    items: list[dict[str, Any]] = [{"op": "original" if i == 0 else "followup",
                                    "content": c} for i, c in enumerate(chunks)]
    buttons: list[Any] = []
    if new_button:
        buttons.append({"type": 2, "style": 2, "label": "New conversation",
                        "custom_id": NEW_BUTTON})
    if feedback:
        buttons += [{"type": 2, "style": 2, "emoji": {"name": emoji},
                     "custom_id": f"{FEEDBACK_PREFIX}{rating}:{run_id}"[:100]}
                    for emoji, rating in (("👍", "up"), ("👎", "down"))]
    if buttons and items:
        items[-1]["components"] = [{"type": 1, "components": buttons}]
    return items


def as_bot_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same items sent as bot messages (Gateway answers have no webhook)."""
    return [{**item, "op": "channel"} for item in items]
