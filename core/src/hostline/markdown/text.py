"""The plain-text layout of a document: visible text plus styled spans.

:func:`layout` turns a :class:`Document` into a :class:`StyledText`: the
text a reader sees (list markers, numbered items, tables as aligned
monospace columns) and :class:`Span` ranges saying which part is bold, a
link, code... A channel that formats by ranges (Telegram entities) maps the
spans; :func:`to_plain` is the text alone, the fallback every channel can
send. Offsets are code points into ``StyledText.text``.

Layout rules: blocks are separated by a blank line, items of a tight list
by a newline; bullets are ``•``, ``◦``, ``▪`` by depth, ordered items keep
their numbers, task items show ``☐``/``☑``; continuation lines are indented
under the item's text; soft and hard breaks are newlines; headings and
quotes are their text (spans mark them); an image is its alt text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Literal

import attrs

from .nodes import (
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
    Paragraph,
    SoftBreak,
    Strikethrough,
    Strong,
    Table,
    TableCell,
    Text,
    ThematicBreak,
)

__all__ = ["Span", "SpanKind", "StyledText", "display_width", "layout", "table_lines",
           "to_plain"]

#: What a :class:`Span` marks. ``pre`` is a code block (``data``: its
#: language), ``table`` an aligned table block, ``link`` a link or image
#: (``data``: the URL), ``heading`` a heading (``data``: its level as text).
SpanKind = Literal["bold", "italic", "strikethrough", "code", "pre", "table", "link",
                   "quote", "heading"]

BULLETS = ("•", "◦", "▪")
TASK = {False: "☐", True: "☑"}
RULE = "———"


@attrs.frozen
class Span:
    """Style over ``[start, end)`` of the visible text. ``depth`` is the nesting
    depth (outer spans have smaller depth), so equal ranges keep their order."""

    kind: SpanKind
    start: int
    end: int
    data: str | None = None
    depth: int = 0


@attrs.frozen
class StyledText:
    """Visible text and the spans that style it."""

    text: str
    spans: tuple[Span, ...] = ()

    def clip(self, start: int, end: int) -> StyledText:
        """The part ``[start, end)``, with spans clipped to it and shifted."""
        spans = []
        for s in self.spans:
            a, b = max(s.start, start), min(s.end, end)
            if a < b:
                spans.append(attrs.evolve(s, start=a - start, end=b - start))
        return StyledText(self.text[start:end], tuple(spans))


def display_width(text: str) -> int:
    """Columns ``text`` takes in a monospace font: wide East Asian characters
    and most emoji take two, combining marks and zero-width joiners none."""
    width = 0
    for c in text:
        if unicodedata.combining(c) or c in "\u200b\u200c\u200d\ufe0e\ufe0f":
            continue
        width += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return width


def table_lines(table: Table, cell_text: Sequence[Sequence[str]] | None = None) -> list[str]:
    """``table`` as aligned monospace lines: header, a ``-+-`` rule, the rows.

    ``cell_text`` gives each row's cell texts (header first); by default the
    cells' plain text. Channels that show tables as monospace blocks share
    this so their columns line up the same way.
    """
    rows = cell_text if cell_text is not None else [
        [_cell_plain(c) for c in row] for row in (table.header, *table.rows)]
    ncols = max((len(r) for r in rows), default=0)
    widths = [max((display_width(r[k]) for r in rows if k < len(r)), default=0)
              for k in range(ncols)]
    align = list(table.align) + [None] * (ncols - len(table.align))

    def line(cells: Sequence[str]) -> str:
        out = []
        for k in range(ncols):
            text = cells[k] if k < len(cells) else ""
            pad = widths[k] - display_width(text)
            if align[k] == "right":
                text = " " * pad + text
            elif align[k] == "center":
                text = " " * (pad // 2) + text + " " * (pad - pad // 2)
            else:
                text += " " * pad
            out.append(text)
        return " | ".join(out).rstrip()

    lines = [line(rows[0])] if rows else []
    if rows:
        lines.append("-+-".join("-" * max(w, 1) for w in widths))
    lines.extend(line(r) for r in rows[1:])
    return lines


def _cell_plain(cell: TableCell) -> str:
    return _Builder(link_urls=False).inline_text(cell.children).replace("\n", " ")


class _Builder:
    """Accumulates text and spans; indents every line after a newline by the
    current prefix (written lazily, so blank lines stay empty)."""

    def __init__(self, *, link_urls: bool) -> None:
        self.link_urls = link_urls
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[Span] = []
        self.indent = ""
        self.at_line_start = False
        self.depth = 0
        self.list_depth = 0

    # -- writing
    def write(self, text: str) -> None:
        for k, line in enumerate(text.split("\n")):
            if k:
                self._raw("\n")
                self.at_line_start = True
            if line:
                self._flush_indent()
                self._raw(line)

    def _raw(self, s: str) -> None:
        self.parts.append(s)
        self.pos += len(s)

    def _flush_indent(self) -> None:
        if self.at_line_start:
            self.at_line_start = False
            if self.indent:
                self._raw(self.indent)

    def mark(self) -> int:
        """The position where the next visible character goes."""
        self._flush_indent()
        return self.pos

    def span(self, kind: SpanKind, start: int, data: str | None = None) -> None:
        if self.pos > start:
            self.spans.append(Span(kind, start, self.pos, data, self.depth))

    def result(self) -> StyledText:
        spans = sorted(self.spans, key=lambda s: (s.start, -s.end, s.depth))
        return StyledText("".join(self.parts), tuple(spans))

    # -- blocks
    def blocks(self, blocks: Sequence[Block], sep: str = "\n\n") -> None:
        for k, block in enumerate(blocks):
            if k:
                self.write(sep)
            self.block(block)

    def block(self, block: Block) -> None:
        if isinstance(block, Paragraph):
            self.inlines(block.children)
        elif isinstance(block, Heading):
            self.styled("heading", lambda: self.inlines(block.children), str(block.level))
        elif isinstance(block, CodeBlock):
            start = self.mark()
            self.write(block.code)
            self.span("pre", start, block.language)
        elif isinstance(block, BlockQuote):
            self.styled("quote", lambda: self.blocks(block.children))
        elif isinstance(block, ListBlock):
            self.list(block)
        elif isinstance(block, Table):
            start = self.mark()
            self.write("\n".join(table_lines(block, [
                [self._sub_text(c.children) for c in row]
                for row in (block.header, *block.rows)])))
            self.span("table", start)
        elif isinstance(block, ThematicBreak):
            self.write(RULE)

    def _sub_text(self, inlines: Sequence[Inline]) -> str:
        return _Builder(link_urls=self.link_urls).inline_text(inlines).replace("\n", " ")

    def list(self, block: ListBlock) -> None:
        level = self.list_depth
        self.list_depth += 1
        try:
            for k, item in enumerate(block.items):
                if k:
                    self.write("\n" if block.tight else "\n\n")
                if block.ordered:
                    marker = f"{block.start + k}. "
                    if item.checked is not None:
                        marker += TASK[item.checked] + " "
                elif item.checked is not None:
                    marker = TASK[item.checked] + " "
                else:
                    marker = BULLETS[min(level, len(BULLETS) - 1)] + " "
                self.write(marker)
                outer = self.indent
                self.indent = outer + " " * len(marker)
                try:
                    self.blocks(item.children, "\n" if block.tight else "\n\n")
                finally:
                    self.indent = outer
        finally:
            self.list_depth -= 1

    def styled(self, kind: SpanKind, body: Callable[[], None], data: str | None = None) -> None:
        start = self.mark()
        self.depth += 1
        try:
            body()
        finally:
            self.depth -= 1
        self.span(kind, start, data)

    # -- inlines
    def inline_text(self, inlines: Sequence[Inline]) -> str:
        self.inlines(inlines)
        return "".join(self.parts)

    def inlines(self, inlines: Sequence[Inline]) -> None:
        for node in inlines:
            self.inline(node)

    def inline(self, node: Inline) -> None:
        if isinstance(node, Text):
            self.write(node.text)
        elif isinstance(node, (SoftBreak, HardBreak)):
            self.write("\n")
        elif isinstance(node, CodeSpan):
            start = self.mark()
            self.write(node.code)
            self.span("code", start)
        elif isinstance(node, Strong):
            self.styled("bold", lambda: self.inlines(node.children))
        elif isinstance(node, Emphasis):
            self.styled("italic", lambda: self.inlines(node.children))
        elif isinstance(node, Strikethrough):
            self.styled("strikethrough", lambda: self.inlines(node.children))
        elif isinstance(node, Link):
            start = self.pos
            self.styled("link", lambda: self.inlines(node.children), node.url)
            shown = "".join(self.parts)[start:] if self.link_urls else ""
            if self.link_urls and not node.autolink and shown != node.url:
                self.write(f" ({node.url})")
        elif isinstance(node, Image):
            self.styled("link", lambda: self.write(node.alt or "image"), node.url)
            if self.link_urls:
                self.write(f" ({node.url})")


def layout(doc: Document, *, link_urls: bool = False) -> StyledText:
    """The visible text of ``doc`` and its styled spans (see the module rules).

    With ``link_urls`` a link's URL follows its text in parentheses (unless the
    text is the URL), for channels that cannot carry links.
    """
    builder = _Builder(link_urls=link_urls)
    builder.blocks(doc.children)
    return builder.result()


def to_plain(doc: Document, *, link_urls: bool = False) -> str:
    """The plain-text rendering of ``doc``: :func:`layout`'s text alone."""
    return layout(doc, link_urls=link_urls).text
