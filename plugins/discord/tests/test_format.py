"""Rendering agent Markdown for Discord and splitting it at 2,000 characters."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hostline_discord import escape_markdown, render, render_chunks, split_message


def fences_balanced(chunk: str, limit: int = 2000) -> bool:
    """No fence left open (fences longer than ``limit // 8`` count as text)."""
    open_fence = None
    for line in chunk.split("\n"):
        m = re.fullmatch(r" {0,3}(`{3,}|~{3,}).*", line)
        if m is None or (open_fence is None and len(m.group(1)) > max(3, limit // 8)):
            continue
        if open_fence is None:
            open_fence = m.group(1)
        elif line.strip() and set(line.strip()) == {open_fence[0]} and \
                len(line.strip()) >= len(open_fence):
            open_fence = None
    return open_fence is None


def test_render_discord_markdown() -> None:
    text = ("# Title\n\nSome **bold**, *it*, ~~gone~~, `code` and a_b_c.\n\n"
            "- one\n- [two](https://example.com)\n\n> quoted\n\n"
            "```py\nprint(1)\n```\n\n| a | b |\n|---|---|\n| 1 | 22 |\n\n#### deep")
    assert render(text) == (
        "# Title\n\nSome **bold**, *it*, ~~gone~~, `code` and a\\_b\\_c.\n\n"
        "- one\n- [two](<https://example.com>)\n\n> quoted\n\n```py\nprint(1)\n```\n\n"
        "```\na | b\n--+---\n1 | 22\n```\n\n**deep**")
    assert escape_markdown("# not a heading *x*") == "\\# not a heading \\*x\\*"
    assert "](" not in render("[x](javascript:alert(1))")  # never a clickable link


def test_long_code_block_is_closed_and_reopened() -> None:
    code = "```python\n" + "\n".join(f"line_{i} = {i}" for i in range(400)) + "\n```"
    chunks = split_message("intro\n\n" + code + "\n\noutro")
    assert len(chunks) >= 3
    assert all(len(c) <= 2000 and fences_balanced(c) for c in chunks)
    assert all(c.startswith("```python") for c in chunks[1:-1])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=300),
    st.builds(lambda lang, body: f"```{lang}\n{body}\n```", st.sampled_from(["", "py", "js"]),
              st.text(alphabet=st.characters(blacklist_characters="`"), max_size=2500)),
    st.just("\n\n"), st.just("x" * 2100), st.just("word " * 500)), max_size=8),
       st.integers(16, 2000))
def test_split_properties(parts: list[str], limit: int) -> None:
    text = "\n".join(parts)
    chunks = split_message(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert all(c.strip() for c in chunks)
    assert all(fences_balanced(c, limit) for c in chunks)
    # Nothing is lost: every non-space character comes out, in order.
    joined = "".join("".join(chunks).split())
    it = iter(joined)
    assert all(ch in it for ch in "".join(text.split()))


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=3000))
def test_render_chunks_fit(text: str) -> None:
    assert all(len(c) <= 2000 for c in render_chunks(text))
