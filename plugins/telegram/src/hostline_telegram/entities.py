"""Telegram message entities: the model, the Bot API's JSON form and its rules.

Telegram models a formatted message as visible text plus entities (bold,
links, code...) over ranges of it, counted in UTF-16 code units. Here an
:class:`Entity` counts code points into Python's string; :func:`to_bot_api`
and :func:`from_bot_api` convert. :func:`check_entities` enforces the Bot
API's documented rules, so the fake refuses what Telegram refuses and the
renderer can be tested against them:

- two entities that share characters are nested, one inside the other;
- bold, italic, underline, strikethrough and spoiler may contain and be
  part of any other entity except ``pre`` and ``code``;
- blockquotes are never nested in one another;
- all other entities (code, pre, links, custom emoji...) never contain one
  another;
- a ``text_link`` URL is ``http``, ``https``, ``tg`` or ``mailto``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Any
from urllib.parse import urlsplit

import attrs

from hostline.markdown import utf16_len

__all__ = [
    "ENTITY_TYPES",
    "LINK_SCHEMES",
    "Entity",
    "EntityError",
    "FormattedText",
    "check_entities",
    "from_bot_api",
    "link_allowed",
    "to_bot_api",
    "utf16_len",
]

#: Entity types a bot may send.
ENTITY_TYPES = frozenset({
    "bold", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "text_link",
    "blockquote", "expandable_blockquote", "custom_emoji", "date_time",
    # Telegram detects these itself; a bot may still send them.
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number",
    "text_mention",
})
#: Styles that nest with anything but ``pre`` and ``code``.
STYLES = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})
QUOTES = frozenset({"blockquote", "expandable_blockquote"})
CODE = frozenset({"pre", "code"})
#: URL schemes a ``text_link`` may use.
LINK_SCHEMES = frozenset({"http", "https", "tg", "mailto"})


@attrs.frozen
class Entity:
    """A formatting span over ``[start, end)`` of the visible text (code points).

    ``extra`` is the link URL (``text_link``), the language (``pre``), the
    custom emoji id or the date-time attributes; ``depth`` orders entities
    with the same range (outer first).
    """

    type: str
    start: int
    end: int
    extra: str | None = None
    depth: int = 0


@attrs.frozen
class FormattedText:
    """Visible text and its entities, as Telegram models a message."""

    text: str
    entities: tuple[Entity, ...] = ()

    def clip(self, start: int, end: int) -> FormattedText:
        """The part ``[start, end)`` with entities clipped to it."""
        ents = []
        for e in self.entities:
            a, b = max(e.start, start), min(e.end, end)
            if a < b:
                ents.append(attrs.evolve(e, start=a - start, end=b - start))
        return FormattedText(self.text[start:end], tuple(ents))


class EntityError(ValueError):
    """Entities Telegram would refuse; the message reads like Telegram's."""


def link_allowed(url: str | None) -> bool:
    """Whether ``url`` may be a ``text_link`` target: an allowed scheme, and a
    host for ``http``/``https``."""
    if not url or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in LINK_SCHEMES:
        return False
    return bool(parts.netloc) if scheme in ("http", "https") else len(url) > len(scheme) + 1


def _utf16_prefix(text: str) -> list[int]:
    return [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]


def to_bot_api(ft: FormattedText) -> list[dict[str, Any]]:
    """``ft``'s entities as Bot API ``MessageEntity`` objects (UTF-16 offsets)."""
    prefix = _utf16_prefix(ft.text)
    out = []
    for e in sorted(ft.entities, key=lambda e: (e.start, -e.end, e.depth)):
        d: dict[str, Any] = {"type": e.type, "offset": prefix[e.start],
                             "length": prefix[e.end] - prefix[e.start]}
        if e.type == "text_link":
            d["url"] = e.extra
        elif e.type == "pre" and e.extra:
            d["language"] = e.extra
        elif e.type == "custom_emoji":
            d["custom_emoji_id"] = e.extra
        out.append(d)
    return out


def from_bot_api(text: str, entities: Iterable[Any]) -> FormattedText:
    """Entities sent with a message (Bot API JSON) as a :class:`FormattedText`.

    Raises :class:`EntityError` for a malformed entity, an offset outside the
    text or inside a surrogate pair, and anything :func:`check_entities` refuses.
    """
    prefix = _utf16_prefix(text)
    index = {u: i for i, u in enumerate(prefix)}
    out = []
    for k, raw in enumerate(entities):
        if not isinstance(raw, Mapping):
            raise EntityError(f"can't parse entities: entity {k} is not an object")
        etype, offset, length = raw.get("type"), raw.get("offset"), raw.get("length")
        if etype not in ENTITY_TYPES:
            raise EntityError(f"can't parse entities: unsupported entity type {etype!r}")
        if not isinstance(offset, int) or not isinstance(length, int) or isinstance(
                offset, bool) or isinstance(length, bool) or offset < 0 or length <= 0:
            raise EntityError(f"can't parse entities: entity {k} has a bad offset or length")
        if offset + length > prefix[-1]:
            raise EntityError(f"can't parse entities: entity {k} ends beyond the text")
        if offset not in index or offset + length not in index:
            raise EntityError(f"can't parse entities: entity {k} splits a character")
        extra = None
        if etype == "text_link":
            extra = raw.get("url")
            if not isinstance(extra, str):
                raise EntityError(f"can't parse entities: text_link {k} has no url")
        elif etype == "pre":
            lang = raw.get("language")
            extra = lang if isinstance(lang, str) and lang else None
        elif etype == "custom_emoji":
            extra = raw.get("custom_emoji_id")
            if not isinstance(extra, str):
                raise EntityError(f"can't parse entities: custom_emoji {k} has no id")
        out.append(Entity(etype, index[offset], index[offset + length], extra))
    ft = FormattedText(text, tuple(out))
    check_entities(ft)
    return ft


def _may_contain(outer: str, inner: str) -> bool:
    if inner in STYLES:
        return outer not in CODE
    if outer in STYLES:
        return inner not in CODE
    return outer in QUOTES and inner not in QUOTES


def check_entities(ft: FormattedText) -> None:
    """Raise :class:`EntityError` unless ``ft``'s entities follow the Bot API's
    rules (see the module docstring)."""
    n = len(ft.text)
    for e in ft.entities:
        if not 0 <= e.start < e.end <= n:
            raise EntityError(f"can't parse entities: {e.type} entity is out of the text")
        if e.type == "text_link" and not link_allowed(e.extra):
            raise EntityError(f"can't parse entities: unsupported URL {e.extra!r}")
    ents = sorted(ft.entities, key=lambda e: (e.start, -e.end, e.depth))
    stack: list[Entity] = []
    for e in ents:
        while stack and stack[-1].end <= e.start:
            stack.pop()
        for outer in stack:
            if e.end > outer.end:
                raise EntityError(f"can't parse entities: {outer.type} at {outer.start} and "
                                  f"{e.type} at {e.start} overlap without nesting")
            same = (outer.start, outer.end) == (e.start, e.end)
            if not _may_contain(outer.type, e.type) and not (
                    same and _may_contain(e.type, outer.type)):
                raise EntityError(f"can't parse entities: {e.type} can't be inside "
                                  f"{outer.type}")
        stack.append(e)
