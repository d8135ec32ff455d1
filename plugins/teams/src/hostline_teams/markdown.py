"""Replies as Teams Markdown, split into messages without breaking a code block.

Teams renders a subset of Markdown in text messages: emphasis, headings 1-3,
code, links, quotes; it does not render tables in text messages. So a reply
is parsed once by :mod:`hostline.markdown`, laid out (lists numbered and
indented as text, tables as aligned monospace columns) and each part is
written back as Markdown Teams shows faithfully: a table or code block as a
fenced block, emphasis, links and quotes as Markdown, everything else
escaped so it shows as written.

Splitting works on the laid-out text (:func:`hostline.markdown.split_styled`,
measured by the length of each part's Markdown): paragraph, then line, then
word boundaries, never inside a span when avoidable, newlines kept. A code
block too long for one message is cut between lines and every part carries
its own complete fence.
"""

from __future__ import annotations

import re
import string
import unicodedata

from hostline import markdown

__all__ = ["render_part", "split_markdown"]

_ESCAPE = re.compile(r"([\\`*_<~|&#])")
#: Brackets also, when the part has a link or text a link could form from.
_ESCAPE_BRACKETS = re.compile(r"([\\`*_<~|&#\[\]])")
_LINKISH = re.compile(r"\]\s*[(\[:]")
#: Line starts that Markdown would read as a block: heading, list item,
#: quote, rule, setext underline, numbered item, fence.
_LINE_START = re.compile(r"^([#+\-=>]|\d{1,9}(?=[.)]))")
_LANG = re.compile(r"[\w#+.-]{1,40}")
_INLINE = {"bold": "**", "italic": "*", "strikethrough": "~~"}


def _escape_text(text: str, at_line_start: bool, escape: re.Pattern[str] = _ESCAPE) -> str:
    out = []
    for k, line in enumerate(text.split("\n")):
        if k or at_line_start:
            stripped = line.lstrip(" ")
            # Keep indentation (list nesting) visible; plain spaces at a line
            # start would be dropped, four of them would start a code block.
            indent = "\u00a0" * (len(line) - len(stripped))
            stripped = escape.sub(r"\\\1", stripped)
            m = _LINE_START.match(stripped)
            if m:
                end = m.end()
                stripped = (stripped[:end] + "\\" + stripped[end:] if m.group(1).isdigit()
                            else "\\" + stripped)
            line = indent + stripped
        else:
            line = escape.sub(r"\\\1", line)
        out.append(line)
    return "\n".join(out)


def _punctuation(char: str) -> bool:
    """CommonMark's punctuation: ASCII punctuation and Unicode P categories."""
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def _fence(code: str, char: str = "`") -> str:
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", code)), default=0)
    return char * max(3, longest + 1)


def _code_span(code: str) -> str:
    ticks = "`" * (max((len(m) for m in re.findall("`+", code)), default=0) + 1)
    if code.startswith("`") or code.endswith("`") or (code.startswith(" ") and
                                                      code.endswith(" ")):
        code = f" {code} "
    return f"{ticks}{code}{ticks}"


def _without_repeats(spans: tuple[markdown.Span, ...]) -> list[markdown.Span]:
    """Spans sorted outer first, without a style nested in the same style
    (``**`` inside ``**`` shows nothing more and makes delimiter runs ambiguous)."""
    out: list[markdown.Span] = []
    open_: list[markdown.Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end, s.depth)):
        while open_ and open_[-1].end <= s.start:
            open_.pop()
        if s.kind in _INLINE and any(o.kind == s.kind for o in open_):
            continue
        open_.append(s)
        out.append(s)
    return out


def render_part(part: markdown.StyledText) -> str:
    """One laid-out part as Teams Markdown (see the module docstring)."""
    text = part.text
    linkish = _LINKISH.search(text) or any(s.kind == "link" for s in part.spans)
    escape = _ESCAPE_BRACKETS if linkish else _ESCAPE
    spans = _without_repeats(part.spans)
    out: list[str] = []

    def at_line_start() -> bool:
        joined = out[-1] if out else ""
        return not out or joined.endswith("\n")

    def emit(a: int, b: int, inside: list[markdown.Span]) -> None:
        """``text[a:b]`` with the spans nested in ``inside`` (sorted, within)."""
        pos = a
        k = 0
        while k < len(inside):
            s = inside[k]
            j = k + 1
            while j < len(inside) and inside[j].start < s.end:
                j += 1  # spans nested in s
            if s.start > pos:
                out.append(_escape_text(text[pos:s.start], at_line_start(), escape))
            _span(s, inside[k + 1:j])
            pos = s.end
            k = j
        if b > pos:
            out.append(_escape_text(text[pos:b], at_line_start(), escape))

    def _span(s: markdown.Span, nested: list[markdown.Span]) -> None:
        content = text[s.start:s.end]
        if s.kind in ("pre", "table"):
            if out and out[-1].endswith("\u00a0"):
                # List indentation before a fence: the fence starts the line instead.
                out[-1] = out[-1].rstrip("\u00a0")
            if not at_line_start():
                out.append("\n")
            body = content.rstrip("\n")
            fence = _fence(body)
            lang = s.data if s.kind == "pre" and s.data and _LANG.fullmatch(s.data) else ""
            out.append(f"{fence}{lang}\n{body}\n{fence}")
            out.append(content[len(body):])
        elif s.kind == "code":
            out.append(_code_span(content))
        elif s.kind == "quote":
            # A quote inside a list item starts after its marker: its first
            # line cannot carry the quote marker, the others do.
            first = at_line_start()
            start = len(out)
            emit(s.start, s.end, nested)
            quoted = "".join(out[start:])
            del out[start:]
            out.append("\n".join(("> " + line if line else ">") if k or first else line
                                 for k, line in enumerate(quoted.split("\n"))))
        elif s.kind == "heading" and "\n" not in content and at_line_start():
            out.append("#" * min(int(s.data or 1), 3) + " ")
            emit(s.start, s.end, nested)
        elif s.kind == "link" and content == s.data and not nested and " " not in content \
                and "<" not in content and ">" not in content:
            out.append(f"<{content}>")  # an autolink: the URL is its text
        elif s.kind == "link":
            url = (s.data or "").replace("(", "%28").replace(")", "%29").replace(" ", "%20")
            out.append("[")
            emit(s.start, s.end, nested)
            out.append(f"]({url})")
        else:
            mark = _INLINE.get(s.kind, "**")  # a heading that cannot be one is bold
            inner = content.strip()
            if not inner:
                emit(s.start, s.end, nested)
                return
            lead = len(content) - len(content.lstrip())
            trail = len(content) - len(content.rstrip())
            before = (out[-1][-1:] if out and out[-1] else "") if not lead else " "
            after = text[s.end:s.end + 1] if not trail else " "
            if (_punctuation(inner[0]) and before.isalnum()) or (
                    _punctuation(inner[-1]) and after.isalnum()):
                # CommonMark would not read the marks as emphasis here (they
                # would show): keep the text, drop the style.
                emit(s.start, s.end, nested)
                return
            if lead:
                out.append(_escape_text(content[:lead], at_line_start(), escape))
            out.append(mark)
            emit(s.start + lead, s.end - trail, [n for n in nested])
            out.append(mark)
            if trail:
                out.append(_escape_text(content[len(content) - trail:], False, escape))

    emit(0, len(text), spans)
    return "".join(out)


def split_markdown(text: str, limit: int) -> list[str]:
    """An agent's Markdown reply as Teams Markdown messages of at most ``limit``
    characters each (see the module docstring). Blank parts are dropped, and
    so is trailing whitespace."""
    styled = markdown.layout(markdown.parse(text))
    parts = markdown.split_styled(styled, limit, lambda p: len(render_part(p)))
    # The break a part was cut after is not sent (Teams would trim it anyway).
    return [render_part(p).rstrip() for p in parts if p.text.strip()]
