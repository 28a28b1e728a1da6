"""Runs: every run with its status and score; open one for charts, evaluation, config and log; compare."""

import streamlit as st

from core.engine.run_table import run_row
from core.engine.runs import get_run, list_runs
from ui.common import router, state
from ui.runs import compare_views, queue_view, run_table, run_views, search_view

router.through_router()

st.title("Runs")
queue_view.render()
workspace = state.workspace()
runs = list_runs(workspace)
if not runs:
    st.info("No runs yet. Start one on the Train page.")
    st.page_link("pages/train.py", label="Go to the Train page →", icon=":material/model_training:")
    st.stop()

rows = [run_row(run) for run in runs]
picked = run_table.runs_table(rows, key="runs_table")
if picked is not None:
    state.select("run", rows[picked]["run"])
st.caption("Click a row to open the run.")
search_view.render(workspace, key="runs_search")  # settings searches: their tries, the best one marked

run = get_run(workspace, state.selected("run") or "")
if run is not None:
    run_views.open_run(run, key="runs")

st.divider()
compare_views.render([run for run in runs if run.problem is None])
