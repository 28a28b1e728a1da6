"""What a person typed or uploaded, made safe to show as text: `markdown_literal` for the page's Markdown (Streamlit
renders Markdown in st.markdown, captions, titles, alerts, widget labels, tab and expander labels, radio and
segmented-control options, metric labels), `plotly_literal` for a chart's text (plotly renders a subset of HTML in
titles, tick labels, legends and hover text).

The boundary: strings in, strings out; no Streamlit, no plotly. Names, labels, dataset and run names, column and
file names, messages quoting any of them, and generated text reach a page through one of these two, or through an
element that shows text as it is (st.text, st.code, a dataframe's cells, st.json).

Why both halves of `markdown_literal`: a backslash before a sign stops Markdown's own syntax (links, images,
emphasis, code, HTML, LaTeX, Streamlit's `:red[...]` directives), but Streamlit's frontend also rewrites the text
*after* parsing, where no escape reaches: bare web and mail addresses become links (GFM's autolinks), `:smile:`
becomes an emoji, `:material/home:` an icon, `:streamlit:` a logo image, ` -> ` an arrow. An invisible word joiner
(U+2060) placed inside each of those patterns stops them, and the text reads the same.
"""

from __future__ import annotations

import html
import re
import string

WORD_JOINER = "\u2060"  # no width, no line break: the text looks the same, and copies the same in most places

_ASCII_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")  # CommonMark can escape each of these
# Where a word joiner goes: after a colon (":smile:", ":material/x:", "http://", "mailto:"), after an at sign (a
# mail address), between "www" and its dot, and inside Streamlit's arrows and dashes ("->", "<-", "--", ">=", "~=").
_BREAKS = re.compile(r"(?<=[:@])|(?i:(?<=www)(?=\.))|(?<=[<>~-])(?=[>=-])")


def markdown_literal(text: object) -> str:
    """`text` as Markdown that Streamlit shows exactly as written: never a link, an image, formatting, an emoji, an
    icon or a formula. For any element that renders Markdown; never for one that shows text as it is (st.text,
    st.code, dataframe cells, selectbox options), where the backslashes would show."""
    broken = _BREAKS.sub(WORD_JOINER, str(text))
    return _ASCII_PUNCTUATION.sub(lambda sign: "\\" + sign.group(0), broken)


def plotly_literal(text: object) -> str:
    """`text` for a plotly title, axis category, legend entry or hover text: `<`, `>` and `&` as entities, so no tag
    (`<a href>`, `<b>`, `<br>`) and no entity a person wrote is interpreted; plotly shows the characters."""
    return html.escape(str(text), quote=False)


def plotly_literals(texts) -> list[str]:
    """`plotly_literal` of each: a chart's categories (class names, run names)."""
    return [plotly_literal(text) for text in texts]
