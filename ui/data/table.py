"""Data page, a table: upload (or a sample) → the column to predict → input columns → preprocessing → split → save.

Everything the table needs is decided here and kept as a `TabularPreprocessConfig` in the saved dataset; the
preprocessing itself is fitted on the training rows when a run starts (`core.tasks.tabular.pipeline`). The summary shown
before saving comes from fitting it the same way, on the same training rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from core.config.knobs import all_help, knob_help
from core.data.loaded import Check, LoadedTable
from core.engine import charts
from core.tasks.tabular.cells import TabularError
from core.tasks.tabular.columns import (
    CATEGORICAL_MISSING,
    NUMERIC_MISSING,
    TABLE_TASKS,
    TabularPreprocessConfig,
    suggest_preprocess_config,
)
from core.tasks.tabular.dataset import (
    SAMPLE_TABLES,
    TableSplit,
    guess_target,
    sample_table,
    save_table_dataset,
    split_table,
)
from core.tasks.tabular.fitting import fit_preprocessor
from core.tasks.tabular.roles import ROLE_NOUNS, ROLE_NUMERIC, ColumnRole, detect_column_roles, infer_task
from core.workspace import Workspace
from ui.common.widgets import show_checks
from ui.data.classes import show_balance
from ui.data.reading import ANY_NAME, first_row_key, read_uploaded_table, show_table
from ui.data.saving import save_button

SOURCE_UPLOAD = "Upload a file"
SOURCE_SAMPLE = "Use a built-in sample table"
TASK_TITLES = {"classification": "Classification: one of a few answers",
               "regression": "Regression: an amount"}
AS_NUMBER, AS_CATEGORY = "number", "category"
NO_TITLE = "(none)"
MISSING_TITLES = {"median": "the median", "mean": "the mean", "zero": "zero",
                  "most_frequent": "the most common value", "own_category": "its own value, '(missing)'"}


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
        st.error(roles, icon=":material/error:")
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
        st.error(str(error), icon=":material/error:")
        return None
    # The key carries the target, so picking another target starts again from that target's own guess.
    task = right.radio("Task", TABLE_TASKS, index=TABLE_TASKS.index(guess.task), format_func=TASK_TITLES.get,
                       key=f"data_table_task_{table_id}_{target}", help=knob_help(TabularPreprocessConfig, "task"))
    st.caption(f"Suggested **{guess.task}**: {guess.reason}")
    return target, task


# ---------------------------------------------------------------------------------------------------- inputs


def column_choices(roles: dict[str, ColumnRole], suggestion: TabularPreprocessConfig) -> pd.DataFrame:
    """The editable table of input columns: ticked as suggested, with what was detected and why."""
    rows = []
    for name, role in roles.items():
        if name == suggestion.target:
            continue
        used = name in suggestion.input_columns and name != suggestion.title_from
        noun = ROLE_NOUNS.get(role.role, role.role)
        rows.append({"use": used, "column": name,
                     "use as": AS_NUMBER if role.role == ROLE_NUMERIC else AS_CATEGORY,
                     "detected": f"{noun}: {role.reason}", "missing": role.missing})
    return pd.DataFrame(rows)


def choose_inputs(roles: dict[str, ColumnRole], suggestion: TabularPreprocessConfig, editor_key: str
                  ) -> pd.DataFrame:
    choices = column_choices(roles, suggestion)
    flagged = choices[~choices["use"] & ~choices["column"].eq(suggestion.title_from)]
    if len(flagged):
        st.info("Left out to start with: " + "; ".join(f"**{r.column}** ({r.detected})" for r in
                                                       flagged.itertuples()) + ". Tick a column to use it anyway.",
                icon=":material/visibility_off:")
    return st.data_editor(
        choices, hide_index=True, key=editor_key, disabled=["column", "detected", "missing"],
        column_config={
            "use": st.column_config.CheckboxColumn("use", help="Tick the columns the model may learn from."),
            "use as": st.column_config.SelectboxColumn(
                "use as", options=[AS_NUMBER, AS_CATEGORY], required=True,
                help="number: bigger and smaller mean something (age, price). category: each value is a separate "
                     "kind (a port, a colour), even when written as a number."),
            "detected": st.column_config.TextColumn("what was detected", width="large"),
            "missing": st.column_config.NumberColumn("empty cells")})


def preprocessing_options(suggestion: TabularPreprocessConfig, text_columns: list[str], prefix: str) -> dict:
    """Scaling, missing values, the one-hot limit and the optional title-from-name, each with its help text."""
    helps = all_help(TabularPreprocessConfig)
    columns = st.columns(3)
    scale = columns[0].checkbox("Scale number columns", value=suggestion.scale_numeric, key=f"{prefix}scale",
                                help=helps["scale_numeric"])
    numeric_missing = columns[1].selectbox("Empty number cells", NUMERIC_MISSING, key=f"{prefix}num_missing",
                                           format_func=lambda v: f"fill with {MISSING_TITLES[v]}",
                                           help=helps["numeric_missing"])
    categorical_missing = columns[2].selectbox("Empty category cells", CATEGORICAL_MISSING,
                                               key=f"{prefix}cat_missing",
                                               format_func=lambda v: f"fill with {MISSING_TITLES[v]}",
                                               help=helps["categorical_missing"])
    one_hot = columns[0].number_input("Most values per category column", min_value=2, max_value=200,
                                      value=suggestion.one_hot_max_categories, step=1, key=f"{prefix}one_hot",
                                      help=helps["one_hot_max_categories"])
    options = [NO_TITLE, *text_columns]
    title_from = columns[1].selectbox("Take the title (Mr, Mrs…) from", options,
                                      index=options.index(suggestion.title_from or NO_TITLE),
                                      key=f"{prefix}title", help=helps["title_from"])
    return {"scale_numeric": scale, "numeric_missing": numeric_missing, "categorical_missing": categorical_missing,
            "one_hot_max_categories": int(one_hot), "title_from": "" if title_from == NO_TITLE else title_from}


def build_settings(target: str, task: str, choices: pd.DataFrame, options: dict) -> TabularPreprocessConfig | None:
    used = choices[choices["use"].fillna(False).astype(bool)]
    try:
        return TabularPreprocessConfig(
            target=target, task=task,
            numeric_columns=tuple(used.loc[used["use as"] == AS_NUMBER, "column"]),
            categorical_columns=tuple(used.loc[used["use as"] != AS_NUMBER, "column"]), **options)
    except TabularError as error:
        st.error(str(error), icon=":material/error:")
        return None


# ---------------------------------------------------------------------------------------------------- split


def choose_split(frame: pd.DataFrame, settings: TabularPreprocessConfig, prefix: str) -> TableSplit | None:
    share = st.slider("Share kept for validation", 0.05, 0.5, 0.2, 0.05, key=f"{prefix}share",
                      help="These rows are never learned from: the model is measured on them. Classification keeps "
                           "each class's share in both parts (a stratified split); regression splits at random.")
    try:
        split = split_table(frame, settings.target, settings.task, share)
    except TabularError as error:
        st.error(str(error), icon=":material/error:")
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
        st.error(str(error), icon=":material/error:")
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
    suggestion = replace(suggest_preprocess_config(frame, target), task=task)

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
        st.error(str(error), icon=":material/error:")
        return
    if prepared:
        st.success(f"Saved “{prepared.name}”: {prepared.info.train_rows:,} training and "
                   f"{prepared.info.validation_rows:,} validation rows, predicting '{settings.target}' "
                   f"({settings.task}).", icon=":material/save:")
        st.page_link("pages/train.py", label="Train a model on it →", icon=":material/model_training:",
                     query_params={"dataset": prepared.name})  # this dataset, not the first one
