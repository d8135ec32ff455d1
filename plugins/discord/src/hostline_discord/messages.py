"""Gateway ``MESSAGE_CREATE`` events as plain values (untrusted input).

:func:`parse_message` keeps what hostline answers: a DM to the bot, or a
guild message that mentions it (the mention is stripped from the text).
Messages from bots, the bot itself included, are ignored.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = ["GatewayMessage", "parse_message"]


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and value.isascii() and value.isdigit() and \
        len(value) <= 20 else None


@attrs.frozen
class GatewayMessage:
    """A message the bot should answer."""

    id: str
    channel_id: str
    guild_id: str | None
    author: dict[str, Any]
    text: str

    @property
    def user_id(self) -> str:
        """The author's user id."""
        return str(self.author["id"])


def parse_message(data: dict[str, Any], bot_id: str | None) -> GatewayMessage | None:
    """The message in a ``MESSAGE_CREATE`` payload, if hostline should answer it."""
    author = data.get("author")
    mid, channel = _id(data.get("id")), _id(data.get("channel_id"))
    if not isinstance(author, dict) or mid is None or channel is None or \
            _id(author.get("id")) is None or author.get("bot") or author.get("id") == bot_id:
        return None
    content = data.get("content")
    text = content[:6000] if isinstance(content, str) else ""
    guild = _id(data.get("guild_id"))
    if guild is not None:
        mentions = data.get("mentions")
        mentioned = isinstance(mentions, list) and any(
            isinstance(m, dict) and m.get("id") == bot_id for m in mentions)
        if bot_id is None or not mentioned:
            return None
        text = re.sub(rf"<@!?{bot_id}>", "", text).strip()
    if not text.strip():
        return None
    keep = {k: author[k] for k in ("id", "username", "global_name")
            if isinstance(author.get(k), str)}
    return GatewayMessage(mid, channel, guild, keep, text)
