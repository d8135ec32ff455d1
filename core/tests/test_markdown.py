"""hostline.markdown: the parser's document model and the plain-text layout."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostline import markdown as md
from hostline.markdown import (
    BlockQuote,
    CodeBlock,
    Document,
    Heading,
    Link,
    ListBlock,
    ListItem,
    Paragraph,
    Strong,
    Table,
    TableCell,
    Text,
)


def test_entity_references_are_decoded():
    assert md.parse("Fish &amp; chips &#x1F41F;") == Document(
        (Paragraph((Text("Fish & chips \U0001f41f"),)),))


def test_setext_and_atx_headings():
    doc = md.parse("Heading\n===\n\nSub\n---\n\n### Three ###")
    assert doc.children == (Heading(1, (Text("Heading"),)), Heading(2, (Text("Sub"),)),
                            Heading(3, (Text("Three"),)))


def test_reference_links():
    doc = md.parse("See [the docs][1] and [Python].\n\n[1]: https://example.com/docs 'Docs'\n"
                   "[python]: https://python.org")
    (para,) = doc.children
    assert isinstance(para, Paragraph)
    links = [n for n in para.children if isinstance(n, Link)]
    assert links == [Link("https://example.com/docs", (Text("the docs"),), "Docs"),
                     Link("https://python.org", (Text("Python"),))]


def test_gfm_table_layout_is_aligned():
    doc = md.parse("| Name | Qty | Note |\n|:-----|----:|:----:|\n| apple | 3 | **ripe** |\n"
                   "| 日本 | 12 | x |")
    (table,) = doc.children
    assert isinstance(table, Table)
    assert table.align == ("left", "right", "center")
    assert table.rows[0][2] == TableCell((Strong((Text("ripe"),)),))
    assert md.to_plain(doc) == ("Name  | Qty | Note\n"
                                "------+-----+-----\n"
                                "apple |   3 | ripe\n"
                                "日本  |  12 |  x")


def test_autolinks_follow_gfm():
    doc = md.parse("see main.py, www.example.com, https://a.example/x?y=1 and <mailto:a@b.co>")
    links = [n for n in md.walk(doc) if isinstance(n, Link)]
    assert [link.url for link in links] == ["http://www.example.com", "https://a.example/x?y=1",
                                            "mailto:a@b.co"]
    assert all(link.autolink for link in links)


def test_raw_html_is_text():
    assert md.to_plain(md.parse("a <b>bold</b> &lt;tag&gt;")) == "a <b>bold</b> <tag>"


def test_code_blocks_keep_language_and_content():
    doc = md.parse("```python title=x\nif a < b && c:\n    pass\n```\n\n    indented <x>\n")
    assert doc.children == (CodeBlock("if a < b && c:\n    pass", "python"),
                            CodeBlock("indented <x>"))


def test_lists_numbers_nesting_and_tasks():
    text = "3. one\n4. two\n   - inner *em*\n     1. deep\n\n- [ ] todo\n- [x] done"
    doc = md.parse(text)
    first, second = doc.children
    assert isinstance(first, ListBlock) and first.ordered and first.start == 3
    assert isinstance(second, ListBlock)
    assert second.items[1] == ListItem((Paragraph((Text("done"),)),), True)
    assert md.to_plain(doc) == ("3. one\n4. two\n   ◦ inner em\n     1. deep\n\n"
                                "☐ todo\n☑ done")


def test_layout_spans():
    st_ = md.layout(md.parse("# Title\n\n**bold _both_** `code` [link](https://x.y)\n\n> quoted"))
    assert st_.text == "Title\n\nbold both code link\n\nquoted"
    kinds = [(s.kind, st_.text[s.start:s.end], s.data) for s in st_.spans]
    assert kinds == [("heading", "Title", "1"), ("bold", "bold both", None),
                     ("italic", "both", None), ("code", "code", None),
                     ("link", "link", "https://x.y"), ("quote", "quoted", None)]


def test_plain_with_link_urls():
    doc = md.parse("[docs](https://d.example) and https://raw.example")
    assert md.to_plain(doc, link_urls=True) == "docs (https://d.example) and https://raw.example"


def test_visitor_dispatch_and_missing_method():
    class Count(md.Visitor[int]):
        def visit_document(self, node: Document) -> int:
            return sum(self.visit(c) for c in node.children)

        def visit_paragraph(self, node: Paragraph) -> int:
            return 1

        def visit_block_quote(self, node: BlockQuote) -> int:
            return 10 + sum(self.visit(c) for c in node.children)

    assert Count().visit(md.parse("a\n\n> b\n\nc")) == 13
    with pytest.raises(NotImplementedError, match="CodeBlock"):
        Count().visit(md.parse("```\nx\n```"))


def test_deep_nesting_is_bounded():
    doc = md.parse("> " * 5000 + "x\n" + "*" * 5000 + "y" + "*" * 5000 + "\n" + "[" * 3000)
    plain = md.to_plain(doc)
    assert "x" in plain and "y" in plain


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab *_`~[]()<>#|-+1.\n\\&;!:/x")) ), )
def test_parse_and_layout_never_fail(text):
    doc = md.parse(text)
    styled = md.layout(doc)
    for s in styled.spans:
        assert 0 <= s.start < s.end <= len(styled.text)
    assert all(isinstance(n, md.Node) for n in md.walk(doc))


# --------------------------------------------------------------------------- splitting
def test_split_prefers_paragraphs_then_lines_then_words():
    styled = md.layout(md.parse("aaaa bbbb\n\ncccc dddd\neeee"))
    parts = md.split_styled(styled, 12)
    assert [p.text for p in parts] == ["aaaa bbbb\n\n", "cccc dddd\n", "eeee"]
    assert [p.text for p in md.split_styled(md.layout(md.parse("aaaa bbbb cccc")), 10)] == [
        "aaaa bbbb ", "cccc"]


def test_split_keeps_code_blocks_whole_when_they_fit():
    text = "intro line here\n\n```py\nx = 1\ny = 2\n```\n\nafter"
    parts = md.split_styled(md.layout(md.parse(text)), 20)
    assert [p.text for p in parts] == ["intro line here\n\n", "x = 1\ny = 2\n\nafter"]
    pre = [s for s in parts[1].spans if s.kind == "pre"]
    assert pre and parts[1].text[pre[0].start:pre[0].end] == "x = 1\ny = 2"


def test_split_long_code_block_between_lines_each_part_a_block():
    code = "\n".join(f"line {i}" for i in range(30))
    parts = md.split_styled(md.layout(md.parse(f"```\n{code}\n```")), 50)
    assert "".join(p.text for p in parts) == code
    for p in parts:
        assert [s.kind for s in p.spans] == ["pre"]
        assert p.text.endswith("\n") or p is parts[-1]  # cut between lines


def test_split_measure_on_markup_and_utf16():
    styled = md.layout(md.parse("**" + "😀" * 10 + "**"))
    parts = md.split_styled(styled, 8, lambda p: md.utf16_len(p.text))
    assert [len(p.text) for p in parts] == [4, 4, 2]
    with pytest.raises(ValueError, match="too small"):
        md.split_styled(styled, 1, lambda p: md.utf16_len(p.text))


def test_split_never_cuts_a_grapheme_when_avoidable():
    text = "e\u0301" * 10
    parts = md.split_styled(md.StyledText(text), 5)
    assert all(not p.text.startswith("\u0301") for p in parts)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab *_`~[]()<>#|-1.\n😀é\u0301")), max_size=300),
       st.integers(min_value=2, max_value=60))
def test_split_properties(text, limit):
    styled = md.layout(md.parse(text))
    parts = md.split_styled(styled, limit, lambda p: md.utf16_len(p.text))
    assert "".join(p.text for p in parts) == styled.text
    assert all(md.utf16_len(p.text) <= limit for p in parts)
