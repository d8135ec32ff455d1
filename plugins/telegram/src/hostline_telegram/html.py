"""Telegram HTML: rendering entities as the Bot API's HTML, and parsing it back
the way the Bot API does (with its error messages), for ``parse_mode = "html"``
replies and for the fake's checks."""

from __future__ import annotations

import re

import attrs

from .entities import Entity, FormattedText

__all__ = ["HTMLParseError", "escape_html", "parse_html", "to_html"]


class HTMLParseError(ValueError):
    """Telegram HTML that Telegram would refuse; the message mirrors Telegram's."""


def escape_html(text: str, *, quote: bool = False) -> str:
    """Escape ``&``, ``<``, ``>`` (and ``"`` when ``quote``) for Telegram HTML."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


# --------------------------------------------------------------------------- HTML out
_OPEN = {"bold": "<b>", "italic": "<i>", "underline": "<u>", "strikethrough": "<s>",
         "spoiler": "<tg-spoiler>", "code": "<code>", "blockquote": "<blockquote>",
         "expandable_blockquote": "<blockquote expandable>"}
_CLOSE = {"bold": "</b>", "italic": "</i>", "underline": "</u>", "strikethrough": "</s>",
          "spoiler": "</tg-spoiler>", "code": "</code>", "blockquote": "</blockquote>",
          "expandable_blockquote": "</blockquote>", "text_link": "</a>",
          "custom_emoji": "</tg-emoji>", "date_time": "</tg-time>"}


def _open_tag(e: Entity) -> str:
    if e.type == "pre":
        if e.extra:
            return f'<pre><code class="language-{escape_html(e.extra, quote=True)}">'
        return "<pre>"
    if e.type == "text_link":
        return f'<a href="{escape_html(e.extra or "", quote=True)}">'
    if e.type == "custom_emoji":
        return f'<tg-emoji emoji-id="{escape_html(e.extra or "", quote=True)}">'
    if e.type == "date_time":
        return f"<tg-time {e.extra or ''}>"
    return _OPEN[e.type]


def _close_tag(e: Entity) -> str:
    if e.type == "pre":
        return "</code></pre>" if e.extra else "</pre>"
    return _CLOSE[e.type]


def to_html(ft: FormattedText) -> str:
    """Render text and entities as Telegram HTML.

    Entities that overlap without nesting are closed and reopened, so the
    output is always well formed.
    """
    ents = sorted((e for e in ft.entities if e.end > e.start),
                  key=lambda e: (e.start, -e.end, e.depth))
    if not ents:
        return escape_html(ft.text)
    points = sorted({p for e in ents for p in (e.start, e.end)})
    out: list[str] = []
    stack: list[Entity] = []
    pos = 0
    nxt = 0
    for p in points:
        out.append(escape_html(ft.text[pos:p]))
        pos = p
        if any(e.end == p for e in stack):
            # Pop down to the deepest entity ending here; reopen the survivors.
            depth = min(i for i, e in enumerate(stack) if e.end == p)
            popped = stack[depth:]
            del stack[depth:]
            out.extend(_close_tag(e) for e in reversed(popped))
            for e in popped:
                if e.end != p:
                    out.append(_open_tag(e))
                    stack.append(e)
        while nxt < len(ents) and ents[nxt].start == p:
            out.append(_open_tag(ents[nxt]))
            stack.append(ents[nxt])
            nxt += 1
    out.append(escape_html(ft.text[pos:]))
    out.extend(_close_tag(e) for e in reversed(stack))
    return "".join(out)


# --------------------------------------------------------------------------- HTML in
_ENTITY_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|lt|gt|amp|quot);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
         "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
         "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link",
         "code": "code", "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji",
         "tg-time": "date_time"}
_ATTR_RE = re.compile(r"""\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")


def _unescape(value: str) -> str:
    def sub(m: re.Match[str]) -> str:
        body = m.group(1)
        if body.startswith(("#x", "#X")):
            code = int(body[2:], 16)
        elif body.startswith("#"):
            code = int(body[1:])
        else:
            return _NAMED[body]
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"

    return _ENTITY_RE.sub(sub, value)


def parse_html(html: str) -> FormattedText:
    """Parse Telegram HTML into text and entities, the way the Bot API does.

    Raises :class:`HTMLParseError` with Telegram's wording for an unsupported
    tag, a missing or unexpected end tag, or an unclosed tag. A ``&`` that
    does not start a known entity is kept as text, as Telegram does.
    """
    text: list[str] = []
    pos = 0
    stack: list[tuple[str, str, int, str | None]] = []  # (tag, type, start, extra)
    ents: list[Entity] = []
    i, n = 0, len(html)

    def offset(k: int) -> int:
        return len(html[:k].encode("utf-8", "surrogatepass"))

    while i < n:
        c = html[i]
        if c == "&":
            m = _ENTITY_RE.match(html, i)
            if m:
                ch = _unescape(m.group(0))
                text.append(ch)
                pos += len(ch)
                i = m.end()
                continue
            text.append("&")
            pos += 1
            i += 1
            continue
        if c != "<":
            j = i + 1
            while j < n and html[j] not in "<&":
                j += 1
            text.append(html[i:j])
            pos += j - i
            i = j
            continue
        start = i
        if html.startswith("</", i):
            close = html.find(">", i)
            if close < 0:
                raise HTMLParseError(f"Unclosed end tag at byte offset {offset(start)}")
            name = html[i + 2:close].strip().lower()
            if not stack:
                raise HTMLParseError(f"Unexpected end tag at byte offset {offset(start)}")
            tag, open_type, at, open_extra = stack.pop()
            if name != tag:
                raise HTMLParseError(f'Unmatched end tag at byte offset {offset(start)}, '
                                     f'expected "</{tag}>", found "</{name}>"')
            if at < pos:
                ents.append(Entity(open_type, at, pos, open_extra, len(stack)))
            i = close + 1
            continue
        j = i + 1
        while j < n and not html[j].isspace() and html[j] not in ">":
            j += 1
        name = html[i + 1:j].lower()
        if name.endswith("/"):
            name = name[:-1]
        if name not in _TAGS:
            raise HTMLParseError(f'Unsupported start tag "{html[i + 1:j]}" at byte offset '
                                 f"{offset(start)}")
        attrs_: dict[str, str] = {}
        k = j
        while True:
            while k < n and html[k].isspace():
                k += 1
            if k >= n:
                raise HTMLParseError(f"Unclosed start tag at byte offset {offset(start)}")
            if html[k] == ">":
                break
            if html.startswith("/>", k):
                raise HTMLParseError(f'Unsupported self-closing tag "{name}" at byte offset '
                                     f"{offset(start)}")
            m = _ATTR_RE.match(html, k)
            if not m or m.end() == k:
                raise HTMLParseError(f"Expected equal sign in declaration of an attribute of "
                                     f"the tag at byte offset {offset(k)}")
            value = m.group(2) or ""
            if value[:1] in ("'", '"'):
                value = value[1:-1]
            attrs_[m.group(1).lower()] = _unescape(value)
            k = m.end()
        etype = _TAGS[name]
        extra: str | None = None
        if name == "span":
            if attrs_.get("class") != "tg-spoiler":
                raise HTMLParseError('Tag "span" must have class "tg-spoiler" at byte offset '
                                     f"{offset(start)}")
        elif name == "a":
            extra = attrs_.get("href")
            if not extra:
                etype = "none"  # <a> without href is plain text in Telegram
        elif name == "code":
            cls = attrs_.get("class", "")
            extra = cls[len("language-"):] if cls.startswith("language-") else None
        elif name == "blockquote":
            if "expandable" in attrs_:
                etype = "expandable_blockquote"
        elif name == "tg-emoji":
            extra = attrs_.get("emoji-id")
            if not extra:
                raise HTMLParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte '
                                     f"offset {offset(start)}")
        elif name == "tg-time":
            extra = " ".join(f'{k_}="{escape_html(v, quote=True)}"' for k_, v in attrs_.items())
        stack.append((name, etype, pos, extra))
        i = k + 1
    if stack:
        raise HTMLParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return FormattedText("".join(text), _merge_pre_code(ents))


def _merge_pre_code(ents: list[Entity]) -> tuple[Entity, ...]:
    """``<pre><code class="language-x">`` is one pre entity with a language."""
    out = [e for e in ents if e.type != "none"]
    pres = {(e.start, e.end): e for e in out if e.type == "pre"}
    merged: list[Entity] = []
    for e in out:
        if e.type == "code" and (e.start, e.end) in pres:
            pre = pres[(e.start, e.end)]
            if e.extra and not pre.extra:
                pres[(e.start, e.end)] = attrs.evolve(pre, extra=e.extra)
            continue
        merged.append(e)
    return tuple(pres.get((e.start, e.end), e) if e.type == "pre" else e for e in merged)
