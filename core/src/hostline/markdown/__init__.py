"""One CommonMark + GFM document model that every channel renders.

``parse(markdown)`` gives a :class:`Document` of frozen attrs nodes (see
:mod:`hostline.markdown.nodes`); ``layout(doc)`` its visible text with styled
spans and ``to_plain(doc)`` the plain text alone. A channel renderer walks
the nodes (``match`` or a :class:`Visitor` subclass) and produces its own
markup; :func:`split_document` cuts a document into pieces whose rendering
fits a channel's limit without breaking a code block, and
:func:`split_text` cuts text at paragraph, line, then word boundaries.

Typical use::

    from hostline import markdown

    doc = markdown.parse(reply_text)
    plain = markdown.to_plain(doc)
"""

from __future__ import annotations

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
    Node,
    Paragraph,
    SoftBreak,
    Strikethrough,
    Strong,
    Table,
    TableCell,
    Text,
    ThematicBreak,
    Visitor,
    walk,
)
from .parse import parse
from .text import Span, SpanKind, StyledText, display_width, layout, table_lines, to_plain

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
    "Span",
    "SpanKind",
    "Strikethrough",
    "Strong",
    "StyledText",
    "Table",
    "TableCell",
    "Text",
    "ThematicBreak",
    "Visitor",
    "display_width",
    "layout",
    "parse",
    "table_lines",
    "to_plain",
    "walk",
]
