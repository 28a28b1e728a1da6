"""Data page, a table: upload (or a sample) → the column to predict → input columns → preprocessing → split → save.

Everything the table needs is decided here and kept as a `TabularPreprocessConfig` in the saved dataset; the
preprocessing itself is fitted on the training rows when a run starts (`core.tasks.tabular.pipeline`). The summary shown
before saving comes from fitting it the same way, on the same training rows. The input columns and preprocessing
widgets are `ui.data.table_inputs`.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from core.config.knobs import knob_help
from core.data.class_names import is_renaming, natural_order
from core.data.loaded import Check, LoadedTable
from core.engine import charts
from core.messages import markdown_literal
from core.tasks.tabular.cells import TabularError, category_text, is_blank
from core.tasks.tabular.columns import TABLE_TASKS, TabularPreprocessConfig, suggest_preprocess_config
from core.tasks.tabular.dataset import (
    SAMPLE_TABLES,
    TableSplit,
    guess_target,
    sample_table,
    save_table_dataset,
    split_table,
)
from core.tasks.tabular.fitting import fit_preprocessor
from core.tasks.tabular.roles import ROLE_NUMERIC, ColumnRole, detect_column_roles, infer_task
from core.workspace import Workspace
from ui.common.widgets import show_checks
from ui.data.classes import name_classes, show_balance
from ui.data.reading import ANY_NAME, first_row_key, read_uploaded_table, show_table
from ui.data.saving import save_button
from ui.data.table_inputs import build_settings, choose_inputs, preprocessing_options

SOURCE_UPLOAD = "Upload a file"
SOURCE_SAMPLE = "Use a built-in sample table"
TASK_TITLES = {"classification": "Classification: one of a few answers",
               "regression": "Regression: an amount"}


# ---------------------------------------------------------------------------------------------------- the table


def choose_table(workspace: Workspace) -> tuple[LoadedTable, str, str, str | None] | None:
    """(the table, a name to suggest, an id that changes when the table does, its first-row switch's key)."""
    source = st.radio("Where is your table?", [SOURCE_UPLOAD, SOURCE_SAMPLE], horizontal=True,
                      key="data_table_source")
    if source == SOURCE_SAMPLE:
        key = st.selectbox("Sample table", list(SAMPLE_TABLES), format_func=lambda k: SAMPLE_TABLES[k].title,
                           key="data_table_sample")
        st.caption(SAMPLE_TABLES[key].description)
        return LoadedTable(sample_table(key), "built-in sample"), f"{key}-sample", f"sample-{key}", None
    # No `type=`: the browser would refuse a file without an extension; the content says what it is.
    uploaded = st.file_uploader("Your table: one row per example, one column per property", key="data_table_file",
                                help=ANY_NAME + " Excel: File → Save As → CSV UTF-8.")
    if uploaded is None:
        return None
    table = read_uploaded_table(uploaded, workspace, "data_table")
    if table is None:
        return None
    first_row = "" if table.header is None else "-names" if table.header.has_header else "-data"
    table_id = hashlib.sha256(uploaded.getvalue()).hexdigest()[:12] + first_row
    return table, Path(uploaded.name).stem, table_id, first_row_key(uploaded, "data_table")


def column_roles(frame: pd.DataFrame, table_id: str) -> dict[str, ColumnRole] | None:
    key = f"data_table_roles_{table_id}"
    if key not in st.session_state:
        try:
            st.session_state[key] = detect_column_roles(frame)
        except TabularError as error:
            st.session_state[key] = str(error)
    roles = st.session_state[key]
    if isinstance(roles, str):
        st.error(markdown_literal(roles), icon=":material/error:")
        return None
    return roles


# ---------------------------------------------------------------------------------------------------- target


def choose_target(frame: pd.DataFrame, table_id: str) -> tuple[str, str] | None:
    columns = [str(c) for c in frame.columns]
    left, right = st.columns(2)
    target = left.selectbox("Column to predict (the target)", columns, index=columns.index(guess_target(frame)),
                            key=f"data_table_target_{table_id}",
                            help="The model learns to fill in this column from the other columns.")
    try:
        guess = infer_task(frame[target])
    except TabularError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return None
    # The key carries the target, so picking another target starts again from that target's own guess.
    task = right.radio("Task", TABLE_TASKS, index=TABLE_TASKS.index(guess.task), format_func=TASK_TITLES.get,
                       key=f"data_table_task_{table_id}_{target}", help=knob_help(TabularPreprocessConfig, "task"))
    st.caption(f"Suggested **{guess.task}**: {markdown_literal(guess.reason)}")
    return target, task


def name_target_classes(frame: pd.DataFrame, target: str, table_id: str) -> pd.DataFrame | None:
    """The table with its classes named as the person named them (classes stored as numbers, like wine quality
    3 to 8, ask for names; typed, or from a classes file): the names replace the values before the split, so the
    model, its charts and the Playground use them. None while a typed name is wrong (the page says why)."""
    values = frame[target].map(lambda v: None if is_blank(v) else category_text(v)).dropna()
    names = name_classes(values, key=f"data_table_names_{table_id}_{target}")
    if names is None or not is_renaming(names):
        return None if names is None else frame
    named = frame[target].map(lambda v: None if is_blank(v) else names.get(category_text(v), category_text(v)))
    order = list(dict.fromkeys(names.get(value, value) for value in natural_order(values.unique())))
    # A categorical column keeps the classes in their values' order (3 poor, 4 fair…), not the names' alphabet.
    return frame.assign(**{target: pd.Categorical(named, categories=order)})


# ---------------------------------------------------------------------------------------------------- split


def choose_split(frame: pd.DataFrame, settings: TabularPreprocessConfig, prefix: str) -> TableSplit | None:
    share = st.slider("Share kept for validation", 0.05, 0.5, 0.2, 0.05, key=f"{prefix}share",
                      help="These rows are never learned from: the model is measured on them. Classification keeps "
                           "each class's share in both parts (a stratified split); regression splits at random.")
    try:
        split = split_table(frame, settings.target, settings.task, share)
    except TabularError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return None
    show_checks(split.checks)
    how = "stratified: each class keeps its share in both parts" if split.stratified else "random rows"
    st.caption(f"{len(split.train):,} rows to train on, {len(split.validation):,} to validate on ({how}).")
    return split


def class_counts(split: TableSplit, target: str) -> dict[str, int]:
    return pd.concat([split.train[target], split.validation[target]]).astype(str).value_counts().to_dict()


def show_target_chart(split: TableSplit, settings: TabularPreprocessConfig, key: str) -> None:
    values = pd.concat([split.train[settings.target], split.validation[settings.target]])
    if settings.task == "classification":
        figure = charts.class_balance_figure(class_counts(split, settings.target),
                                             title=f"Rows per class of '{settings.target}'")
    else:
        figure = charts.numeric_histogram(pd.to_numeric(values, errors="coerce").dropna().tolist(),
                                          f"'{settings.target}'")
    st.plotly_chart(figure, key=key)


def show_summary(split: TableSplit, settings: TabularPreprocessConfig) -> bool:
    """What will be done to each column, fitted on the training rows exactly as the run will; False on a problem."""
    try:
        preprocessor = fit_preprocessor(split.train, settings)
    except TabularError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return False
    st.dataframe(pd.DataFrame(preprocessor.summary_table()), hide_index=True, key="data_table_summary",
                 column_config={"what was done": st.column_config.TextColumn("what will be done", width="large")})
    st.caption(f"The model reads {len(preprocessor.feature_names)} numbers per row.")
    return True


# ---------------------------------------------------------------------------------------------------- page


def render(workspace: Workspace) -> None:
    st.subheader("1 · Your table")
    chosen = choose_table(workspace)
    if chosen is None:
        return
    table, suggested_name, table_id, switch_key = chosen
    frame = table.frame
    show_table(table, switch_key, preview_key="data_table_preview")
    roles = column_roles(frame, table_id)
    if roles is None or frame.shape[1] < 2:
        if roles is not None:
            st.error("The table needs at least two columns: one to predict and one to learn from.",
                     icon=":material/error:")
        return

    st.subheader("2 · What to predict")
    picked = choose_target(frame, table_id)
    if picked is None:
        return
    target, task = picked
    if task == "classification":
        frame = name_target_classes(frame, target, table_id)
        if frame is None:
            return
    try:
        suggestion = replace(suggest_preprocess_config(frame, target), task=task)
    except TabularError as error:  # nothing left to learn from, say: every other column is an ID or constant
        st.error(markdown_literal(error), icon=":material/error:")
        return

    st.subheader("3 · Input columns and preprocessing")
    prefix = f"data_table_{table_id}_{target}_"
    choices = choose_inputs(roles, suggestion, prefix + "columns")
    text_columns = [name for name, role in roles.items() if name != target and role.role != ROLE_NUMERIC]
    options = preprocessing_options(suggestion, text_columns, prefix)
    settings = build_settings(target, task, choices, options)
    if settings is None:
        return

    st.subheader("4 · Training and validation")
    split = choose_split(frame, settings, prefix)
    if split is None:
        return
    classification = settings.task == "classification"
    balance = show_balance(class_counts(split, settings.target), "row") if classification else []
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**What will be done to each column** (learned from the training rows only)")
        ready = show_summary(split, settings)
    with right:
        show_target_chart(split, settings, key="data_table_target_chart")
    if not ready:
        return

    st.subheader("5 · Save")
    save_form(workspace, suggested_name, split, settings, table.file_format, split.checks + table.checks + balance)


def save_form(workspace: Workspace, suggested_name: str, split: TableSplit, settings: TabularPreprocessConfig,
              source: str, checks: list[Check]) -> None:
    try:
        prepared = save_button(suggested_name, "data_table", lambda name: save_table_dataset(
            workspace, name, split, settings, source=source, checks=checks))
    except TabularError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return
    if prepared:
        st.success(f"Saved “{markdown_literal(prepared.name)}”: {prepared.info.train_rows:,} training and "
                   f"{prepared.info.validation_rows:,} validation rows, predicting "
                   f"'{markdown_literal(settings.target)}' "
                   f"({settings.task}).", icon=":material/save:")
        st.page_link("pages/train.py", label="Train a model on it →", icon=":material/model_training:",
                     query_params={"dataset": prepared.name})  # this dataset, not the first one
