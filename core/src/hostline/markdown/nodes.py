"""The Markdown document model: small, frozen attrs nodes for blocks and inlines.

A :class:`Document` holds :class:`Block` nodes; text-bearing blocks hold
:class:`Inline` nodes. Every node is immutable and compares by value, so a
renderer can be tested with plain equality and a splitter can build new
documents out of pieces of old ones.

Write a renderer either with ``match`` on the node classes or by subclassing
:class:`Visitor`, which dispatches ``visit(node)`` to ``visit_<snake_name>``
(``visit_code_block`` for :class:`CodeBlock`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Generic, Literal, TypeVar

import attrs

__all__ = [
    "Align",
    "Block",
    "BlockQuote",
    "CodeBlock",
    "CodeSpan",
    "Document",
    "Emphasis",
    "HardBreak",
    "Heading",
    "Image",
    "Inline",
    "Link",
    "ListBlock",
    "ListItem",
    "Node",
    "Paragraph",
    "SoftBreak",
    "Strikethrough",
    "Strong",
    "Table",
    "TableCell",
    "Text",
    "ThematicBreak",
    "Visitor",
    "walk",
]

#: Column alignment of a table column (``None``: not given).
Align = Literal["left", "center", "right", None]


class Node:
    """Base of every node of the model."""

    __slots__ = ()


class Inline(Node):
    """Base of inline nodes: the content of paragraphs, headings and table cells."""

    __slots__ = ()


class Block(Node):
    """Base of block nodes: the children of a document, quote or list item."""

    __slots__ = ()


# --------------------------------------------------------------------------- inlines
@attrs.frozen
class Text(Inline):
    """Literal text, with entity references and backslash escapes already decoded."""

    text: str


@attrs.frozen
class CodeSpan(Inline):
    """Inline code (`` `x` ``): ``code`` is shown verbatim."""

    code: str


@attrs.frozen
class Strong(Inline):
    """Strong emphasis (``**x**``, ``__x__``); channels usually show bold."""

    children: tuple[Inline, ...]


@attrs.frozen
class Emphasis(Inline):
    """Emphasis (``*x*``, ``_x_``); channels usually show italic."""

    children: tuple[Inline, ...]


@attrs.frozen
class Strikethrough(Inline):
    """GFM strikethrough (``~~x~~``)."""

    children: tuple[Inline, ...]


@attrs.frozen
class Link(Inline):
    """A link: inline, reference-style or an autolink.

    ``url`` is the destination as written (normalised by the parser; never
    checked for scheme: each channel decides what it allows). ``autolink`` is
    true for ``<https://x>`` and bare URLs, whose text is the URL itself.
    """

    url: str
    children: tuple[Inline, ...]
    title: str | None = None
    autolink: bool = False


@attrs.frozen
class Image(Inline):
    """An image reference; chat channels show ``alt`` (linked to ``url`` where they can)."""

    url: str
    alt: str
    title: str | None = None


@attrs.frozen
class SoftBreak(Inline):
    """A line break in the source inside a paragraph; chat channels keep it as a newline."""


@attrs.frozen
class HardBreak(Inline):
    """A hard line break (two trailing spaces or a backslash before the newline)."""


# --------------------------------------------------------------------------- blocks
@attrs.frozen
class Paragraph(Block):
    """A paragraph of inline content."""

    children: tuple[Inline, ...]


@attrs.frozen
class Heading(Block):
    """An ATX (``# x``) or setext (``x`` over ``===``) heading, ``level`` 1-6."""

    level: int
    children: tuple[Inline, ...]


@attrs.frozen
class CodeBlock(Block):
    """A fenced or indented code block.

    ``code`` is the content without its final newline; ``language`` is the
    first word of the fence's info string (``None`` when absent).
    """

    code: str
    language: str | None = None


@attrs.frozen
class BlockQuote(Block):
    """A block quote (``> x``) of other blocks."""

    children: tuple[Block, ...]


@attrs.frozen
class ListItem(Node):
    """One item of a :class:`ListBlock`; ``checked`` is set for GFM task items
    (``- [ ]`` is ``False``, ``- [x]`` is ``True``)."""

    children: tuple[Block, ...]
    checked: bool | None = None


@attrs.frozen
class ListBlock(Block):
    """A bullet or ordered list. ``start`` is the first number of an ordered
    list; ``tight`` lists have no blank lines between items."""

    items: tuple[ListItem, ...]
    ordered: bool = False
    start: int = 1
    tight: bool = True


@attrs.frozen
class TableCell(Node):
    """One cell of a :class:`Table`."""

    children: tuple[Inline, ...]


@attrs.frozen
class Table(Block):
    """A GFM table: a header row, body rows (each as long as the header) and
    one alignment per column."""

    header: tuple[TableCell, ...]
    rows: tuple[tuple[TableCell, ...], ...]
    align: tuple[Align, ...]


@attrs.frozen
class ThematicBreak(Block):
    """A horizontal rule (``---``)."""


@attrs.frozen
class Document(Node):
    """A parsed Markdown document: a sequence of blocks."""

    children: tuple[Block, ...] = ()


# --------------------------------------------------------------------------- traversal
def walk(node: Node) -> Iterator[Node]:
    """Every node under ``node`` (itself first), depth first, in document order."""
    yield node
    if isinstance(node, ListBlock):
        for item in node.items:
            yield from walk(item)
    elif isinstance(node, Table):
        for cell in node.header:
            yield from walk(cell)
        for row in node.rows:
            for cell in row:
                yield from walk(cell)
    else:
        for child in getattr(node, "children", ()):
            yield from walk(child)


T = TypeVar("T")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class Visitor(Generic[T]):
    """Dispatches ``visit(node)`` to ``visit_<snake_case class name>(node)``.

    Subclass it and define the methods your output needs; a node without one
    goes to :meth:`generic_visit`, which raises so a missing case is loud.
    """

    def visit(self, node: Node) -> T:
        """Visit ``node`` with the method named after its class."""
        name = "visit_" + _CAMEL.sub("_", type(node).__name__).lower()
        method = getattr(self, name, None)
        if method is None:
            return self.generic_visit(node)
        result: T = method(node)
        return result

    def generic_visit(self, node: Node) -> T:
        """Called for a node without a ``visit_`` method; raises ``NotImplementedError``."""
        raise NotImplementedError(f"{type(self).__name__} has no visit method for "
                                  f"{type(node).__name__}")

