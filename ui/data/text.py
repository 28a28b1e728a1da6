"""Data page, texts with labels: upload (or the sample) → preview → columns → checks → class names → split → charts
→ save."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.class_names import named_order, renamed
from core.data.loaded import LoadedTable
from core.data.sample_datasets import SAMPLE_NAME, cafe_feedback
from core.data.splits import split_train_validation
from core.data.uploads import DataError
from core.engine import charts
from core.messages import markdown_literal
from core.tasks.text_classification.data import (
    JOINER_NAMES,
    JOINERS,
    CheckedData,
    TextColumns,
    align_validation,
    check_classification,
    guess_columns,
    other_text_columns,
    save_text_classification,
)
from core.workspace import Workspace
from ui.common.widgets import show_checks
from ui.data.classes import name_classes, show_balance
from ui.data.reading import ANY_NAME, first_row_key, read_uploaded_table, show_table
from ui.data.saving import save_button

SOURCE_UPLOAD = "Upload a file"
SOURCE_SAMPLE = "Use the built-in sample (café feedback)"


def choose_table(workspace: Workspace) -> tuple[LoadedTable, str, str | None] | None:
    """(the table, a name to suggest, the key of its first-row switch: None for the sample)."""
    source = st.radio("Where is your data?", [SOURCE_UPLOAD, SOURCE_SAMPLE], horizontal=True, key="data_text_source")
    if source == SOURCE_SAMPLE:
        return LoadedTable(cafe_feedback(), "built-in sample"), SAMPLE_NAME, None
    # No `type=`: the browser would refuse a file without an extension (the SMS spam corpus has none).
    uploaded = st.file_uploader("Your file: one example per row, with a column of text and a column of labels",
                                key="data_text_file", help=ANY_NAME)
    if uploaded is None:
        return None
    table = read_uploaded_table(uploaded, workspace, "data_text")
    return (table, Path(uploaded.name).stem, first_row_key(uploaded, "data_text")) if table is not None else None


def choose_columns(frame: pd.DataFrame, table_id: str) -> TextColumns:
    """The text column(s), how several are joined, and the label column (empty until chosen)."""
    guessed_text, guessed_label = guess_columns(frame)
    columns = list(frame.columns)
    left, right = st.columns(2)
    # Keys carry the table's identity so a new file starts from fresh guesses rather than stale choices.
    text_column = left.selectbox("Column with the text", columns, key=f"data_text_col_{table_id}",
                                 index=columns.index(guessed_text) if guessed_text in columns else None,
                                 help="Detected automatically: the column of long, varied strings.")
    label_column = right.selectbox("Column with the label (class)", columns, key=f"data_label_col_{table_id}",
                                   index=columns.index(guessed_label) if guessed_label in columns else None,
                                   help="Detected automatically: the column with a few repeated values.")
    if text_column is None:
        return TextColumns((), label_column or "")
    more = left.multiselect("Join more text columns to it (optional)", [c for c in columns if c != text_column],
                            key=f"data_text_more_{table_id}",
                            help="A title and a description, say: each example's text is then the columns' cells, "
                                 "one after the other, in the order picked (empty cells are skipped).")
    joiner = JOINERS[0]
    if more:
        joiner = right.radio("Joined with", JOINERS, format_func=JOINER_NAMES.get, horizontal=True,
                             key=f"data_text_joiner_{table_id}")
    chosen = TextColumns((text_column, *more), label_column or "", joiner)
    describe_text(frame, chosen)
    return chosen


def describe_text(frame: pd.DataFrame, chosen: TextColumns) -> None:
    """Say how the text is made, and point at other columns of text that could be joined to it."""
    if len(chosen.text) > 1:
        written = "" if chosen.joiner == "\n" else f" (“{chosen.joiner}”)"
        st.caption(f"Each text is {' + '.join(map(markdown_literal, chosen.text))}, joined with "
                   f"{JOINER_NAMES[chosen.joiner]}{written}. The saved dataset records which columns and how.")
        return
    others = other_text_columns(frame, list(chosen.text), chosen.label)
    if others:
        one = len(others) == 1
        st.caption(f"{', '.join(map(markdown_literal, others))} also {'holds' if one else 'hold'} text: add "
                   f"{'it' if one else 'them'} under “Join more text columns” to use {'it' if one else 'them'} too.")


def choose_validation(checked: CheckedData, columns: TextColumns, workspace: Workspace, header: bool | None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, list] | None:
    how = st.radio("Validation data (kept aside to measure the model honestly)",
                   ["Split off part of this data", "Upload a separate validation file"], horizontal=True,
                   key="data_text_validation_how")
    if how == "Split off part of this data":
        share = st.slider("Share kept for validation", 0.05, 0.5, 0.2, 0.05, key="data_text_share",
                          help="Each class keeps the same share in both parts (a stratified split).")
        try:
            train, validation = split_train_validation(checked.frame, share)
        except DataError as error:
            st.error(markdown_literal(error), icon=":material/error:")
            return None
        return train, validation, []
    uploaded = st.file_uploader("Validation file (same columns, and a first row like the training file's)",
                                key="data_text_val_file", help=ANY_NAME)
    if uploaded is None:
        st.info("Upload the validation file, or choose to split off part of the data.")
        return None
    table = read_uploaded_table(uploaded, workspace, "data_text_val", header=header)
    if table is None:
        return None
    validation = check_classification(table.frame, list(columns.text), columns.label, validation=True,
                                      joiner=columns.joiner)
    if not validation.ok:
        show_checks(validation.checks)
        return None
    rows, checks = align_validation(validation, checked.labels)
    return checked.frame, rows, validation.checks + checks


def show_charts(train: pd.DataFrame, validation: pd.DataFrame, classes: list[str]) -> None:
    """Examples per class, in the classes' own order (the model's, and the confusion matrix's), and text lengths."""
    counts = pd.concat([train.assign(part="train"), validation.assign(part="validation")])
    left, right = st.columns(2)
    balance = counts.groupby("label").size()
    left.plotly_chart(charts.class_balance_figure({name: int(balance.get(name, 0)) for name in classes}),
                      key="data_text_balance")
    lengths = counts["text"].str.split().str.len()
    right.plotly_chart(charts.length_histogram(lengths.tolist()), key="data_text_lengths")


def render(workspace: Workspace) -> None:
    st.subheader("1 · Your texts")
    chosen = choose_table(workspace)
    if chosen is None:
        return
    table, suggested_name, switch_key = chosen
    show_table(table, switch_key, preview_key="data_text_preview")

    st.subheader("2 · Which column is which")
    frame = table.frame
    table_id = hashlib.sha256(",".join(frame.columns).encode() + str(len(frame)).encode()).hexdigest()[:10]
    columns = choose_columns(frame, table_id)
    checked = check_classification(frame, list(columns.text), columns.label or None, joiner=columns.joiner)
    show_checks(checked.checks)
    if not checked.ok:
        return

    st.subheader("3 · Class names")
    names = name_classes(checked.frame["label"], key=f"data_text_classes_{table_id}_{columns.label}")
    if names is None:
        return

    st.subheader("4 · Training and validation")
    split = choose_validation(checked, columns, workspace, table.header.has_header if table.header else None)
    if split is None:
        return
    train, validation, extra_checks = split
    show_checks(extra_checks)
    named_train, named_validation = (part.assign(label=renamed(part["label"], names)) for part in (train, validation))
    balance = show_balance(pd.concat([named_train, named_validation])["label"].value_counts().to_dict(), "text")
    st.caption(f"{len(train):,} examples to train on, {len(validation):,} to validate on, "
               f"{train['label'].nunique()} classes.")
    show_charts(named_train, named_validation, named_order(train["label"].astype(str), names))

    st.subheader("5 · Save")
    save_form(workspace, suggested_name, train, validation, table.file_format,
              checked.checks + extra_checks + balance, columns, names)


def save_form(workspace: Workspace, suggested_name: str, train: pd.DataFrame, validation: pd.DataFrame,
              source: str, checks: list, columns: TextColumns, names: dict[str, str]) -> None:
    if prepared := save_button(suggested_name, "data_text", lambda name: save_text_classification(
            workspace, name, train, validation, source, checks, columns=columns, class_names=names)):
        st.success(f"Saved “{markdown_literal(prepared.name)}”: {prepared.info.train_rows:,} training and "
                   f"{prepared.info.validation_rows:,} validation examples.", icon=":material/save:")
        st.page_link("pages/train.py", label="Train a model on it →", icon=":material/model_training:",
                     query_params={"dataset": prepared.name})  # this dataset, not the first one
