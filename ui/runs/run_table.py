"""The table of runs on the Runs and Team pages: one row per run (`core.engine.run_table.run_row`), and the row a
person clicked to open a run."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.engine.run_table import SCORE_HELP

COLUMNS = {
    "score": st.column_config.NumberColumn("score", help=SCORE_HELP),
    "metric": st.column_config.TextColumn("metric", help="What the score measures: accuracy and R² are better "
                                                         "higher, a language model's loss lower."),
    "duration_s": st.column_config.NumberColumn("duration (s)"),
    "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm"),
}


def runs_table(rows: list[dict[str, Any]], key: str) -> int | None:
    """Draw the rows; the index of the row clicked, if any."""
    table = pd.DataFrame(rows)
    table["started"] = pd.to_datetime(table["started"], unit="s")
    table["duration_s"] = pd.to_numeric(table["duration_s"], errors="coerce").round()  # None while a run waits
    picked = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row", key=key,
                          column_config=COLUMNS)
    return picked.selection.rows[0] if picked.selection.rows else None
