"""One CommonMark + GFM document model that every channel renders.

``parse(markdown)`` gives a :class:`Document` of frozen attrs nodes (see
:mod:`hostline.markdown.nodes`); ``layout(doc)`` its visible text with styled
spans and ``to_plain(doc)`` the plain text alone. A channel renderer walks
the nodes (``match`` or a :class:`Visitor` subclass) and produces its own
markup. :func:`split_styled` cuts a laid-out document into parts whose
rendering fits a channel's limit: at paragraph, then line, then word
boundaries, outside spans when it can (a code block or table is cut only
when it alone is too long, and then between its lines).

Typical use::

    from hostline import markdown

    doc = markdown.parse(reply_text)
    plain = markdown.to_plain(doc)
    parts = markdown.split_styled(markdown.layout(doc), 4096,
                                  lambda part: markdown.utf16_len(part.text))
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
from .split import Measure, split_ranges, split_styled, utf16_len
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
    "Measure",
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
    "split_ranges",
    "split_styled",
    "table_lines",
    "to_plain",
    "utf16_len",
    "walk",
]
