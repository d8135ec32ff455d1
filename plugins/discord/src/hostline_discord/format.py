"""Agent Markdown as Discord messages: at most 2,000 characters each.

Discord renders Markdown itself (emphasis, code, fenced blocks, quotes,
lists, headings, masked links), so text goes out as written; what this
module adds is splitting. A long answer is cut at paragraph, then line,
then word boundaries, and never leaves a fenced code block broken: a block
longer than one message is closed at the end of one chunk and reopened
(same fence, same language) at the start of the next, so every message
renders on its own.
"""

from __future__ import annotations

import re

__all__ = ["MAX_CONTENT", "split_message"]

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
            if m is not None and not (m.group(1)[0] == "`" and "`" in m.group(2)) and \
                    len(m.group(1)) <= self.limit // 8:
                self.marker = m.group(1)
                self.opener = (m.group(1) + m.group(2).strip())[:self.limit // 8]
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
    emit(current)
    return chunks
