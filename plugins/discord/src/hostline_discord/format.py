"""Agent Markdown as Discord messages: at most 2,000 characters each.

:func:`render` walks hostline's CommonMark + GFM document model
(:mod:`hostline.markdown`) and writes the Markdown Discord understands:
bold, italics, strikethrough, code spans and fenced blocks, quotes, lists,
headings (levels 1-3; deeper ones become bold lines), masked links. Tables,
which Discord cannot show, become aligned monospace blocks; images become
links; literal text has Discord's markup characters escaped so it shows
as written.

:func:`split_message` cuts the rendered text at paragraph, then line, then
word boundaries, and never leaves a fenced code block broken: a block
longer than one message is closed at the end of one chunk and reopened
(same fence, same language) at the start of the next, so every message
renders on its own. :func:`render_chunks` does both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hostline import markdown as md

__all__ = ["MAX_CONTENT", "escape_markdown", "render", "render_chunks", "split_message"]

#: Discord's limit on a message's ``content``.
MAX_CONTENT = 2000
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})([^\n]*)")


class _Block:
    """Where fenced code blocks start and end in a run of pieces."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.marker: str | None = None  # the open block's fence
        self.opener = ""  # the line that reopens it in the next chunk
        self.start = -1  # index of its opening line
        self.last_break = -1  # index of the last blank line outside blocks

    def step(self, piece: tuple[str, str], index: int) -> None:
        """Account for ``piece`` (text, separator before it) at ``index``."""
        line, sep = piece
        if sep != "\n" and index > 0:
            return  # the rest of a cut line: neither a fence nor a blank line
        if self.marker is None:
            m = _FENCE.fullmatch(line)
            cap = max(3, self.limit // 8)  # fences longer than that are left as text
            if m is not None and not (m.group(1)[0] == "`" and "`" in m.group(2)) and \
                    len(m.group(1)) <= cap:
                self.marker = m.group(1)
                self.opener = (m.group(1) + m.group(2).strip())[:cap]
                self.start = index
            elif not line.strip():
                self.last_break = index
        else:
            stripped = line.strip()
            if len(line) - len(line.lstrip(" ")) <= 3 and len(stripped) >= len(self.marker) \
                    and set(stripped) == {self.marker[0]}:
                self.marker = None

    @classmethod
    def scan(cls, pieces: list[tuple[str, str]], limit: int) -> _Block:
        block = cls(limit)
        for i, piece in enumerate(pieces):
            block.step(piece, i)
        return block


def _pieces(text: str, room: int) -> list[tuple[str, str]]:
    """Lines of ``text`` as (text, separator before it); over-long lines are
    cut at spaces where they can be (hard otherwise)."""
    out: list[tuple[str, str]] = []
    for line in text.split("\n"):
        sep = "\n"
        while len(line) > room:
            space = line.rfind(" ", 0, room + 1)
            cut = space if space > room // 2 else room
            out.append((line[:cut], sep))
            sep = " " if cut == space else ""
            line = line[cut + 1:] if cut == space else line[cut:]
        out.append((line, sep))
    return out


def _joined(pieces: list[tuple[str, str]]) -> str:
    return "".join(sep + text if i else text for i, (text, sep) in enumerate(pieces))


def split_message(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """``text`` in chunks of at most ``limit`` characters, code blocks intact.

    Chunks are cut at a paragraph break when the first part is at least
    half a message, else at a line break (a word break inside over-long
    lines); a code block that starts late in a message moves to the next
    one rather than being split.
    """
    if limit < 16:
        raise ValueError("limit must be at least 16")
    chunks: list[str] = []

    def emit(pieces: list[tuple[str, str]]) -> None:
        out = _joined(pieces).strip("\n")
        if out.strip():
            chunks.append(out)

    current: list[tuple[str, str]] = []
    size = 0
    block = _Block(limit)
    for piece in _pieces(text, limit // 2):
        while True:
            after = block
            if block.marker is not None or _FENCE.match(piece[0]):
                after = _Block.scan([*current, piece], limit)
            reserve = len(after.marker) + 1 if after.marker is not None else 0
            grown = size + len(piece[0]) + (len(piece[1]) if current else 0)
            if grown + reserve <= limit:
                break
            if block.marker is None and block.last_break > 0 and \
                    len(_joined(current[:block.last_break])) >= limit // 2:
                emit(current[:block.last_break])  # end at the paragraph break
                current = current[block.last_break + 1:]
            elif block.marker is not None and block.start > 0 and \
                    len(_joined(current[:block.start])) >= limit // 4:
                emit(current[:block.start])  # the block moves to the next message
                current = current[block.start:]
            elif block.marker is not None:
                emit([*current, (block.marker, "\n")])  # close here, reopen in the next
                current = [(block.opener, "\n")]
            else:
                emit(current)
                current = []
            block = _Block.scan(current, limit)
            size = len(_joined(current))
        size += len(piece[0]) + (len(piece[1]) if current else 0)
        current.append(piece)
        block.step(piece, len(current) - 1)
    # A block left open runs to the end (CommonMark): close it so the message renders.
    emit([*current, (block.marker, "\n")] if block.marker is not None else current)
    return chunks


_ESCAPE = re.compile(r"([\\*_~`|<])")
_LINE_START = re.compile(r"(?m)^(\s*)([>#+-]|\d+\.(?=\s))")


def escape_markdown(text: str) -> str:
    """Literal text shown as written: markup characters get a backslash
    (Discord hides it), line-start markers too, and ``](`` cannot start a link."""
    out = _ESCAPE.sub(r"\\\1", text).replace("](", "]\\(")
    return _LINE_START.sub(lambda m: m.group(1) + (m.group(2)[:-1] + "\\." if m.group(2)[0]
                                                   .isdigit() else "\\" + m.group(2)), out)


def _fence(code: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=2)
    return "`" * max(3, longest + 1)


def _code_span(code: str) -> str:
    if "`" not in code:
        return f"`{code}`"
    ticks = "`" * (max(len(m) for m in re.findall(r"`+", code)) + 1)
    return f"{ticks} {code} {ticks}"


class _Renderer(md.Visitor[str]):
    """Discord Markdown for one document."""

    def inlines(self, nodes: Iterable[md.Inline]) -> str:
        return "".join(self.visit(n) for n in nodes)

    def blocks(self, nodes: Iterable[md.Block]) -> str:
        return "\n\n".join(out for out in (self.visit(n) for n in nodes) if out)

    def visit_document(self, node: md.Document) -> str:
        return self.blocks(node.children)

    def visit_text(self, node: md.Text) -> str:
        return escape_markdown(node.text)

    def visit_code_span(self, node: md.CodeSpan) -> str:
        return _code_span(node.code)

    def visit_strong(self, node: md.Strong) -> str:
        return f"**{self.inlines(node.children)}**"

    def visit_emphasis(self, node: md.Emphasis) -> str:
        return f"*{self.inlines(node.children)}*"

    def visit_strikethrough(self, node: md.Strikethrough) -> str:
        return f"~~{self.inlines(node.children)}~~"

    def visit_link(self, node: md.Link) -> str:
        if node.autolink or not node.url.startswith(("http://", "https://")):
            return node.url if node.autolink else self.inlines(node.children)
        label = self.inlines(node.children).replace("](", "]\\(") or escape_markdown(node.url)
        return f"[{label}](<{node.url}>)"

    def visit_image(self, node: md.Image) -> str:
        if node.url.startswith(("http://", "https://")):
            return f"[{escape_markdown(node.alt or 'image')}](<{node.url}>)"
        return escape_markdown(node.alt)

    def visit_soft_break(self, node: md.SoftBreak) -> str:
        return "\n"

    def visit_hard_break(self, node: md.HardBreak) -> str:
        return "\n"

    def visit_paragraph(self, node: md.Paragraph) -> str:
        return self.inlines(node.children)

    def visit_heading(self, node: md.Heading) -> str:
        text = self.inlines(node.children).replace("\n", " ")
        return f"{'#' * node.level} {text}" if node.level <= 3 else f"**{text}**"

    def visit_code_block(self, node: md.CodeBlock) -> str:
        fence = _fence(node.code)
        return f"{fence}{node.language or ''}\n{node.code}\n{fence}"

    def visit_block_quote(self, node: md.BlockQuote) -> str:
        inner = self.blocks(node.children)
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))

    def visit_list_block(self, node: md.ListBlock) -> str:
        out = []
        for i, item in enumerate(node.items):
            marker = f"{node.start + i}." if node.ordered else "-"
            box = "" if item.checked is None else ("☑ " if item.checked else "☐ ")
            body = ("\n" if node.tight else "\n\n").join(
                x for x in (self.visit(b) for b in item.children) if x)
            pad = " " * (len(marker) + 1)
            lines = body.split("\n") or [""]
            out.append(f"{marker} {box}{lines[0]}" + "".join(
                f"\n{pad}{line}" if line else "\n" for line in lines[1:]))
        return ("\n" if node.tight else "\n\n").join(out)

    def visit_table(self, node: md.Table) -> str:
        lines = md.table_lines(node)
        body = "\n".join(lines)
        fence = _fence(body)
        return f"{fence}\n{body}\n{fence}"

    def visit_thematic_break(self, node: md.ThematicBreak) -> str:
        return "───"


def render(text: str) -> str:
    """Agent Markdown (CommonMark + GFM) as Discord Markdown."""
    return _Renderer().visit(md.parse(text))


def render_chunks(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """:func:`render`, then :func:`split_message`."""
    return split_message(render(text), limit)
