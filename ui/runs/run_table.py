"""The table of runs on the Runs and Team pages: one row per run (`core.engine.run_table.run_row`), and the row a
person clicked to open a run."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.engine.run_table import MAJORITY_HELP, MAJORITY_LABEL, SCORE_HELP
from core.messages import percent

COLUMNS = {
    # Text, not numbers: one column holds accuracies (read as percentages), R² and losses, row by row.
    "score": st.column_config.TextColumn("score", help=SCORE_HELP),
    "majority": st.column_config.TextColumn(MAJORITY_LABEL, help=MAJORITY_HELP),
    "metric": st.column_config.TextColumn("metric", help="What the score measures: accuracy and R² are better "
                                                         "higher, a language model's loss lower."),
    "duration_s": st.column_config.NumberColumn("duration (s)"),
    "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm"),
}
# A click on a cell selects only that cell in "single-row" mode (only the row's checkbox selects the row), so the
# table takes cell clicks too, and either opens the row's run.
SELECTION_MODES = ["single-row", "single-cell"]


def score_text(value: Any, metric: str) -> str:
    """A score as the run's Evaluation tab words it: an accuracy as a percentage, R² and losses as numbers."""
    if not isinstance(value, int | float) or value != value:
        return "–"
    return percent(value) if metric == "accuracy" else f"{value:.3f}"


def clicked_row(selection: Any) -> int | None:
    """The row of a selection: its checked row, or the row of its selected cell."""
    if selection.rows:
        return selection.rows[0]
    if selection.cells:
        return selection.cells[0][0]
    return None


def runs_table(rows: list[dict[str, Any]], key: str) -> int | None:
    """Draw the rows; the index of the row just clicked, if any.

    Only a new click counts: the table keeps its selection from one script run to the next, and the run it
    pointed at may since have been deleted (the next run sliding into its place) or left for another one."""
    table = pd.DataFrame(rows)
    table["started"] = pd.to_datetime(table["started"], unit="s")
    table["duration_s"] = pd.to_numeric(table["duration_s"], errors="coerce").round()  # None while a run waits
    table["score"] = [score_text(value, metric) for value, metric in zip(table["score"], table["metric"])]
    table["majority"] = [score_text(value, "accuracy") for value in table["majority"]]
    picked = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode=SELECTION_MODES, key=key,
                          column_config=COLUMNS)
    selection = {"rows": list(picked.selection.rows), "cells": [tuple(cell) for cell in picked.selection.cells]}
    seen = f"{key}_seen_selection"
    if st.session_state.get(seen) == selection:
        return None
    st.session_state[seen] = selection
    return clicked_row(picked.selection)
