"""Playground for table models: fill in a form for one row, or upload a table and download its predictions."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from core.data.uploads import SUPPORTED_EXTENSIONS, read_upload
from core.engine import charts
from core.engine.runs import Run
from core.messages import PlainError, agree, counted, markdown_literal
from core.tasks.tabular.cells import TabularError
from core.tasks.text_classification.data import frame_to_csv_bytes
from ui.common import state
from ui.common.widgets import read_upload_once
from ui.playground.predictors import predictor_for

UPLOAD_TYPES = [extension.lstrip(".") for extension in SUPPORTED_EXTENSIONS if extension != ".txt"]
FORM_COLUMNS = 3
PROBLEMS_LISTED = 10


def render(run: Run) -> None:
    try:
        predictor = predictor_for(run)
    except (PlainError, OSError, ValueError) as error:
        st.error(f"This run's model could not be loaded: {markdown_literal(error)}", icon=":material/error:")
        return
    one, many = st.tabs(["One row (fill in a form)", "Many rows (upload a table)"])
    with one:
        form(predictor, run.id)
    with many:
        table(predictor, run.id)


# ---------------------------------------------------------------------------------------------------- one row


def number_input(item: dict[str, Any], key: str, container) -> float | None:
    low, high = item["min"], item["max"]
    help_text = (f"Seen in training: {_number(low)} to {_number(high)}. Starts at the value empty cells were "
                 "filled with, so leaving it as it is means 'unknown'.")
    if item.get("whole"):
        return container.number_input(markdown_literal(item["column"]), value=int(round(item["default"])), step=1,
                                      key=key,
                                      help=help_text)
    spread = high - low if math.isfinite(high - low) and high > low else 1.0
    step = float(10 ** math.floor(math.log10(spread / 100))) if spread > 0 else 0.01
    return container.number_input(markdown_literal(item["column"]), value=float(item["default"]), step=step, key=key,
                                  format="%.4g" if step < 0.01 else "%.2f", help=help_text)


def form_values(predictor, key: str) -> dict[str, Any]:
    """One widget per input column: numbers as number boxes, categories as a choice of the values it knows."""
    values: dict[str, Any] = {}
    columns = st.columns(FORM_COLUMNS)
    for i, item in enumerate(predictor.input_columns):
        container = columns[i % FORM_COLUMNS]
        widget_key = f"{key}_{item['column']}"
        if item["kind"] == "number":
            values[item["column"]] = number_input(item, widget_key, container)
        elif item["kind"] == "choice":
            options = item["options"]
            default = options.index(item["default"]) if item["default"] in options else 0
            values[item["column"]] = container.selectbox(markdown_literal(item["column"]), options, index=default,
                                                         key=widget_key,
                                                         help="The values seen in training.")
        else:  # a names column: only its title (Mr, Mrs, Miss…) is used
            values[item["column"]] = container.text_input(
                markdown_literal(item["column"]), key=widget_key, placeholder="Surname, Title. Given names",
                help="Only the title (Mr, Mrs, Miss, Master…) is used, written 'Surname, Title. Given names'.")
    return values


def form(predictor, run_id: str) -> None:
    key = f"play_table_{run_id}"
    st.caption(f"Fill in a row and see what the model predicts for **{markdown_literal(predictor.target)}**. Every "
               "field starts at a typical value.")
    values = form_values(predictor, key)
    try:
        result = predictor.predict_one(values)
    except TabularError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return
    st.divider()
    if predictor.task == "regression":
        st.metric(f"Predicted {markdown_literal(predictor.target)}", _number(result.prediction))
        return
    probability = result.probabilities[result.prediction]
    answer = markdown_literal(f"{predictor.target}: {result.prediction}")
    st.markdown(f"Predicted **{answer}** ({probability:.0%} sure)")
    st.plotly_chart(charts.probability_bars(result.probabilities), key=f"{key}_bars")


# ---------------------------------------------------------------------------------------------------- many rows


def read_table(uploaded) -> pd.DataFrame | None:
    loaded = read_upload_once(uploaded, lambda name, raw: read_upload(name, raw, state.workspace()), "play_table")
    return None if loaded is None else loaded.frame


def table(predictor, run_id: str) -> None:
    needed = [item["column"] for item in predictor.input_columns]
    st.caption(f"A table with the columns {', '.join(f'**{markdown_literal(c)}**' for c in needed)} (others are kept "
               "and ignored; empty cells are filled the way training filled them).")
    st.download_button("Download an empty table with these columns", frame_to_csv_bytes(pd.DataFrame(columns=needed)),
                       "template.csv", key=f"play_table_template_{run_id}", icon=":material/download:")
    uploaded = st.file_uploader("Table to predict", type=UPLOAD_TYPES, key=f"play_table_file_{run_id}")
    if uploaded is None:
        return
    frame = read_table(uploaded)
    if frame is None:
        return
    try:
        result = predictor.predict_table(frame)
    except TabularError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return
    show_problems(result["problem"])
    st.caption(f"Predictions for {len(result):,} rows (the first 1,000 are shown; the download has all).")
    st.dataframe(result.head(1000), hide_index=True, key=f"play_table_result_{run_id}")
    st.download_button("Download predictions (.csv)", frame_to_csv_bytes(result), "predictions.csv",
                       key=f"play_table_dl_{run_id}", icon=":material/download:", type="primary")


def show_problems(problems: pd.Series) -> None:
    flagged = [(i, text) for i, text in enumerate(problems) if text]
    if not flagged:
        return
    lines = [f"- Row {i + 1}: {markdown_literal(text)}." for i, text in flagged[:PROBLEMS_LISTED]]  # cells quoted
    if len(flagged) > PROBLEMS_LISTED:
        lines.append(f"- …and {len(flagged) - PROBLEMS_LISTED} more (see the 'problem' column).")
    st.warning(f"{counted(len(flagged), 'row')} had something odd; {agree(len(flagged), 'it', 'they')} still got a "
               "prediction.\n\n"
               + "\n".join(lines),
               icon=":material/warning:")


def _number(value: float) -> str:
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"
