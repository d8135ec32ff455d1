"""Bot Framework activities: reading inbound ones, building outbound ones.

Activities are plain JSON objects with the Bot Framework schema's
camelCase keys; nothing here needs the botbuilder packages.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from hostline import FilePart, ImagePart, Message, Part, TextPart, decode_data_url

from .markdown import split_markdown

__all__ = [
    "ADAPTIVE_CARD",
    "BadActivity",
    "Inbound",
    "attachments_for",
    "card_attachment",
    "inbound_parts",
    "normalize_service_url",
    "outgoing",
    "split_text",
    "strip_mentions",
]

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
#: Teams rejects messages over ~28 KB; long answers are split below that.
MAX_TEXT = 20_000

_AT_TAG = re.compile(r"<at(?:\s[^>]*)?>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"[ \t\u00a0]{2,}")


def normalize_service_url(url: str) -> str:
    """``url`` with a lower-case scheme and host and exactly one trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("serviceUrl is not an http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError("serviceUrl must not have a query or fragment")
    path = parts.path.rstrip("/") + "/"
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


class BadActivity(ValueError):
    """The activity lacks a field the bot needs (answer 400)."""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@attrs.frozen
class Inbound:
    """The fields of an inbound activity the channel uses (``raw`` is the whole thing)."""

    raw: dict[str, Any]
    type: str
    id: str | None
    channel_id: str
    service_url: str
    conversation: dict[str, Any]
    conversation_id: str
    conversation_type: str
    is_group: bool
    tenant_id: str | None
    user: dict[str, Any]
    bot: dict[str, Any]
    text: str
    locale: str | None

    @classmethod
    def parse(cls, raw: Any) -> Inbound:
        """Read ``raw`` or raise :class:`BadActivity` naming the missing field."""
        if not isinstance(raw, dict):
            raise BadActivity("the activity must be a JSON object")
        kind = _str(raw.get("type"))
        if kind is None:
            raise BadActivity("the activity has no 'type'")
        service_url = _str(raw.get("serviceUrl"))
        channel_id = _str(raw.get("channelId"))
        if service_url is None or channel_id is None:
            raise BadActivity("the activity has no 'serviceUrl' or 'channelId'")
        try:
            normalize_service_url(service_url)
        except ValueError as exc:
            raise BadActivity(str(exc)) from None
        conversation = _obj(raw.get("conversation"))
        conversation_id = _str(conversation.get("id"))
        if conversation_id is None:
            raise BadActivity("the activity has no 'conversation.id'")
        conversation_type = _str(conversation.get("conversationType")) or ""
        is_group = conversation.get("isGroup") is True or conversation_type in (
            "groupChat", "channel")
        tenant = _str(conversation.get("tenantId")) or _str(
            _obj(_obj(raw.get("channelData")).get("tenant")).get("id"))
        text = raw.get("text")
        return cls(
            raw=raw, type=kind, id=_str(raw.get("id")), channel_id=channel_id,
            service_url=service_url, conversation=conversation,
            conversation_id=conversation_id, conversation_type=conversation_type,
            is_group=is_group, tenant_id=tenant, user=_obj(raw.get("from")),
            bot=_obj(raw.get("recipient")), text=text if isinstance(text, str) else "",
            locale=_str(raw.get("locale")))

    @property
    def user_id(self) -> str | None:
        """``from.id`` (the channel's id of the person)."""
        return _str(self.user.get("id"))

    @property
    def native_id(self) -> str | None:
        """The person's stable id: the Entra ID object id when Teams sends it."""
        return _str(self.user.get("aadObjectId")) or self.user_id

    @property
    def display_name(self) -> str | None:
        """``from.name``."""
        return _str(self.user.get("name"))

    @property
    def bot_id(self) -> str | None:
        """``recipient.id``: the bot's id in this channel (``28:<app id>`` on Teams)."""
        return _str(self.bot.get("id"))

    def reference(self) -> dict[str, Any]:
        """The Bot Framework ConversationReference of this activity."""
        conversation: dict[str, Any] = {"id": self.conversation_id}
        for key in ("conversationType", "isGroup", "name"):
            if key in self.conversation:
                conversation[key] = self.conversation[key]
        if self.tenant_id:
            conversation["tenantId"] = self.tenant_id
        ref: dict[str, Any] = {
            "serviceUrl": self.service_url,
            "channelId": self.channel_id,
            "conversation": conversation,
            "bot": _account(self.bot),
            "user": _account(self.user),
        }
        if self.id:
            ref["activityId"] = self.id
        if self.locale:
            ref["locale"] = self.locale
        return ref


def _account(account: Mapping[str, Any]) -> dict[str, Any]:
    return {k: account[k] for k in ("id", "name", "aadObjectId", "role")
            if isinstance(account.get(k), str)}


def _is_bot(account: Mapping[str, Any], bot_id: str | None, app_id: str) -> bool:
    account_id = _str(account.get("id"))
    if account_id is None:
        return False
    return account_id == bot_id or account_id == app_id or account_id == f"28:{app_id}"


def strip_mentions(text: str, entities: Any, *, bot_id: str | None, bot_name: str | None,
                   app_id: str) -> tuple[str, bool]:
    """Remove ``<at>`` mentions of the bot from ``text``; unwrap other people's.

    Returns the cleaned text and whether the bot was mentioned.
    """
    mentioned = False
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        if not _is_bot(_obj(entity.get("mentioned")), bot_id, app_id):
            continue
        mentioned = True
        tag = _str(entity.get("text"))
        if tag:
            text = text.replace(tag, " ")
    if bot_name:
        def drop(m: re.Match[str]) -> str:
            nonlocal mentioned
            if m.group(1).strip() == bot_name:
                mentioned = True
                return " "
            return m.group(0)

        text = _AT_TAG.sub(drop, text)
    text = _AT_TAG.sub(lambda m: m.group(1), text)
    text = _SPACES.sub(" ", text)
    return text.strip(), mentioned


def inbound_parts(raw: Mapping[str, Any]) -> list[Part]:
    """Attachments of a message as hostline parts (images, files)."""
    parts: list[Part] = []
    attachments = raw.get("attachments")
    for att in attachments if isinstance(attachments, list) else []:
        if not isinstance(att, dict):
            continue
        content_type = _str(att.get("contentType")) or ""
        name = _str(att.get("name"))
        if content_type == FILE_DOWNLOAD_INFO:
            content = _obj(att.get("content"))
            url = _str(content.get("downloadUrl"))
            if url:
                file_type = _str(content.get("fileType"))
                mime = mimetypes.guess_type(f"x.{file_type}")[0] if file_type else None
                parts.append(FilePart(url=url, name=name, mime_type=mime))
            continue
        url = _str(att.get("contentUrl"))
        if url is None:
            # text/html copies of the message, cards and the like carry no file.
            continue
        if content_type.startswith("image/") or content_type == "image":
            parts.append(ImagePart(url=url, name=name,
                                   mime_type=content_type if "/" in content_type else None))
        else:
            parts.append(FilePart(url=url, name=name, mime_type=content_type or None))
    return parts


def _data_url_json(url: str) -> Any:
    try:
        return json.loads(decode_data_url(url).data)
    except ValueError:
        return None


def card_attachment(part: Part) -> dict[str, Any] | None:
    """An Adaptive Card attachment showing ``part``, or ``None`` for text.

    A :class:`hostline.FilePart` whose ``mime_type`` is the Adaptive Card
    content type and whose ``url`` is a ``data:`` URL of the card JSON is sent
    as that card, so a target can return its own cards.
    """
    if isinstance(part, TextPart):
        return None
    if isinstance(part, FilePart) and part.mime_type == ADAPTIVE_CARD and part.url:
        own = _data_url_json(part.url)
        if isinstance(own, dict):
            return {"contentType": ADAPTIVE_CARD, "content": own}
    url = part.url
    if not url:
        return None  # a channel-native file id from another channel means nothing here
    body: list[dict[str, Any]]
    actions: list[dict[str, Any]] = []
    if isinstance(part, ImagePart):
        body = [{"type": "Image", "url": url, "altText": part.name or "image"}]
    else:
        body = [{"type": "TextBlock", "text": part.name or "file", "wrap": True}]
        if not url.startswith("data:"):
            actions = [{"type": "Action.OpenUrl", "title": "Open", "url": url}]
    card: dict[str, Any] = {"type": "AdaptiveCard",
                            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "version": "1.5", "body": body}
    if actions:
        card["actions"] = actions
    return {"contentType": ADAPTIVE_CARD, "content": card}


def attachments_for(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Adaptive Card attachments for the non-text parts of ``messages``."""
    out = []
    for message in messages:
        for part in message.content:
            card = card_attachment(part)
            if card is not None:
                out.append(card)
    return out


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """An agent's Markdown reply as Teams Markdown messages under ``limit``
    characters: never cut inside a code block, newlines kept, tables as
    monospace blocks (:func:`hostline_teams.markdown.split_markdown`)."""
    pieces = split_markdown(text, limit)
    return pieces or ([text[:limit]] if text else [])


def outgoing(reference: Mapping[str, Any], *, type: str = "message", text: str | None = None,
             attachments: list[dict[str, Any]] | None = None,
             entities: list[dict[str, Any]] | None = None,
             channel_data: dict[str, Any] | None = None,
             reply_to_id: str | None = None) -> dict[str, Any]:
    """An activity from the bot into the conversation of ``reference``."""
    activity: dict[str, Any] = {
        "type": type,
        "channelId": reference.get("channelId"),
        "serviceUrl": reference.get("serviceUrl"),
        "conversation": reference.get("conversation"),
    }
    if reference.get("bot"):
        activity["from"] = reference["bot"]
    if reference.get("user"):
        activity["recipient"] = reference["user"]
    if reference.get("locale"):
        activity["locale"] = reference["locale"]
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    if text is not None:
        activity["text"] = text
        if type == "message":
            activity["textFormat"] = "markdown"
    if attachments:
        activity["attachments"] = attachments
    if entities:
        activity["entities"] = entities
    if channel_data:
        activity["channelData"] = channel_data
    return activity
