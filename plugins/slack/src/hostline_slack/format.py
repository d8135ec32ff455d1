"""Markdown to Slack: mrkdwn text, split under Slack's limits.

The agent writes CommonMark + GFM; :func:`render` parses it once with
:mod:`hostline.markdown` and renders each block as Slack ``mrkdwn``:
``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``, fenced code blocks,
``<url|text>`` links, bullets and numbers for lists, ``>`` quotes, headings
as bold lines and tables as aligned monospace blocks (mrkdwn has no
tables). ``&``, ``<`` and ``>`` are escaped everywhere, so text from the
model can never become a ``<!channel>`` ping or a disguised link.

Blocks are packed into messages of at most ``limit`` characters. A block
longer than that is cut at line, then word boundaries; a code block is cut
between lines and every piece is a closed code block of its own, so no
message ever ends inside one.

Streams use Slack's own Markdown rendering (``markdown_text`` of the
streaming methods), so only posted messages go through here.
"""

from __future__ import annotations

import re

from hostline import markdown as md

__all__ = ["escape", "render", "split_plain", "to_mrkdwn"]

_GRAVE = "\u02cb"  # inline code cannot hold a backtick: a look-alike
_FENCE = re.compile(r"`(?=``)")
_SAFE_URL = re.compile(r"(?:https?://|mailto:)[^\s<>|]+", re.IGNORECASE)


def escape(text: str) -> str:
    """Escape the three characters mrkdwn treats as markup (``& < >``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _url(url: str) -> str | None:
    """``url`` if Slack may link it (http, https, mailto), with ``|`` and ``>`` encoded."""
    url = url.strip().replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return url if _SAFE_URL.fullmatch(url) else None


class _Inline:
    """Renders inline nodes; ``plain`` drops styling (inside links and code)."""

    def render(self, nodes: tuple[md.Inline, ...], *, plain: bool = False) -> str:
        return "".join(self.one(n, plain) for n in nodes)

    def one(self, node: md.Inline, plain: bool) -> str:
        match node:
            case md.Text(text=text):
                # A literal ``` would open a code block in Slack.
                return _no_fence(escape(text))
            case md.CodeSpan(code=code):
                return escape(code) if plain else "`" + escape(code.replace("`", _GRAVE)) + "`"
            case md.Strong(children=children):
                inner = self.render(children, plain=plain)
                return inner if plain or not inner.strip() else f"*{inner}*"
            case md.Emphasis(children=children):
                inner = self.render(children, plain=plain)
                return inner if plain or not inner.strip() else f"_{inner}_"
            case md.Strikethrough(children=children):
                inner = self.render(children, plain=plain)
                return inner if plain or not inner.strip() else f"~{inner}~"
            case md.Link(url=url, children=children, autolink=autolink):
                text = self.render(children, plain=True).replace("|", "\u2223")
                safe = _url(url)
                if safe is None or plain:
                    return text
                return f"<{safe}>" if autolink else f"<{safe}|{text or safe}>"
            case md.Image(url=url, alt=alt):
                safe = _url(url)
                label = escape(alt or "image").replace("|", "\u2223")
                return label if safe is None or plain else f"<{safe}|{label}>"
            case md.SoftBreak() | md.HardBreak():
                return "\n"
        return ""


def _no_fence(text: str) -> str:
    """Break every run of three backticks (a zero-width space after each but the last two)."""
    return _FENCE.sub("`\u200b", text)


def _code(code: str) -> str:
    return "```\n" + _no_fence(escape(code)) + "\n```"


def _indent(text: str, prefix: str, rest: str) -> str:
    lines = text.split("\n")
    return "\n".join([prefix + lines[0], *(rest + line if line else line for line in lines[1:])])


class _Blocks:
    def __init__(self) -> None:
        self.inline = _Inline()

    def block(self, node: md.Block) -> str:
        match node:
            case md.Paragraph(children=children):
                return self.inline.render(children)
            case md.Heading(children=children):
                text = self.inline.render(children)
                return f"*{text}*" if text.strip() else ""
            case md.CodeBlock(code=code):
                return _code(code)
            case md.BlockQuote(children=children):
                inner = "\n\n".join(b for b in (self.block(c) for c in children) if b)
                return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
            case md.ListBlock(items=items, ordered=ordered, start=start, tight=tight):
                out = []
                for i, item in enumerate(items):
                    mark = f"{start + i}." if ordered else "\u2022"
                    if item.checked is not None:
                        mark = "\u2611" if item.checked else "\u2610"
                    body = ("\n" if tight else "\n\n").join(
                        b for b in (self.block(c) for c in item.children) if b)
                    out.append(_indent(body, f"{mark} ", " " * (len(mark) + 1)))
                return ("\n" if tight else "\n\n").join(out)
            case md.Table():
                return _code("\n".join(md.table_lines(node)))
            case md.ThematicBreak():
                return "\u2015" * 10
        return ""


def to_mrkdwn(text: str) -> str:
    """The whole Markdown ``text`` as one mrkdwn string (no splitting)."""
    return "\n\n".join(render(text, limit=None))


def render(text: str, *, limit: int | None = 3000) -> list[str]:
    """Markdown ``text`` as mrkdwn messages of at most ``limit`` characters each."""
    doc = md.parse(text)
    blocks = _Blocks()
    pieces: list[str] = []
    for node in doc.children:
        out = blocks.block(node)
        if not out.strip():
            continue
        if limit is not None and len(out) > limit:
            pieces.extend(_split_code(node.code, limit) if isinstance(node, md.CodeBlock)
                          else split_plain(out, limit))
        else:
            pieces.append(out)
    if limit is None:
        return pieces
    return _pack(pieces, limit)


def _pack(pieces: list[str], limit: int) -> list[str]:
    messages: list[str] = []
    current = ""
    for piece in pieces:
        if not current:
            current = piece
        elif len(current) + 2 + len(piece) <= limit:
            current += "\n\n" + piece
        else:
            messages.append(current)
            current = piece
    if current:
        messages.append(current)
    return messages


def _split_code(code: str, limit: int) -> list[str]:
    """A long code block as several closed code blocks, cut between lines."""
    room = limit - len(_code(""))
    out: list[str] = []
    for chunk in split_plain(escape(code), room, separators=("\n",)):
        out.append("```\n" + _no_fence(chunk) + "\n```")
    return out


def split_plain(text: str, limit: int,
                separators: tuple[str, ...] = ("\n\n", "\n", " ")) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters at the first
    separator that fits (paragraph, line, word), hard-cutting only a word
    longer than ``limit``. Entities (``&amp;``) are never cut in half."""
    out: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = -1
        for sep in separators:
            cut = rest.rfind(sep, 0, limit + 1)
            if cut > 0:
                piece, rest = rest[:cut], rest[cut + len(sep):]
                break
        else:
            cut = limit
            amp = rest.rfind("&", max(0, cut - 5), cut)
            if amp > 0 and ";" not in rest[amp:cut]:
                cut = amp
            piece, rest = rest[:cut], rest[cut:]
        if piece.strip():
            out.append(piece)
    if rest.strip():
        out.append(rest)
    return out
