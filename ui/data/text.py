"""Data page, texts with labels: upload (or the sample) → preview → columns → checks → split → charts → save."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.sample_datasets import SAMPLE_NAME, cafe_feedback
from core.data.splits import split_train_validation
from core.data.upload_limits import preview
from core.data.uploads import SUPPORTED_EXTENSIONS, DataError, LoadedTable, read_upload
from core.engine import charts
from core.tasks.text_classification.data import (
    CheckedData,
    align_validation,
    check_classification,
    guess_columns,
    save_text_classification,
)
from core.workspace import Workspace
from ui.common.widgets import read_upload_once, show_checks
from ui.data.saving import save_button

UPLOAD_TYPES = [extension.lstrip(".") for extension in SUPPORTED_EXTENSIONS]
SOURCE_UPLOAD = "Upload a file"
SOURCE_SAMPLE = "Use the built-in sample (café feedback)"


def read_uploaded(uploaded, workspace: Workspace) -> LoadedTable | None:
    """The uploaded file as a table, read once per distinct file; a plain message instead of a traceback."""
    return read_upload_once(uploaded, lambda name, raw: read_upload(name, raw, workspace), "data_text")


def choose_table(workspace: Workspace) -> tuple[LoadedTable, str] | None:
    source = st.radio("Where is your data?", [SOURCE_UPLOAD, SOURCE_SAMPLE], horizontal=True, key="data_text_source")
    if source == SOURCE_SAMPLE:
        return LoadedTable(cafe_feedback(), "built-in sample"), SAMPLE_NAME
    uploaded = st.file_uploader(
        "Your file: one example per row, with a column of text and a column of labels",
        type=UPLOAD_TYPES, key="data_text_file",
        help="CSV, TSV, JSON, JSON Lines, Parquet, or TXT with one example per line "
             "(`__label__positive great film`).")
    if uploaded is None:
        return None
    table = read_uploaded(uploaded, workspace)
    return (table, Path(uploaded.name).stem) if table is not None else None


def choose_columns(frame: pd.DataFrame, table_id: str) -> tuple[str | None, str | None]:
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
    return text_column, label_column


def choose_validation(checked: CheckedData, text_column: str, label_column: str,
                      workspace: Workspace) -> tuple[pd.DataFrame, pd.DataFrame, list] | None:
    how = st.radio("Validation data (kept aside to measure the model honestly)",
                   ["Split off part of this data", "Upload a separate validation file"], horizontal=True,
                   key="data_text_validation_how")
    if how == "Split off part of this data":
        share = st.slider("Share kept for validation", 0.05, 0.5, 0.2, 0.05, key="data_text_share",
                          help="Each class keeps the same share in both parts (a stratified split).")
        try:
            train, validation = split_train_validation(checked.frame, share)
        except DataError as error:
            st.error(str(error), icon=":material/error:")
            return None
        return train, validation, []
    uploaded = st.file_uploader("Validation file (same columns)", type=UPLOAD_TYPES, key="data_text_val_file")
    if uploaded is None:
        st.info("Upload the validation file, or choose to split off part of the data.")
        return None
    table = read_uploaded(uploaded, workspace)
    if table is None:
        return None
    validation = check_classification(table.frame, text_column, label_column, validation=True)
    if not validation.ok:
        show_checks(validation.checks)
        return None
    rows, checks = align_validation(validation, checked.labels)
    return checked.frame, rows, validation.checks + checks


def show_charts(train: pd.DataFrame, validation: pd.DataFrame) -> None:
    counts = pd.concat([train.assign(part="train"), validation.assign(part="validation")])
    left, right = st.columns(2)
    balance = counts.groupby("label").size().sort_values(ascending=False)
    left.plotly_chart(charts.class_balance_figure(balance.to_dict()), key="data_text_balance")
    lengths = counts["text"].str.split().str.len()
    right.plotly_chart(charts.length_histogram(lengths.tolist()), key="data_text_lengths")


def render(workspace: Workspace) -> None:
    st.subheader("1 · Your texts")
    chosen = choose_table(workspace)
    if chosen is None:
        return
    table, suggested_name = chosen
    frame = table.frame
    st.caption(f"{len(frame):,} rows · {frame.shape[1]} columns · read as {table.file_format}")
    show_checks(table.checks)
    st.dataframe(preview(frame), hide_index=True, height=230)

    st.subheader("2 · Which column is which")
    table_id = hashlib.sha256(",".join(frame.columns).encode() + str(len(frame)).encode()).hexdigest()[:10]
    text_column, label_column = choose_columns(frame, table_id)
    checked = check_classification(frame, text_column, label_column)
    show_checks(checked.checks)
    if not checked.ok:
        return

    st.subheader("3 · Training and validation")
    split = choose_validation(checked, text_column, label_column, workspace)
    if split is None:
        return
    train, validation, extra_checks = split
    show_checks(extra_checks)
    st.caption(f"{len(train):,} examples to train on, {len(validation):,} to validate on, "
               f"{train['label'].nunique()} classes.")
    show_charts(train, validation)

    st.subheader("4 · Save")
    save_form(workspace, suggested_name, train, validation, table.file_format, checked.checks + extra_checks)


def save_form(workspace: Workspace, suggested_name: str, train: pd.DataFrame, validation: pd.DataFrame,
              source: str, checks: list) -> None:
    if prepared := save_button(suggested_name, "data_text", lambda name: save_text_classification(
            workspace, name, train, validation, source, checks)):
        st.success(f"Saved “{prepared.name}”: {prepared.info.train_rows:,} training and "
                   f"{prepared.info.validation_rows:,} validation examples.", icon=":material/save:")
        st.page_link("pages/train.py", label="Train a model on it →", icon=":material/model_training:",
                     query_params={"dataset": prepared.name})  # this dataset, not the first one
