"""The messages people read: `PlainError`, the one base of every error whose message is shown as it is; counts
and numbers in plain words ("1 row was left out", never "row(s)"); and what a person typed, shown as text.

The boundary: a `PlainError`'s message is written for the person using the app (what went wrong and how to fix it);
the worker and the pages show it as it is and never a traceback. Any other exception is a bug, reported as such.

What a person typed or uploaded is made safe to show as text: `markdown_literal` for the page's Markdown (Streamlit
renders Markdown in st.markdown, captions, titles, alerts, toasts, widget labels and help, tab, expander and status
labels, radio and segmented-control options, metric labels, image captions), `plotly_literal` for a chart's text
(plotly renders a subset of HTML in titles, tick labels, legends and hover text).

Strings in, strings out; no Streamlit, no plotly. Names, labels, dataset and run names, column and
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
import math
import re


class PlainError(Exception):
    """An error whose message a person reads as it is: it says what is wrong and how to fix it."""


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """"1 run", "3 runs", "1,204 files"; `plural` for nouns that do not just take an s."""
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def agree(count: int, singular: str, plural: str) -> str:
    """The word that goes with `count`: agree(1, "was", "were") is "was", agree(3, "was", "were") is "were"."""
    return singular if count == 1 else plural


def plain_number(value: object, significant: int = 3) -> str:
    """A number as a person writes it: 10.0 → "10", 0.00005 → "0.00005", 0.12345 → "0.123", 12345.6 → "12,346",
    True → "on"; anything that is not a number is shown as it is, and a missing one as "–"."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "on" if value else "off"
    if not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "infinite" if value > 0 else "minus infinite"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 10 ** significant:
        return f"{round(value):,}"
    rounded = float(f"{value:.{significant}g}")  # keeps `significant` digits whatever the size
    if rounded.is_integer():
        return f"{int(rounded):,}"
    return f"{rounded:,.{max(significant - 1 - _exponent(rounded), 0)}f}".rstrip("0").rstrip(".")


def _exponent(value: float) -> int:
    """The power of ten of a number's first digit: 123 → 2, 0.05 → -2."""
    return int(f"{abs(value):e}".split("e")[1])


def percent(share: float | None, digits: int = 1) -> str:
    """A share as a percentage a person reads: 0.8763 → "87.6 %", 0.25 → "25 %", None → "–"."""
    if share is None or share != share:
        return "–"
    text = f"{share * 100:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{share * 100:.0f}"
    return f"{text} %"

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
