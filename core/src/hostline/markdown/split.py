"""Splitting a laid-out document into messages that fit a channel's limit.

Channels cap a message's size, each in its own unit: Telegram counts UTF-16
code units of the visible text, Teams characters of the Markdown source,
Slack and Discord characters of their markup. :func:`split_styled` cuts a
:class:`StyledText` into consecutive parts whose *measure* (any function of
a part, such as the length of its rendered markup) stays within the limit;
:func:`split_ranges` does the same for any text and protected ranges.

A cut goes after a paragraph break if one fits, else after a line break,
else after a space; cuts outside every span are preferred to cuts inside one
(so a code block or table is cut only when it alone is too long, and then
between lines, each part a valid block of its own). Only a single "word"
longer than the limit is cut hard, and never inside a combining sequence
when avoidable (Python strings hold whole code points, so a surrogate pair
is never split). The parts' texts joined give the whole text back.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from itertools import accumulate

from .text import StyledText

__all__ = ["Measure", "split_ranges", "split_styled", "utf16_len"]

#: The size of a part in a channel's unit.
Measure = Callable[[StyledText], int]

_SEPARATORS = ("\n\n", "\n", " ")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (a character outside the Basic
    Multilingual Plane counts twice), as Telegram and Teams count."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _visible_len(part: StyledText) -> int:
    return len(part.text)


def _bad_cut(text: str, p: int) -> bool:
    """Whether cutting before ``text[p]`` would split a grapheme (combining
    mark, variation selector, zero-width joiner, skin tone) or a CR LF pair."""
    if p <= 0 or p >= len(text):
        return False
    nxt, prev = text[p], text[p - 1]
    if prev == "\u200d" or nxt == "\u200d" or (prev == "\r" and nxt == "\n"):
        return True
    return (unicodedata.combining(nxt) != 0 or "\ufe00" <= nxt <= "\ufe0f"
            or "\U0001f3fb" <= nxt <= "\U0001f3ff")


def split_ranges(text: str, protected: Iterable[tuple[int, int]], limit: int,
                 measure: Callable[[int, int], int]) -> list[tuple[int, int]]:
    """Cut points of ``text``: ``(start, end)`` ranges covering it in order, each
    with ``measure(start, end) <= limit``.

    ``protected`` are ranges (spans, entities) to avoid cutting inside.
    ``measure(start, end)`` is the size of the part ``text[start:end]`` in the
    channel's unit; it must not shrink as a part grows and must be at least
    the part's length in code points (true of UTF-16 units and of any markup
    around the text). Raises ``ValueError`` when a single character does not fit.
    """
    n = len(text)
    if n == 0:
        return []
    if measure(0, n) <= limit:
        return [(0, n)]
    # cover[p] > 0 when the boundary p lies strictly inside a protected range.
    diff = [0] * (n + 2)
    for a, b in protected:
        if b - a > 1:
            diff[a + 1] += 1
            diff[b] -= 1
    cover = list(accumulate(diff))
    out: list[tuple[int, int]] = []
    start = 0
    while measure(start, n) > limit:
        end = _longest_fit(start, min(n, start + limit), limit, measure)
        cut = _best_cut(text, start, end, cover)
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def split_styled(styled: StyledText, limit: int,
                 measure: Measure = _visible_len) -> list[StyledText]:
    """``styled`` cut into consecutive parts, each with ``measure(part) <= limit``
    (by default the number of code points of the part's text; see
    :func:`split_ranges` for what a measure must satisfy).

    A renderer whose output is markup passes ``lambda part: len(render(part))``.
    """
    def size(a: int, b: int) -> int:
        return measure(styled.clip(a, b))

    ranges = split_ranges(styled.text, ((s.start, s.end) for s in styled.spans), limit, size)
    return [styled.clip(a, b) for a, b in ranges]


def _longest_fit(start: int, hi: int, limit: int, measure: Callable[[int, int], int]) -> int:
    """The largest ``end <= hi`` with ``measure(start, end) <= limit``."""
    lo = start + 1
    if measure(start, lo) > limit:
        raise ValueError(f"limit {limit} is too small for a single character")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(start, mid) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _best_cut(text: str, start: int, end: int, cover: list[int]) -> int:
    for inside_ok in (False, True):
        for sep in _SEPARATORS:
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
