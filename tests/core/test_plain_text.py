"""`markdown_literal` and `plotly_literal`: a hostile name or label is shown as the characters it holds, never as a
link, an image, formatting, an emoji, an icon or a formula (issue 21, item 2).

Markdown is checked with markdown-it (CommonMark, with GFM's tables and strikethrough): the escaped text parses to
plain text only, and reads the same. Streamlit's frontend also rewrites the parsed text (GFM's bare-address links,
emoji and icon shortcodes, arrows); `streamlit_rewrites` below holds the patterns it uses, which the text must not
match. tests/browser/test_browser_hostile_names.py checks the same in a real browser.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from core.engine import charts
from core.messages import WORD_JOINER, markdown_literal, plotly_literal, plotly_literals

HOSTILE = [
    "![m](http://127.0.0.1:9/x.png)",
    "[click](http://evil.example/) and <http://evil.example/>",
    '<a href="http://evil.example/">x</a> <b>bold</b> <img src=x onerror=alert(1)>',
    "http://evil.example/path www.evil.example mail@evil.example mailto:someone@evil.example",
    "**bold** __bold__ *it* _it_ ~~gone~~ ~gone~ `code` ```fence```",
    "# heading",
    "- item",
    "1. first",
    "> quote",
    "a | b\n--|--\nc | d",
    "$x^2$ and $$\\int$$",
    ":red[red] :blue-background[x] :small[s] :help[tip] :material/home: :smile: :+1: :streamlit:",
    "a -> b <- c <-> d -- e >= f <= g ~= h",
    "&amp; &lt;b&gt; &#60;",
    "back\\slash\\ and trailing\\",
    "[^1] footnote and [ref]\n\n[ref]: http://evil.example/",
    "José 日本語 ünïcødé",
    "snake_case_name _lead trail_ a__b__c a*b*c x~y~z",
    "1) one\n+ plus\n* star\n---\ntext\n===",
    "R&D (50% off!) {braces} ^caret \"quotes\" 'single'",
    "",
]


def streamlit_rewrites(text: str) -> list[str]:
    """What Streamlit's frontend (1.67, StreamlitMarkdown.tsx and the remark plugins it loads) would still turn
    into something else in a parsed text node: GFM's bare web and mail addresses (mdast-util-gfm-autolink-literal),
    emoji shortcodes (remark-emoji), Material icons and the Streamlit logo, and the typographic arrows."""
    patterns = [r"(https?://|www(?=\.))[-.\w]+", r"[-.\w+]+@[-\w]+(\.[-\w]+)+", r"\b(mailto|xmpp):[-.\w+]",
                r":[\w+-][\w_+-]*:", r":material_\w+:", r":streamlit:",
                r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)"]
    return [pattern for pattern in patterns if re.search(pattern, text)]


def parsed(markdown: str) -> list:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(markdown)


def visible_text(markdown: str) -> tuple[str, set[str]]:
    """(the text a reader sees, with the invisible word joiners dropped and each line break as one; the kinds of
    inline tokens)."""
    paragraphs, kinds = [], set()
    for token in parsed(markdown):
        for child in token.children or []:
            kinds.add(child.type)
        paragraphs.append("".join({"softbreak": "\n", "hardbreak": "\n"}.get(child.type, child.content)
                                  for child in token.children or []))
    return lines("\n".join(part for part in paragraphs if part).replace(WORD_JOINER, "")), kinds


def lines(text: str) -> str:
    """Markdown shows a line break, a blank line and a new paragraph alike as a break: compare them as one."""
    return re.sub(r"\s*\n\s*", "\n", text)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_literal_parses_to_the_same_characters_and_nothing_else(text):
    escaped = markdown_literal(text)
    shown, kinds = visible_text(escaped)
    assert kinds <= {"text", "softbreak"}, kinds  # no link, image, emphasis, code, HTML, strikethrough
    assert shown == lines(text)  # every character shown as written
    blocks = {token.type for token in parsed(escaped)}
    assert blocks <= {"paragraph_open", "paragraph_close", "inline"}, blocks  # no heading, list, quote or table


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_literal_leaves_nothing_for_streamlits_own_rewrites(text):
    escaped = markdown_literal(text)
    shown = "".join(child.content for token in parsed(escaped) for child in token.children or [])
    assert streamlit_rewrites(shown) == []
    # Read from the raw source before parsing: the icon prefix, Streamlit's directives (:red[...]) and LaTeX ($).
    assert ":material/" not in escaped
    assert not re.search(r"(?<!\\)(:(?=\S)|\$)", escaped)


@pytest.mark.parametrize("text", ["360 examples in 3 classes are ready.",
                                  "Stopped: the model so far (2 %), 1,204 rows.",
                                  "20261207-045000-bag_of_embeddings-cafe", "José 日本語", "R&D's file.csv; 50% off!"])
def test_ordinary_words_read_the_same_in_the_pages_source(text):
    assert markdown_literal(text) == text  # what AppTest and a page's source show, and what a person copies


def test_signs_that_act_only_where_a_line_starts_are_escaped_there_only():
    assert markdown_literal("# 1 - 2.") == "\\# 1 - 2."
    assert markdown_literal("a\n  - b\n2. c\n> d\n===") == "a\n  \\- b\n2\\. c\n\\> d\n\\==="
    assert markdown_literal(3) == "3"


@pytest.mark.parametrize("text", HOSTILE)
def test_plotly_literal_holds_no_tag_and_reads_the_same(text):
    escaped = plotly_literal(text)
    assert "<" not in escaped and ">" not in escaped
    # Plotly turns &amp; &lt; &gt; back into the characters when it draws the text.
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


def strings_in(value) -> list[str]:
    """Every string a figure holds (its data and layout), the tags the app writes itself left out."""
    if isinstance(value, str):
        return [value.replace("<extra></extra>", "")]  # the confusion matrix's hover: no trace name box
    if isinstance(value, dict):
        return [text for key, item in value.items() if key != "template" for text in strings_in(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in strings_in(item)]
    return []


def test_every_chart_that_shows_a_persons_words_draws_them_as_text():
    label = '<a href="http://evil.example/">x</a> <b>&amp;</b>'
    figures = [charts.class_balance_figure({label: 3, "b": 1}, title=f"Rows per class of '{label}'"),
               charts.probability_bars({label: 0.7, "b": 0.3}),
               charts.confusion_matrix_figure([label, "b"], [[1, 0], [0, 1]]),
               charts.per_class_figure([{"label": label, "precision": 1.0, "recall": 1.0}]),
               charts.comparison_figure({label: [{"step": 1, "loss": 1.0}]}, "loss"),
               charts.numeric_histogram([1.0, 2.0], f"'{label}'")]
    for figure in figures:
        texts = strings_in(figure.to_plotly_json())
        assert not [text for text in texts if "<" in text or ">" in text]
        assert any(plotly_literal(label) in text for text in texts)
    assert plotly_literals([label, "b"]) == [plotly_literal(label), "b"]
