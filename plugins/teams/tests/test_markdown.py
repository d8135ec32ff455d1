"""Teams Markdown: faithful rendering and Markdown-aware splitting (with hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hostline import markdown
from hostline_teams.activities import MAX_TEXT, split_text
from hostline_teams.markdown import split_markdown


def visible(md: str) -> str:
    """What Teams shows of ``md``, without whitespace."""
    return "".join(markdown.to_plain(markdown.parse(md)).split())


def test_code_fence_is_never_cut_and_newlines_are_kept():
    code = "\n".join(f"print({i})  # <&>" for i in range(200))
    text = "Intro paragraph.\n\n```python\n" + code + "\n```\n\nline one\nline two"
    parts = split_text(text, 1000)
    assert len(parts) > 2
    for part in parts:
        assert len(part) <= 1000
        assert part.count("```") % 2 == 0  # every fence opened is closed in the part
    blocks = [b for p in parts for b in markdown.parse(p).children
              if isinstance(b, markdown.CodeBlock)]
    assert "\n".join(b.code for b in blocks) == code
    assert all(b.language == "python" for b in blocks)
    assert parts[-1].endswith("line one\nline two")


def test_tables_are_monospace_blocks():
    [part] = split_text("| Name | Qty |\n|:--|--:|\n| apple | 3 |\n| kiwi | 12 |")
    assert part == "```\nName  | Qty\n------+----\napple |   3\nkiwi  |  12\n```"


def test_markdown_survives_and_literal_markers_are_escaped():
    [part] = split_text("# Title\n\n**bold** _it_ ~~old~~ `x<y` [a](https://e.com)\n\n"
                        "> quoted\n\n1. one\n2. two\n\nsnake_case 2*3*4 <b>")
    assert part == ("# Title\n\n**bold** *it* ~~old~~ `x<y` [a](https://e.com)\n\n"
                    "> quoted\n\n1\\. one\n2\\. two\n\nsnake\\_case 2*3*4 \\<b>")
    assert markdown.to_plain(markdown.parse(part)) == markdown.to_plain(markdown.parse(
        "# Title\n\n**bold** _it_ ~~old~~ `x<y` [a](https://e.com)\n\n> quoted\n\n"
        "1. one\n2. two\n\nsnake_case 2*3*4 <b>"))


def test_text_that_looks_like_a_link_stays_text():
    assert split_text("\\[x](https://e.com) and [] alone") == [
        "\\[x\\](<https://e.com>) and \\[\\] alone"]
    assert split_text("a after []") == ["a after []"]


def test_empty_and_short_texts():
    assert split_text("") == []
    assert split_text("hi") == ["hi"]
    assert len(split_text("word " * 10_000)) == 3
    assert all(len(p) <= MAX_TEXT for p in split_text("word " * 10_000))


markdownish = st.lists(st.sampled_from([
    "**", "*", "_", "~~", "`", "```", "```py\n", "[", "](https://e.com/x_y)", "](", ")",
    "\n", "\n\n", "# ", "> ", "- ", "1. ", "   ", " ", "word", "snake_case", "<", ">", "&",
    "&amp;", "\\", "|", "| a | b |\n|---|---|\n| 1 | 2 |\n", "\U0001f600", "é", "שלום",
    "a" * 30,
]), max_size=50).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(md=markdownish, limit=st.sampled_from([40, 80, 200, 1000]))
@example(md="é[](https://e.com/x_y)_**_", limit=40)  # emphasis marks that could not flank
def test_split_properties(md: str, limit: int) -> None:
    parts = split_markdown(md, limit)
    assert all(len(p) <= limit for p in parts)
    # Nothing lost, nothing doubled: what Teams shows of the parts is the document.
    assert "".join(visible(p) for p in parts) == visible(md)
