"""What a person typed or uploaded, made safe to show as text: `markdown_literal` for the page's Markdown (Streamlit
renders Markdown in st.markdown, captions, titles, alerts, toasts, widget labels and help, tab, expander and status
labels, radio and segmented-control options, metric labels, image captions), `plotly_literal` for a chart's text
(plotly renders a subset of HTML in titles, tick labels, legends and hover text).

The boundary: strings in, strings out; no Streamlit, no plotly. Names, labels, dataset and run names, column and
file names, messages quoting any of them, and generated text reach a page through one of these two, or through an
element that shows text as it is (st.text, st.code, a dataframe's cells, selectbox and multiselect options, st.json).

Why both halves of `markdown_literal`: a backslash before a sign stops Markdown's own syntax (links, images,
emphasis, code, HTML, LaTeX, Streamlit's `:red[...]` directives), but Streamlit's frontend also rewrites the text
*after* parsing, where no escape reaches: bare web and mail addresses become links (GFM's autolinks), `:smile:`
becomes an emoji, `:material/home:` an icon, `:streamlit:` a logo image, ` -> ` an arrow. An invisible word joiner
(U+2060) placed inside each of those patterns stops them, and the text reads the same.
"""

from __future__ import annotations

import html
import re

WORD_JOINER = "\u2060"  # no width, no line break: the text looks the same, and copies the same in most places

# Where a word joiner goes: after a colon or an at sign that something follows (":smile:", ":material/x:",
# "http://", "mailto:x", "a@b.example"), between "www" and its dot, and inside Streamlit's arrows and dashes
# ("->", "<-", "--", ">=", "<=", "~=").
_BREAKS = re.compile(r"(?<=[:@])(?=\S)|(?i:(?<=www)(?=\.))|(?<=[<>~-])(?=[>=-])")
# Signs that act wherever they are: a backslash (it escapes the next sign), code, emphasis, strikethrough, links and
# images ([…](…)), HTML and autolinks (<…>), LaTeX ($), tables (|), and a colon that starts a directive (:red[…]).
_ANYWHERE = re.compile(r"[\\`*~\[\]<>$|]|:(?=\S)")
# An underscore between two letters or digits (a_b, run_name) starts no emphasis; one anywhere else can.
_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_ENTITY = re.compile(r"&(?=#?\w+;)")  # "&amp;" would be read as "&"
# Signs that act only where a line starts (after up to three spaces): headings, lists, quotes, setext underlines.
_LINE_START = re.compile(r"^([ \t]*)([#>+=-]|\d+(?=[.)]))", re.MULTILINE)


def markdown_literal(text: object) -> str:
    """`text` as Markdown that Streamlit shows exactly as written: never a link, an image, formatting, an emoji, an
    icon or a formula. For any element that renders Markdown; never for one that shows text as it is (st.text,
    st.code, dataframe cells, selectbox options), where the backslashes would show.

    Only signs that act where they stand are escaped, so ordinary words and sentences ("3 rows (2 %).", a run name
    like bag_of_words-cafe) read the same in the page's source as on screen."""
    escaped = _BREAKS.sub(WORD_JOINER, str(text))
    escaped = _ANYWHERE.sub(lambda sign: "\\" + sign.group(0), escaped)
    escaped = _UNDERSCORE.sub(r"\\_", escaped)
    escaped = _ENTITY.sub(r"\\&", escaped)
    return _LINE_START.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match) -> str:
    indent, sign = match.groups()
    if sign[0].isdigit():  # "1." or "1)": the number stays, its dot or bracket is escaped
        return f"{indent}{sign}\\"
    return f"{indent}\\{sign}"


def plotly_literal(text: object) -> str:
    """`text` for a plotly title, axis category, legend entry or hover text: `<`, `>` and `&` as entities, so no tag
    (`<a href>`, `<b>`, `<br>`) and no entity a person wrote is interpreted; plotly shows the characters."""
    return html.escape(str(text), quote=False)


def plotly_literals(texts) -> list[str]:
    """`plotly_literal` of each: a chart's categories (class names, run names)."""
    return [plotly_literal(text) for text in texts]
