"""Markdown -> Telegram HTML, Telegram's HTML rules, and splitting (with hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostline import markdown
from hostline_telegram.entities import check_entities
from hostline_telegram.format import (
    Entity,
    FormattedText,
    HTMLParseError,
    escape_html,
    markdown_to_entities,
    parse_html,
    render,
    split_ranges,
    split_text,
    to_html,
    utf16_len,
)


@pytest.mark.parametrize(("md", "html"), [
    ("**bold** and *it* and _it_", "<b>bold</b> and <i>it</i> and <i>it</i>"),
    ("snake_case_name stays", "snake_case_name stays"),
    ("***both***", "<i><b>both</b></i>"),
    ("*a **b** c*", "<i>a <b>b</b> c</i>"),
    ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
    ("`x < 1` and ``a ` b``", "<code>x &lt; 1</code> and <code>a ` b</code>"),
    ("[site](https://e.com/?a=1&b=\"2\")", '<a href="https://e.com/?a=1&amp;b=%222%22">site</a>'),
    ("[ftp](ftp://e.com/x) [rel](/docs) [tg](tg://user?id=1)",
     'ftp rel <a href="tg://user?id=1">tg</a>'),
    ("**bold `code` more**", "<b>bold </b><code>code</code><b> more</b>"),
    ("[`code` link](https://e.com)", '<a href="https://e.com">code link</a>'),
    ("> outer\n> > inner", "<blockquote>outer\n\ninner</blockquote>"),
    ("[bad](javascript:alert(1))", "[bad](javascript:alert(1))"),
    ("~~gone~~ ||not a spoiler||", "<s>gone</s> ||not a spoiler||"),
    ("# Title\n- one\n- **two**", "<b>Title</b>\n\n• one\n• <b>two</b>"),
    ("> quoted\n> more", "<blockquote>quoted\nmore</blockquote>"),
    ("```python\nif a < b:\n    pass\n```\ndone",
     '<pre><code class="language-python">if a &lt; b:\n    pass</code></pre>\n\ndone'),
    ("```\nnever closed", "<pre>never closed</pre>"),
    ("**unclosed and * lone", "**unclosed and * lone"),
    (r"\*escaped\*", "*escaped*"),
])
def test_markdown_to_html(md: str, html: str) -> None:
    assert to_html(markdown_to_entities(md)) == html


# --- the rows of the issue: what a hand-written reader got wrong -----------------------
def test_entity_references_are_decoded_once() -> None:
    assert to_html(markdown_to_entities("Fish &amp; chips")) == "Fish &amp; chips"
    assert markdown_to_entities("Fish &amp; chips &lt;3").text == "Fish & chips <3"


def test_gfm_table_is_an_aligned_monospace_block() -> None:
    ft = markdown_to_entities("| Model | Score |\n|---|--:|\n| small | 9.5 |\n| larger one | 10 |")
    assert ft.text == ("Model      | Score\n"
                       "-----------+------\n"
                       "small      |   9.5\n"
                       "larger one |    10")
    assert [(e.type, e.start, e.end) for e in ft.entities] == [("pre", 0, len(ft.text))]


def test_setext_heading_is_bold() -> None:
    assert to_html(markdown_to_entities("Heading\n===\n\nbody")) == "<b>Heading</b>\n\nbody"
    assert to_html(markdown_to_entities("Sub\n---")) == "<b>Sub</b>"


def test_reference_style_link_is_a_link() -> None:
    md = "See [ref][1] and [Docs].\n\n[1]: https://example.com/a\n[docs]: <https://d.example/x y>"
    assert to_html(markdown_to_entities(md)) == (
        'See <a href="https://example.com/a">ref</a> and <a href="https://d.example/x%20y">'
        "Docs</a>.")


def test_nested_numbered_lists_keep_numbers_and_indentation() -> None:
    md = "1. first\n2. second\n   1. inner\n   2. inner two\n      - deeper\n3. third"
    assert markdown_to_entities(md).text == (
        "1. first\n2. second\n   1. inner\n   2. inner two\n      ▪ deeper\n3. third")


@pytest.mark.parametrize(("html", "error"), [
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
    ("é <br>", 'Unsupported start tag "br" at byte offset 3'),
    ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
])
def test_parse_html_errors_read_like_telegram(html: str, error: str) -> None:
    with pytest.raises(HTMLParseError) as info:
        parse_html(html)
    assert error in str(info.value)


def test_parse_html_entities_and_pre_language() -> None:
    ft = parse_html('<b>a &amp; b</b> &lt;3 &#128512; & <pre><code class="language-py">x</code>'
                    '</pre> <a href="https://e.com">l</a>')
    assert ft.text == "a & b <3 \U0001f600 & x l"
    kinds = {(e.type, e.extra) for e in ft.entities}
    assert ("pre", "py") in kinds and ("text_link", "https://e.com") in kinds
    assert ("code", "py") not in kinds


def test_to_html_closes_and_reopens_overlapping_entities() -> None:
    ft = FormattedText("abcdef", (Entity("bold", 0, 4), Entity("italic", 2, 6)))
    html = to_html(ft)
    assert parse_html(html).text == "abcdef"
    assert html == "<b>ab<i>cd</i></b><i>ef</i>"


def test_split_prefers_paragraph_then_line_then_word() -> None:
    text = "a" * 10 + "\n\n" + "b" * 5 + "\n" + "c c c"
    assert split_text(text, 14) == ["a" * 10 + "\n\n", "b" * 5 + "\n" + "c c c"]
    assert split_text("aaa bbb\nccc ddd", 10) == ["aaa bbb\n", "ccc ddd"]
    assert split_text("aaa bbb ccc", 9) == ["aaa bbb ", "ccc"]
    assert split_text("x" * 10, 4) == ["xxxx", "xxxx", "xx"]


def test_split_avoids_cutting_inside_an_entity() -> None:
    md = "intro words here **a bold phrase that should stay whole** tail"
    ft = markdown_to_entities(md)
    parts = render(md, limit=40)
    assert "".join(p.plain for p in parts) == ft.text
    bold = next(e for e in ft.entities if e.type == "bold")
    cuts = [a for a, _ in split_ranges(ft.text, ft.entities, 40)][1:]
    assert all(not bold.start < c < bold.end for c in cuts)


def test_split_counts_utf16_and_keeps_surrogate_pairs_whole() -> None:
    text = "\U0001f600" * 5000  # 10000 UTF-16 units
    parts = split_text(text)
    assert "".join(parts) == text
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert [len(p) for p in parts] == [2048, 2048, 904]


def test_render_of_a_long_code_block_reopens_pre_in_every_part() -> None:
    md = "```\n" + "\n".join(f"line {i} <x>" for i in range(1500)) + "\n```"
    parts = render(md)
    assert len(parts) > 1
    for p in parts:
        assert p.html is not None and p.html.startswith("<pre>") and p.html.endswith("</pre>")
        assert parse_html(p.html).text == p.plain
        assert utf16_len(p.plain) <= 4096


# --- properties -----------------------------------------------------------------------
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
markdownish = st.lists(st.sampled_from([
    "**", "*", "_", "__", "~~", "||", "`", "```", "```py\n", "[", "](https://e.com/x_y)",
    "](", ")", "\n", "\n\n", "# ", "> ", "- ", " ", "word", "snake_case", "<", ">", "&",
    "&amp;", "\\", "\U0001f600", "é", "\u200d", "a" * 30,
]), max_size=60).map("".join)
limits = st.sampled_from([2, 3, 5, 8, 17, 64, 4096])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, limit=limits)
def test_split_text_joins_back_within_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert "".join(parts) == text
    assert all(0 < utf16_len(p) <= limit for p in parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(md=st.one_of(markdownish, texts), limit=limits)
def test_render_markdown_parts_are_valid_and_complete(md: str, limit: int) -> None:
    whole = markdown_to_entities(md)
    check_entities(whole)
    assert whole.text == markdown.to_plain(markdown.parse(md))
    parts = render(md, "markdown", limit)
    assert "".join(p.plain for p in parts) == whole.text
    for p in parts:
        assert utf16_len(p.plain) <= limit
        assert p.html is not None
        back = parse_html(p.html)  # Telegram's rules: no broken or unsupported tags
        assert back.text == p.plain
        check_entities(back)  # and the Bot API's entity rules


@settings(max_examples=200, deadline=None)
@given(text=texts)
def test_escape_round_trips_through_telegram_html(text: str) -> None:
    assert parse_html(escape_html(text)).text == text


@settings(max_examples=200, deadline=None)
@given(html=st.one_of(markdownish, texts, st.lists(st.sampled_from(
    ["<b>", "</b>", "<i>", "</i>", "<a href='https://x'>", "</a>", "<pre>", "</pre>", "x",
     "<code class=\"language-py\">", "</code>", "&lt;", "&", " ", "\n", "<tg-spoiler>",
     "</tg-spoiler>"]), max_size=30).map("".join)), limit=limits)
def test_render_html_mode_never_crashes_and_keeps_limits(html: str, limit: int) -> None:
    parts = render(html, "html", limit)
    for p in parts:
        assert utf16_len(p.plain) <= limit
    try:
        ft = parse_html(html)
    except HTMLParseError:
        assert "".join(p.plain for p in parts) == html  # sent as is; Telegram decides
    else:
        assert "".join(p.plain for p in parts) == ft.text
        for p in parts:
            assert p.html is not None and parse_html(p.html).text == p.plain


@settings(max_examples=200, deadline=None)
@given(text=texts)
def test_render_plain_mode_is_the_text(text: str) -> None:
    parts = render(text, "plain", 50)
    assert "".join(p.plain for p in parts) == text
    assert all(p.html is None for p in parts)


@pytest.mark.parametrize("hostile", [
    "[a](" * 20000, "[" * 20000 + "]" * 50, "**_~~||`[" * 10000, "*a " * 30000,
    "".join("`" * k + "a " for k in range(1, 300)), "(" * 20000 + "[x](https://e.com)",
])
def test_hostile_markdown_renders_in_linear_time(hostile: str) -> None:
    # A per-opener scan made these quadratic (minutes); they must stay quick.
    parts = render(hostile)
    assert "".join(p.plain for p in parts) == markdown_to_entities(hostile).text
    assert all(utf16_len(p.plain) <= 4096 for p in parts)
