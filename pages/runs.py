"""Runs: every run with its status and best score; open one for charts, evaluation, config and log; compare."""

import pandas as pd
import streamlit as st

from core.engine.runs import get_run, list_runs, run_row
from ui.common import router, state
from ui.runs import compare_views, queue_view, run_views

router.through_router()

st.title("Runs")
queue_view.render()
workspace = state.workspace()
runs = list_runs(workspace)
if not runs:
    st.info("No runs yet. Start one on the Train page.")
    st.page_link("pages/train.py", label="Go to the Train page →", icon=":material/model_training:")
    st.stop()

table = pd.DataFrame([run_row(run) for run in runs])
table["started"] = pd.to_datetime(table["started"], unit="s")
table["duration_s"] = pd.to_numeric(table["duration_s"], errors="coerce").round()  # None while a run waits
picked = st.dataframe(
    table, hide_index=True, on_select="rerun", selection_mode="single-row", key="runs_table",
    column_config={"duration_s": st.column_config.NumberColumn("duration (s)"),
                   "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm")})
if picked.selection.rows:
    state.select("run", table.iloc[picked.selection.rows[0]]["run"])
st.caption("Click a row to open the run.")

run = get_run(workspace, state.selected("run") or "")
if run is not None:
    st.divider()
    st.subheader(f"Run “{run.id}”")
    run_views.live_panel(run, key="runs_live")
    run_views.actions(run, key="runs_actions")
    run_views.detail_tabs(run, key="runs")

st.divider()
compare_views.render(runs)
