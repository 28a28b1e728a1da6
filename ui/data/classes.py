"""The Data page's classes: naming classes stored as numbers (typed, or read from a classes file such as AG News'
`classes.txt`), and the warning when the classes are uneven or tiny.

The names replace the label values before the dataset is saved (`core.data.class_names`), so every later page shows
them. Values and names come from a person's file, so they reach the page as text, never as Markdown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd
import streamlit as st

from core.data.class_balance import class_balance_checks
from core.data.class_names import checked_names, is_renaming, names_in_order, natural_order, read_class_names
from core.data.loaded import Check, DataError
from core.data.sniffing import is_number
from core.messages import counted, markdown_literal
from ui.common.widgets import show_checks

NAMES_PER_ROW = 4
CLASSES_FILE = ("…or a classes file: one name a line, in the order of the values above (like AG News' classes.txt)")


def name_classes(labels: pd.Series, key: str) -> dict[str, str] | None:
    """{label value: name} as the person named the classes (a value without a name keeps it); None while a name is
    wrong, which the page then says. `key` should change with the data and its label column."""
    counts = labels.astype(str).value_counts()
    values = natural_order(counts.index)
    numbers = all(is_number(value) for value in values)
    title = "Name the classes: they are numbers" if numbers else "Rename the classes (optional)"
    with st.expander(title, expanded=numbers, icon=":material/label:"):
        st.caption("A name replaces its value everywhere: the charts, the confusion matrix, the Playground, the "
                   "Prompt lab's label words and the exported model. The dataset keeps the original values too. "
                   "Leave a name empty to keep the value.")
        fill_from_file(values, key)
        columns = st.columns(NAMES_PER_ROW)
        typed = {value: columns[i % NAMES_PER_ROW].text_input(
                     f"“{markdown_literal(value)}” ({counted(int(counts[value]), 'row')})", key=f"{key}_name_{i}",
                     max_chars=100, placeholder=value)
                 for i, value in enumerate(values)}
        try:
            named = checked_names(typed)
        except DataError as error:
            st.error(markdown_literal(error), icon=":material/error:")
            return None
        if is_renaming(named):
            pairs = [f"{markdown_literal(value)} → {markdown_literal(named[value])}" for value in values[:12]]
            st.caption("Saved as: " + ", ".join(pairs) + (" …" if len(values) > 12 else ""))
    return named


def fill_from_file(values: list[str], key: str) -> None:
    """Names from an uploaded classes file go into the name boxes, once per file (they can be edited after)."""
    uploaded = st.file_uploader(CLASSES_FILE, key=f"{key}_file",
                                help="A text file with one class name a line: the first line names the first value "
                                     f"({markdown_literal(values[0])}), the second line the second, and so on.")
    if uploaded is None:
        return
    raw = uploaded.getvalue()
    try:
        named = names_in_order(read_class_names(raw), values)
    except DataError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return
    seen = f"{key}_file_seen"
    digest = hashlib.sha256(raw).hexdigest()
    if st.session_state.get(seen) != digest:  # a new file fills the boxes; typing afterwards is kept
        st.session_state[seen] = digest
        for i, value in enumerate(values):
            st.session_state[f"{key}_name_{i}"] = named[value]


def show_balance(counts: Mapping[str, int], noun: str) -> list[Check]:
    """Warn when the classes are uneven or tiny; the warnings, to keep with the saved dataset."""
    checks = class_balance_checks(counts, noun)
    show_checks(checks)
    return checks
