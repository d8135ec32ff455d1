"""CommonMark + GFM (tables, strikethrough, task lists, autolinks) to the
document model, with markdown-it-py doing the parsing.

Raw HTML is not interpreted: a model that writes ``<b>x</b>`` gets those
characters shown, as every chat channel would show them. Bare URLs are
linked only when they start with a scheme or ``www.`` (GFM's rule), so
``main.py`` stays text. markdown-it-py bounds nesting depth, which bounds
the recursion here; input nested deeper than that (which markdown-it would
cut short) is kept whole as plain text instead, so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.tasklists import tasklists_plugin

from .nodes import (
    Align,
    Block,
    BlockQuote,
    CodeBlock,
    CodeSpan,
    Document,
    Emphasis,
    HardBreak,
    Heading,
    Image,
    Inline,
    Link,
    ListBlock,
    ListItem,
    Paragraph,
    SoftBreak,
    Strikethrough,
    Strong,
    Table,
    TableCell,
    Text,
    ThematicBreak,
)

__all__ = ["parse"]

_GFM_AUTOLINK = re.compile(r"(?i)(?:https?://|ftp://|www\.)")
_ALIGN = re.compile(r"text-align:(left|center|right)")
#: Block nesting markdown-it may reach; real answers stay far below it.
MAX_NESTING = 32


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("gfm-like", {"linkify": True, "html": False, "typographer": False})
    md.options["maxNesting"] = MAX_NESTING
    if md.linkify is not None:
        md.linkify.set({"fuzzy_ip": False})
    md.use(tasklists_plugin)
    return md


def parse(markdown: str) -> Document:
    """Parse ``markdown`` (CommonMark with GFM tables, strikethrough, task lists
    and autolinks) into a :class:`Document`. Never raises on any input."""
    tokens = _parser().parse(markdown)
    if any(t.level >= MAX_NESTING - 1 for t in tokens):
        return _literal(markdown)
    blocks, _ = _blocks(tokens, 0, None)
    return Document(tuple(blocks))


def _literal(markdown: str) -> Document:
    """The text as it is: one paragraph per blank-line-separated chunk."""
    paras = []
    for chunk in re.split(r"\n[ \t]*\n", markdown.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line.strip() for line in chunk.split("\n") if line.strip()]
        kids: list[Inline] = []
        for k, line in enumerate(lines):
            if k:
                kids.append(SoftBreak())
            kids.append(Text(line))
        if kids:
            paras.append(Paragraph(tuple(kids)))
    return Document(tuple(paras))


# --------------------------------------------------------------------------- blocks
def _blocks(tokens: list[Token], i: int, close: str | None) -> tuple[list[Block], int]:
    out: list[Block] = []
    n = len(tokens)
    while i < n:
        t = tokens[i]
        kind = t.type
        if kind == close:
            return out, i + 1
        if kind == "paragraph_open":
            out.append(Paragraph(_inline(tokens[i + 1])))
            i += 3
        elif kind == "heading_open":
            out.append(Heading(int(t.tag[1:]), _inline(tokens[i + 1])))
            i += 3
        elif kind in ("fence", "code_block"):
            code = t.content[:-1] if t.content.endswith("\n") else t.content
            words = t.info.split(maxsplit=1) if kind == "fence" else []
            out.append(CodeBlock(code, words[0] if words else None))
            i += 1
        elif kind == "blockquote_open":
            children, i = _blocks(tokens, i + 1, "blockquote_close")
            out.append(BlockQuote(tuple(children)))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            block, i = _list(tokens, i)
            out.append(block)
        elif kind == "table_open":
            table, i = _table(tokens, i)
            out.append(table)
        elif kind == "hr":
            out.append(ThematicBreak())
            i += 1
        elif kind == "html_block":  # only reachable if HTML parsing is ever enabled
            out.append(Paragraph((Text(t.content.rstrip("\n")),)))
            i += 1
        else:
            i += 1
    return out, i


def _list(tokens: list[Token], i: int) -> tuple[ListBlock, int]:
    opening = tokens[i]
    ordered = opening.type == "ordered_list_open"
    close = "ordered_list_close" if ordered else "bullet_list_close"
    start = int(str(opening.attrGet("start") or 1)) if ordered else 1
    items: list[ListItem] = []
    tight = True
    i += 1
    while tokens[i].type != close:
        item_level = tokens[i].level
        checked = _task_state(tokens, i)
        j = i + 1
        while not (tokens[j].type == "list_item_close" and tokens[j].level == item_level):
            if tokens[j].type == "paragraph_open" and tokens[j].level == item_level + 1:
                tight = tight and tokens[j].hidden
            j += 1
        children, i = _blocks(tokens, i + 1, "list_item_close")
        items.append(ListItem(tuple(children), checked))
    return ListBlock(tuple(items), ordered, start, tight), i + 1


def _task_state(tokens: list[Token], i: int) -> bool | None:
    """``checked`` of a task item, removing the plugin's checkbox token."""
    if "task-list-item" not in str(tokens[i].attrGet("class") or ""):
        return None
    inline = tokens[i + 2] if i + 2 < len(tokens) else None
    kids = inline.children if inline is not None and inline.children else []
    if not kids or kids[0].type != "html_inline":
        return None
    checked = 'checked="checked"' in kids[0].content
    del kids[0]
    if kids and kids[0].type == "text":
        kids[0].content = kids[0].content.lstrip(" ")
    return checked


def _table(tokens: list[Token], i: int) -> tuple[Table, int]:
    rows: list[tuple[TableCell, ...]] = []
    align: list[Align] = []
    row: list[TableCell] = []
    i += 1
    while tokens[i].type != "table_close":
        t = tokens[i]
        if t.type == "tr_open":
            row = []
        elif t.type == "tr_close":
            rows.append(tuple(row))
        elif t.type in ("th_open", "td_open"):
            if t.type == "th_open":
                m = _ALIGN.search(str(t.attrGet("style") or ""))
                align.append(m.group(1) if m else None)  # type: ignore[arg-type]
            row.append(TableCell(_inline(tokens[i + 1])))
            i += 2
        i += 1
    header = rows[0] if rows else ()
    return Table(header, tuple(rows[1:]), tuple(align)), i + 1


# --------------------------------------------------------------------------- inlines
def _inline(token: Token) -> tuple[Inline, ...]:
    children, _ = _inlines(token.children or [], 0, None)
    return tuple(_merge(children))


def _inlines(tokens: Sequence[Token], i: int, close: str | None) -> tuple[list[Inline], int]:
    out: list[Inline] = []
    n = len(tokens)
    while i < n:
        t = tokens[i]
        kind = t.type
        if kind == close:
            return out, i + 1
        i += 1
        if kind in ("text", "text_special", "html_inline"):
            out.append(Text(t.content))
        elif kind == "code_inline":
            out.append(CodeSpan(t.content))
        elif kind == "softbreak":
            out.append(SoftBreak())
        elif kind == "hardbreak":
            out.append(HardBreak())
        elif kind == "image":
            title = t.attrGet("title")
            out.append(Image(str(t.attrGet("src") or ""), t.content,
                             str(title) if title else None))
        elif kind in ("strong_open", "em_open", "s_open", "link_open"):
            inner, i = _inlines(tokens, i, kind[:-5] + "_close")
            kids = tuple(_merge(inner))
            if kind == "strong_open":
                out.append(Strong(kids))
            elif kind == "em_open":
                out.append(Emphasis(kids))
            elif kind == "s_open":
                out.append(Strikethrough(kids))
            else:
                out.extend(_link(t, kids))
    return out, i


def _link(t: Token, kids: tuple[Inline, ...]) -> list[Inline]:
    url = str(t.attrGet("href") or "")
    title = t.attrGet("title")
    if t.markup == "linkify":
        shown = "".join(k.text for k in kids if isinstance(k, Text))
        # linkify-it's fuzzy matching also links bare domains such as
        # main.py; GFM links only scheme://, www. and e-mail addresses.
        if not (_GFM_AUTOLINK.match(shown) or (url.startswith("mailto:") and "@" in shown)):
            return list(kids)
    return [Link(url, kids, str(title) if title else None,
                 autolink=t.markup in ("autolink", "linkify"))]


def _merge(nodes: list[Inline]) -> list[Inline]:
    """Join adjacent text nodes and drop empty ones."""
    out: list[Inline] = []
    for node in nodes:
        if isinstance(node, Text):
            if not node.text:
                continue
            if out and isinstance(out[-1], Text):
                out[-1] = Text(out[-1].text + node.text)
                continue
        out.append(node)
    return out
