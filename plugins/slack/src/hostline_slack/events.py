"""Reading Slack's payloads: Events API envelopes, slash commands, interactions.

Everything here is untrusted input (signed, but shaped by whoever sent it):
each accessor checks types and answers ``None`` or ``""`` rather than
raising, so a payload of the wrong shape is acknowledged and ignored, never
a 500.
"""

from __future__ import annotations

import html
import re
from typing import Any

from hostline import FilePart, ImagePart

__all__ = ["d", "files_of", "partition_of", "s", "skip_at_ack", "strip_mentions"]

#: Message subtypes that are a person writing (the rest are edits, joins, bots...).
PERSON_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
_ID = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,40}", re.IGNORECASE)


def d(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``{}``."""
    return value if isinstance(value, dict) else {}


def s(value: Any) -> str:
    """``value`` if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def slack_id(value: Any) -> str:
    """A Slack id (``T0123``, ``C0123``, ``1700000000.000100``) or ``""``."""
    text = s(value)
    return text if _ID.fullmatch(text) else ""


def skip_at_ack(event: dict[str, Any]) -> bool:
    """Events acknowledged but never run: edits, deletions, bots' messages."""
    if event.get("type") == "message":
        subtype = event.get("subtype")
        if subtype is not None and not isinstance(subtype, str):
            return True
        return subtype not in PERSON_SUBTYPES or bool(event.get("bot_id")) \
            or bool(event.get("bot_profile"))
    return False


def partition_of(name: str, team: str, event: dict[str, Any]) -> str:
    """The runner partition of an event: one conversation thread, in order."""
    channel = slack_id(event.get("channel"))
    if event.get("type") == "assistant_thread_started":
        thread = d(event.get("assistant_thread"))
        return f"{name}:{team}:{slack_id(thread.get('channel_id'))}:" \
               f"{slack_id(thread.get('thread_ts'))}"
    if not channel:
        return f"{name}:{team}"
    root = slack_id(event.get("thread_ts")) or slack_id(event.get("ts"))
    return f"{name}:{team}:{channel}:{root}"


def strip_mentions(text: str, bot_user: str | None) -> str:
    """The text without the bot's ``<@U...>`` mention; entities decoded."""
    if bot_user:
        text = re.sub(r"<@" + re.escape(bot_user) + r"(?:\|[^>]*)?>", "", text)
    return html.unescape(text).strip()


def files_of(team: str, event: dict[str, Any]) -> list[Any]:
    """The event's files as parts; ``file_id`` is ``TEAM:FILE`` for :meth:`download`."""
    parts: list[Any] = []
    files = event.get("files")
    for f in files if isinstance(files, list) else ():
        f = d(f)
        fid = slack_id(f.get("id"))
        if not fid:
            continue
        mime = s(f.get("mimetype")) or None
        name = s(f.get("name")) or None
        size = f.get("size") if isinstance(f.get("size"), int) else None
        if mime and mime.startswith("image/"):
            parts.append(ImagePart(file_id=f"{team}:{fid}", mime_type=mime, name=name))
        else:
            parts.append(FilePart(file_id=f"{team}:{fid}", mime_type=mime, name=name,
                                  size=size))
    return parts
