"""Data page, a table's input columns and preprocessing: which columns the model learns from (ticked as detected,
with why), as numbers or categories, and how they are scaled and filled, each with its help text.

The boundary: widgets that build a `TabularPreprocessConfig` for `ui.data.table`; what was detected comes from
`core.tasks.tabular.roles`. Column names come from a person's file: they reach the page through
`core.messages.markdown_literal`, or in a table's cells, shown as they are.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.config.knobs import all_help
from core.messages import markdown_literal
from core.tasks.tabular.cells import TabularError
from core.tasks.tabular.columns import CATEGORICAL_MISSING, NUMERIC_MISSING, TabularPreprocessConfig
from core.tasks.tabular.roles import ROLE_NOUNS, ROLE_NUMERIC, ColumnRole

AS_NUMBER, AS_CATEGORY = "number", "category"
NO_TITLE = "(none)"
MISSING_TITLES = {"median": "the median", "mean": "the mean", "zero": "zero",
                  "most_frequent": "the most common value", "own_category": "its own value, '(missing)'"}


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
        st.info("Left out to start with: " + "; ".join(f"**{markdown_literal(r.column)}** "
                                                       f"({markdown_literal(r.detected)})" for r in
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
        st.error(markdown_literal(error), icon=":material/error:")
        return None
