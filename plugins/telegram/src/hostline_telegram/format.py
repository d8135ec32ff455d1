"""Telegram text formatting: an agent's Markdown to visible text and entities,
and splitting long replies into messages.

Markdown is parsed once by :mod:`hostline.markdown` (CommonMark + GFM) and
laid out as plain text with styled spans; here the spans become Telegram
entities under the Bot API's rules (:mod:`.entities`): headings are bold,
tables and code blocks ``pre`` (with their language), links ``text_link``
when their scheme is ``http``, ``https``, ``tg`` or ``mailto``; a style over
inline code is cut around it, code inside a link and quotes inside quotes
are left plain, since Telegram refuses those nestings.

Telegram measures a message after entity parsing, in UTF-16 code units, and
allows 4096 of them. A long reply is split on the *visible* text and every
part is rendered to HTML with its entities clipped: a part never carries a
broken tag, and each is valid on its own.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from itertools import accumulate

import attrs

from hostline import markdown

from .entities import Entity, FormattedText, link_allowed, utf16_len
from .html import HTMLParseError, escape_html, parse_html, to_html

__all__ = [
    "MAX_CAPTION",
    "MAX_MESSAGE",
    "Chunk",
    "Entity",
    "FormattedText",
    "HTMLParseError",
    "escape_html",
    "join_plain",
    "markdown_to_entities",
    "parse_html",
    "render",
    "split_ranges",
    "split_text",
    "to_html",
    "utf16_len",
]

#: Telegram's limit for a message text, in UTF-16 code units after entity parsing.
MAX_MESSAGE = 4096
#: Telegram's limit for a media caption.
MAX_CAPTION = 1024

_STYLE = {"bold": "bold", "heading": "bold", "italic": "italic",
          "strikethrough": "strikethrough"}
_BLOCK_CODE = {"pre", "table"}


@attrs.frozen
class Chunk:
    """One message's worth of a reply: ``plain`` is its visible text, ``html``
    the same with Telegram HTML markup (``None`` to send as plain text)."""

    plain: str
    html: str | None = None


# --------------------------------------------------------------------------- Markdown in
def markdown_to_entities(md: str) -> FormattedText:
    """The Markdown an agent writes as Telegram's visible text and entities.

    The visible text is :func:`hostline.markdown.to_plain` of the document:
    nothing is lost or doubled, and the entities always pass
    :func:`~hostline_telegram.entities.check_entities`.
    """
    styled = markdown.layout(markdown.parse(md))
    return FormattedText(styled.text, entities_from_spans(styled.spans))


def _outermost(spans: Iterable[markdown.Span]) -> list[markdown.Span]:
    """Spans not contained in an earlier one (spans nest or are disjoint)."""
    out: list[markdown.Span] = []
    reach = -1
    for s in sorted(spans, key=lambda s: (s.start, -s.end, s.depth)):
        if s.end > reach or s.start >= reach:
            out.append(s)
            reach = s.end
    return out


def _subtract(start: int, end: int, holes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``[start, end)`` minus the sorted, disjoint ``holes``."""
    out = []
    k = bisect.bisect_left(holes, (start, start))
    if k and holes[k - 1][1] > start:
        k -= 1
    pos = start
    while k < len(holes) and holes[k][0] < end:
        a, b = holes[k]
        if a > pos:
            out.append((pos, a))
        pos = max(pos, b)
        k += 1
    if pos < end:
        out.append((pos, end))
    return out


def entities_from_spans(spans: Sequence[markdown.Span]) -> tuple[Entity, ...]:
    """Telegram entities for a layout's spans, under the Bot API's nesting rules."""
    links = _outermost(s for s in spans if s.kind == "link" and link_allowed(s.data))
    link_starts = [s.start for s in links]

    def in_link(s: markdown.Span) -> bool:
        k = bisect.bisect_right(link_starts, s.start) - 1
        return k >= 0 and links[k].end >= s.end

    code = _outermost(s for s in spans if s.kind in _BLOCK_CODE
                      or (s.kind == "code" and not in_link(s)))
    holes = [(s.start, s.end) for s in code]
    out = [Entity("text_link", s.start, s.end, s.data, s.depth) for s in links]
    out.extend(Entity("pre" if s.kind in _BLOCK_CODE else "code", s.start, s.end,
                      s.data if s.kind == "pre" else None, s.depth) for s in code)
    out.extend(Entity("blockquote", s.start, s.end, None, s.depth)
               for s in _outermost(s for s in spans if s.kind == "quote"))
    for kind in ("bold", "italic", "strikethrough"):
        for s in _outermost(s for s in spans if _STYLE.get(s.kind) == kind):
            out.extend(Entity(kind, a, b, None, s.depth) for a, b in _subtract(s.start, s.end,
                                                                               holes))
    return tuple(sorted(out, key=lambda e: (e.start, -e.end, e.depth)))


# --------------------------------------------------------------------------- splitting
def _utf16_prefix(text: str) -> list[int]:
    return [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]


def split_ranges(text: str, entities: Sequence[Entity] = (),
                 limit: int = MAX_MESSAGE) -> list[tuple[int, int]]:
    """Split points of ``text``: ``(start, end)`` ranges covering it in order,
    each at most ``limit`` UTF-16 code units.

    A cut goes after a paragraph break if one fits, else after a line break,
    else after a space; cuts outside every entity are preferred to cuts
    inside one. Only a single "word" longer than the limit is cut hard, and
    never inside a surrogate pair (Python strings hold whole code points) or
    a combining sequence when avoidable (:func:`hostline.markdown.split_ranges`).
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 UTF-16 code units")
    prefix = _utf16_prefix(text)
    return markdown.split_ranges(text, ((e.start, e.end) for e in entities), limit,
                                 lambda a, b: prefix[b] - prefix[a])


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split plain text into parts of at most ``limit`` UTF-16 code units
    (``"".join(parts) == text``)."""
    return [text[a:b] for a, b in split_ranges(text, (), limit)]


def render(text: str, parse_mode: str = "markdown", limit: int = MAX_MESSAGE) -> list[Chunk]:
    """Turn an agent's reply into message chunks.

    ``parse_mode`` is ``"markdown"`` (convert to Telegram HTML), ``"html"``
    (already Telegram HTML; re-rendered when it parses, else sent as is so
    Telegram's answer decides) or ``"plain"``.
    """
    if parse_mode == "plain":
        return [Chunk(p) for p in split_text(text, limit)]
    if parse_mode == "html":
        try:
            ft = parse_html(text)
        except HTMLParseError:
            return [Chunk(p, p) for p in split_text(text, limit)]
    else:
        ft = markdown_to_entities(text)
    chunks = []
    for a, b in split_ranges(ft.text, ft.entities, limit):
        part = ft.clip(a, b)
        chunks.append(Chunk(part.text, to_html(part) if part.entities else escape_html(part.text)))
    return chunks


def join_plain(chunks: Iterable[Chunk]) -> str:
    """The visible text of ``chunks`` joined back together."""
    return "".join(c.plain for c in chunks)
