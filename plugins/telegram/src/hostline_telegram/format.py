"""Telegram text formatting: Markdown and Telegram HTML to entities, entities
to Telegram HTML, and splitting long texts into messages.

Telegram measures a message after entity parsing, in UTF-16 code units (a
character outside the Basic Multilingual Plane counts twice), and allows
4096 of them. Everything here works on a :class:`FormattedText` - the visible
text plus a list of entities, as Telegram itself models a message - so a
long reply is split on the *visible* text and every part is rendered back to
HTML with its entities clipped: a part never carries a broken tag.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Sequence
from itertools import accumulate

import attrs

__all__ = [
    "MAX_CAPTION",
    "MAX_MESSAGE",
    "Chunk",
    "Entity",
    "FormattedText",
    "HTMLParseError",
    "escape_html",
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

ENTITY_TYPES = frozenset({
    "bold", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "text_link",
    "blockquote", "expandable_blockquote", "custom_emoji", "date_time",
})


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


@attrs.frozen
class Chunk:
    """One message's worth of a reply: ``plain`` is its visible text, ``html``
    the same with Telegram HTML markup (``None`` to send as plain text)."""

    plain: str
    html: str | None = None


class HTMLParseError(ValueError):
    """Telegram HTML that Telegram would refuse; the message mirrors Telegram's."""


# --------------------------------------------------------------------------- utils
def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as Telegram counts."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _utf16_prefix(text: str) -> list[int]:
    return [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]


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


# --------------------------------------------------------------------------- Markdown in
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}> ?(.*)$")
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+(.*)$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_URL_OK = re.compile(r"^(?:https?://|tg://|mailto:|ftp://)\S+$", re.IGNORECASE)
_DELIMS = {"*": ("italic", "bold"), "_": ("italic", "bold"), "~": (None, "strikethrough"),
           "|": (None, "spoiler")}


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[Entity] = []

    def add(self, s: str) -> None:
        if s:
            self.parts.append(s)
            self.pos += len(s)

    def entity(self, etype: str, start: int, depth: int, extra: str | None = None) -> None:
        if self.pos > start:
            self.entities.append(Entity(etype, start, self.pos, extra, depth))


def _code_spans(s: str) -> dict[int, tuple[int, int]]:
    """Inline code spans of ``s``: opening index -> (content start, closing end)."""
    spans: dict[int, tuple[int, int]] = {}
    failed: dict[int, int] = {}
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in _ASCII_PUNCT:
            i += 2
            continue
        if c != "`":
            i += 1
            continue
        j = i
        while j < n and s[j] == "`":
            j += 1
        run = j - i
        k = j
        found = -1
        if failed.get(run, n + 1) <= j:
            i = j
            continue
        while True:
            k = s.find("`" * run, k)
            if k < 0:
                break
            e = k + run
            if (k == 0 or s[k - 1] != "`") and (e >= n or s[e] != "`"):
                found = k
                break
            while k < n and s[k] == "`":
                k += 1
        if found > j:
            spans[i] = (j, found + run)
            i = found + run
        else:
            if found < 0:  # no closing run of this length anywhere after j
                failed[run] = min(failed.get(run, n + 1), j)
            i = j
    return spans


class _Inline:
    """Inline Markdown for one block: emphasis, code, links, escapes."""

    def __init__(self, out: _Builder) -> None:
        self.out = out

    def parse(self, s: str, depth: int, disabled: frozenset[str]) -> None:
        out = self.out
        spans = _code_spans(s)
        protected = bytearray(len(s))
        for a, (_, e) in spans.items():
            protected[a:e] = b"\x01" * (e - a)
        failed: dict[str, int] = {}
        brackets: dict[int, int] | None = None
        parens: dict[int, int] = {}
        buf: list[str] = []
        i, n = 0, len(s)

        def flush() -> None:
            if buf:
                out.add("".join(buf))
                buf.clear()

        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and s[i + 1] in _ASCII_PUNCT:
                buf.append(s[i + 1])
                i += 2
                continue
            if c == "`" and i in spans:
                cs, ce = spans[i]
                run = cs - i
                content = s[cs:ce - run]
                if len(content) >= 2 and content[0] == content[-1] == " " and content.strip():
                    content = content[1:-1]
                if "code" in disabled:
                    buf.append(s[i:ce])
                else:
                    flush()
                    start = out.pos
                    out.add(content)
                    out.entity("code", start, depth)
                i = ce
                continue
            if c == "`":
                j = i
                while j < n and s[j] == "`":
                    j += 1
                buf.append(s[i:j])
                i = j
                continue
            if (c == "[" or (c == "!" and s.startswith("[", i + 1))) and "link" not in disabled:
                if brackets is None:
                    brackets = _matching(s, "[", "]", protected, False)
                    parens = _matching(s, "(", ")", protected, True)
                link = self._link(s, i + (c == "!"), brackets, parens)
                if link is not None:
                    text_start, text_end, url, end = link
                    flush()
                    start = out.pos
                    self.parse(s[text_start:text_end], depth + 1,
                               disabled | {"link", "code"})
                    out.entity("text_link", start, depth, url)
                    i = end
                    continue
            if c in _DELIMS:
                j = i
                while j < n and s[j] == c:
                    j += 1
                run = j - i
                single, double = _DELIMS[c]
                done = False
                for length, etype in ((2, double), (1, single)):
                    if etype is None or run < length or etype in disabled:
                        continue
                    if length == 1 and run == 2:
                        continue
                    close = self._closer(s, i, c, length, protected, failed)
                    if close is None:
                        continue
                    flush()
                    start = out.pos
                    self.parse(s[i + length:close], depth + 1, disabled | {etype})
                    out.entity(etype, start, depth)
                    i = close + length
                    done = True
                    break
                if not done:
                    buf.append(s[i:j])
                    i = j
                continue
            if c == "<":
                m = re.match(r"<((?:https?|mailto|tg):[^\s<>]+)>", s[i:])
                if m:
                    buf.append(m.group(1))
                    i += m.end()
                    continue
            buf.append(c)
            i += 1
        flush()

    @staticmethod
    def _closer(s: str, i: int, c: str, length: int, protected: bytearray,
                failed: dict[str, int]) -> int | None:
        """Index of the closing delimiter for an opener at ``i``, or ``None``."""
        n = len(s)
        j = i + length
        if j >= n or s[j].isspace():
            return None
        if c == "_" and i > 0 and s[i - 1].isalnum():
            return None
        key = c * length
        if failed.get(key, n + 1) <= j:
            return None
        k = j
        while True:
            k = s.find(c, k)
            if k < 0:
                failed[key] = min(failed.get(key, n + 1), j)
                return None
            e = k
            while e < n and s[e] == c:
                e += 1
            run = e - k
            if protected[k]:
                k = e
                continue
            if run == length or (run == 3 and length in (1, 2)) or (length == 1 and run > 3):
                pos = e - length
                if (pos > j and not s[pos - 1].isspace()
                        and not (c == "_" and e < n and s[e].isalnum())
                        and not (k > 0 and s[k - 1] == "\\")):
                    return pos
            k = e

    @staticmethod
    def _link(s: str, i: int, brackets: dict[int, int], parens: dict[int, int]
              ) -> tuple[int, int, str, int] | None:
        """``[text](url)`` at ``i``: (text start, text end, url, end) or ``None``."""
        close = brackets.get(i)
        if close is None or close == i + 1 or not s.startswith("(", close + 1):
            return None
        end = parens.get(close + 1)
        if end is None:
            return None
        target = s[close + 2:end].strip()
        url = target.split(None, 1)[0] if target else ""
        if url.startswith("<") and url.endswith(">"):
            url = url[1:-1]
        if not _URL_OK.match(url):
            return None
        return i + 1, close, url, end + 1


def _matching(s: str, opener: str, closer: str, protected: bytearray,
              line_bound: bool) -> dict[int, int]:
    """Index of each ``opener`` -> index of its matching ``closer``, in one pass
    (a per-opener scan would be quadratic on hostile input)."""
    out: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if protected[i]:
            i += 1
            continue
        if c == opener:
            stack.append(i)
        elif c == closer and stack:
            out[stack.pop()] = i
        elif c == "\n" and line_bound:
            stack.clear()
        i += 1
    return out


def markdown_to_entities(md: str) -> FormattedText:
    """Convert the Markdown an agent writes into visible text and entities.

    Supported: fenced code blocks (with language), inline code, ``**bold**``,
    ``__bold__``, ``*italic*``, ``_italic_``, ``~~strike~~``, ``||spoiler||``,
    ``[links](https://...)``, ``# headings`` (bold), ``> quotes`` and bullet
    lists (``•``). Anything else is kept as text; unmatched markers stay
    literal. Line structure is preserved (fence lines are removed).
    """
    md = md.replace("\r\n", "\n").replace("\r", "\n")
    out = _Builder()
    inline = _Inline(out)
    lines = md.split("\n")
    i, n = 0, len(lines)
    first = True

    def newline() -> None:
        nonlocal first
        if not first:
            out.add("\n")
        first = False

    while i < n:
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            marker = fence.group(1)
            lang = fence.group(2) or None
            j = i + 1
            close_re = re.compile(r"^ {0,3}" + re.escape(marker[0]) + "{" + str(len(marker))
                                  + r",}[ \t]*$")
            while j < n and not close_re.match(lines[j]):
                j += 1
            content = "\n".join(lines[i + 1:j])
            newline()
            start = out.pos
            out.add(content)
            out.entity("pre", start, 0, lang)
            i = j + 1
            continue
        heading = _HEADING.match(line)
        if heading:
            newline()
            start = out.pos
            inline.parse(heading.group(2), 1, frozenset({"bold"}))
            out.entity("bold", start, 0)
            i += 1
            continue
        if _QUOTE.match(line):
            j = i
            body = []
            while j < n and (m := _QUOTE.match(lines[j])):
                body.append(m.group(1))
                j += 1
            newline()
            start = out.pos
            inline.parse("\n".join(body), 1, frozenset())
            out.entity("blockquote", start, 0)
            i = j
            continue
        if _RULE.match(line):
            newline()
            out.add("———")
            i += 1
            continue
        bullet = _BULLET.match(line)
        if bullet:
            newline()
            out.add(bullet.group(1) + "• ")
            inline.parse(bullet.group(2), 0, frozenset())
            i += 1
            continue
        # A paragraph: consecutive plain lines, parsed together so emphasis
        # may span a line break.
        j = i + 1
        while j < n and lines[j].strip() and not (
                _FENCE.match(lines[j]) or _HEADING.match(lines[j]) or _QUOTE.match(lines[j])
                or _BULLET.match(lines[j]) or _RULE.match(lines[j])):
            j += 1
        newline()
        inline.parse("\n".join(lines[i:j]), 0, frozenset())
        i = j
    return FormattedText("".join(out.parts), tuple(out.entities))


# --------------------------------------------------------------------------- splitting
def _bad_cut(text: str, p: int) -> bool:
    """Whether cutting before ``text[p]`` would split a grapheme (combining
    mark, variation selector, zero-width joiner) or a CR LF pair."""
    if p <= 0 or p >= len(text):
        return False
    nxt, prev = text[p], text[p - 1]
    if prev == "\u200d" or nxt == "\u200d" or (prev == "\r" and nxt == "\n"):
        return True
    return unicodedata.combining(nxt) != 0 or "\ufe00" <= nxt <= "\ufe0f" \
        or "\U0001f3fb" <= nxt <= "\U0001f3ff"


def split_ranges(text: str, entities: Sequence[Entity] = (),
                 limit: int = MAX_MESSAGE) -> list[tuple[int, int]]:
    """Split points of ``text``: ``(start, end)`` ranges covering it in order,
    each at most ``limit`` UTF-16 code units.

    A cut goes after a paragraph break if one fits, else after a line break,
    else after a space; cuts outside every entity are preferred to cuts
    inside one. Only a single "word" longer than the limit is cut hard, and
    never inside a surrogate pair (Python strings hold whole code points) or
    a combining sequence when avoidable.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 UTF-16 code units")
    n = len(text)
    prefix = _utf16_prefix(text)
    if prefix[n] <= limit:
        return [(0, n)] if n else []
    # cover[p] > 0 when the boundary p lies strictly inside an entity.
    diff = [0] * (n + 2)
    for e in entities:
        if e.end - e.start > 1:
            diff[e.start + 1] += 1
            diff[e.end] -= 1
    cover = list(accumulate(diff))
    out: list[tuple[int, int]] = []
    start = 0
    while prefix[n] - prefix[start] > limit:
        end = bisect.bisect_right(prefix, prefix[start] + limit) - 1
        cut = _best_cut(text, start, end, cover)
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def _best_cut(text: str, start: int, end: int, cover: list[int]) -> int:
    for inside_ok in (False, True):
        for sep in ("\n\n", "\n", " "):
            hi = end
            while True:
                k = text.rfind(sep, start, hi)
                if k < 0:
                    break
                p = k + len(sep)  # cut after the separator: it ends the part
                if inside_ok or cover[p] == 0:
                    return p
                hi = p - 1
    p = end
    while p > start + 1 and _bad_cut(text, p):
        p -= 1
    return p


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
