"""Settings searches on the Runs page: pick a search, see its tries in a table and a parallel-coordinates chart, the
best one marked, with a link that opens it in the Playground; a live search is polled and can be stopped.

The search itself is `core.search.driver` (its driver process) and `core.search.folder` (its files); this
module only reads search.json and turns clicks into calls.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.engine.run_folder import DamagedFile
from core.engine.runs import get_run
from core.messages import counted, markdown_literal, plain_number
from core.search.folder import (
    SearchRecord,
    SearchState,
    TrialRecord,
    TrialState,
    list_searches,
    read_search,
    request_search_stop,
    stop_requested,
)
from core.search.space import Dimension, shown_value
from core.workspace import Workspace
from ui.common import state
from ui.common.widgets import duration

POLL_SECONDS = 3.0
SEARCH_STATE_WORDS = {SearchState.STARTING: "Starting", SearchState.RUNNING: "Searching",
                      SearchState.FINISHED: "Finished", SearchState.STOPPED: "Stopped", SearchState.FAILED: "Failed"}
STATE_WORDS = {
    TrialState.RUNNING: "queued or training",
    TrialState.COMPLETED: "completed",
    TrialState.PRUNED: "stopped early (behind the others)",
    TrialState.CUT_SHORT: "stopped (time up)",
    TrialState.STOPPED: "stopped by a person",
    TrialState.FAILED: "failed",
}


def render(workspace: Workspace, key: str = "search") -> None:
    """The workspace's settings searches, if it has any: the one the URL names (else the newest) opened."""
    folders = list_searches(workspace)
    if not folders:
        return
    st.divider()
    st.subheader("Settings searches")
    by_id = {folder.name: folder for folder in folders}
    wanted = state.selected("search")
    st.session_state[f"{key}_pick"] = wanted if wanted in by_id else folders[0].name
    chosen = st.selectbox("Search", list(by_id), key=f"{key}_pick",
                          on_change=lambda: state.select("search", st.session_state[f"{key}_pick"]))
    search_panel(by_id[chosen], key)


def search_panel(folder, key: str) -> None:
    try:
        started_live = read_search(folder).is_live
    except DamagedFile as error:
        st.error(f"This search's files are damaged: {markdown_literal(error)}.", icon=":material/error:")
        return

    @st.fragment(run_every=POLL_SECONDS if started_live else None)
    def panel() -> None:
        try:
            record = read_search(folder)
        except DamagedFile as error:
            st.error(f"This search's files are damaged: {markdown_literal(error)}.", icon=":material/error:")
            return
        summary(record, key)
        if record.trials:
            trials_table(record)
            best_panel(record)
            chart = parallel_coordinates(record)
            if chart is not None:
                st.caption("Each line is one try: its settings, then its score (drag along an axis to pick lines).")
                st.plotly_chart(chart, key=f"{key}_parcoords")
        if started_live and not record.is_live:
            st.rerun()  # it ended: redraw once with the final results, which also stops the polling

    panel()


def summary(record: SearchRecord, key: str) -> None:
    budget = record.settings.budget_seconds
    used = ((record.finished_at or time.time()) - record.started_at) if record.started_at else 0.0
    tries = counted(len(record.trials), "try", "tries")
    header = st.columns([4, 1])
    skipped = (f" · {counted(record.skipped, 'suggestion')} given fewer epochs, to leave time for more tries"
               if record.skipped else "")
    header[0].markdown(f"**{SEARCH_STATE_WORDS[record.state]}** · {duration(min(used, budget))} of "
                       f"{duration(budget)} used · {tries}{skipped}")
    if record.message:
        (st.error if record.state is SearchState.FAILED else st.caption)(markdown_literal(record.message))
    stoppable = record.is_live and not stop_requested(record.folder)
    if stoppable and header[1].button("Stop the search", key=f"{key}_stop", icon=":material/stop_circle:",
                                      help="Stops the tries still training (their models are kept) and marks the "
                                           "best."):
        request_search_stop(record.folder)
        st.toast("Stopping the search; the best try so far will be marked.")
    with st.expander("What the search tries"):
        for dimension in record.space:
            st.markdown(f"- **{dimension.label}**: {dimension.words}")


def trial_rows(record: SearchRecord) -> list[dict[str, Any]]:
    best = record.best
    rows = []
    for position, trial in enumerate(record.trials, start=1):
        row: dict[str, Any] = {"try": position, "best": "★ best" if trial is best else "",
                               "state": STATE_WORDS[trial.state], "score": trial.score}
        row.update({d.label: shown_value(d, trial.params.get(d.name)) for d in record.space})
        ended = trial.finished_at or (time.time() if trial.state is TrialState.RUNNING else None)
        row["duration"] = duration(ended - trial.started_at) if ended and trial.started_at else "–"
        row["run"] = trial.run or "–"
        row["note"] = trial.message
        rows.append(row)
    return rows


def trials_table(record: SearchRecord) -> None:
    metric = record.metric
    better = "higher" if record.greater_is_better else "lower"
    st.dataframe(pd.DataFrame(trial_rows(record)), hide_index=True, column_config={
        "score": st.column_config.NumberColumn(f"{metric} ({better} is better)", format="%.4f",
                                               help="The validation score of the run's model, as the Runs table "
                                                    "shows it. A try stopped early was measured where it stopped."),
        "try": st.column_config.NumberColumn("try", help="In the order they started; the first is your own "
                                                         "settings."),
    })


def best_panel(record: SearchRecord) -> None:
    best = record.best
    if best is None:
        st.caption("No try has completed yet." if record.is_live else "No try completed.")
        return
    position = record.trials.index(best) + 1
    first = record.trials[0]
    note = ""
    if first.state is TrialState.COMPLETED and first.score is not None and best is not first:
        note = f" (your own settings, try 1: {plain_number(first.score, 4)})"
    elif best is first:
        note = " — your own settings: no other try beat them"
    st.success(f"Best so far: try {position}, {record.metric} {plain_number(best.score, 4)}{note}. Its run: "
               f"{markdown_literal(best.run)}.", icon=":material/star:")
    if get_run_safely(record, best.run):
        st.page_link("pages/playground.py", label="Open the best model in the Playground →",
                     icon=":material/touch_app:", query_params={"run": best.run})
        st.page_link("pages/runs.py", label="Open its run (charts, evaluation, settings) →",
                     icon=":material/monitoring:", query_params={"run": best.run, "search": record.id})


def get_run_safely(record: SearchRecord, run_id: str) -> bool:
    """Whether the try's run is still there (a person may have deleted it)."""
    return bool(run_id) and get_run(Workspace(record.folder.resolve().parent.parent), run_id) is not None


# ---------------------------------------------------------------------------------------------------- the chart


def axis(dimension: Dimension, values: list[Any]) -> dict[str, Any]:
    """One parallel-coordinates axis: choices as evenly spaced ticks, a log-scale setting by its powers of ten."""
    if dimension.kind == "choice":
        choices = list(dimension.choices)
        return {"label": dimension.label, "values": [choices.index(v) if v in choices else None for v in values],
                "tickvals": list(range(len(choices))), "ticktext": [shown_value(dimension, c) for c in choices],
                "range": [0, max(len(choices) - 1, 1)]}
    if dimension.kind == "log":
        low, high = math.log10(dimension.low), math.log10(dimension.high)
        ticks = [low + (high - low) * share for share in (0, 0.5, 1)]
        return {"label": dimension.label, "values": [math.log10(v) if v else None for v in values],
                "tickvals": ticks, "ticktext": [plain_number(10 ** t) for t in ticks], "range": [low, high]}
    return {"label": dimension.label, "values": values, "range": [dimension.low, dimension.high]}


def parallel_coordinates(record: SearchRecord) -> go.Figure | None:
    """One line per scored try across every setting the search varies, to its score; coloured by the score."""
    scored: list[tuple[int, TrialRecord]] = [(i, t) for i, t in enumerate(record.trials, start=1)
                                             if t.score is not None and math.isfinite(t.score)]
    if not scored:
        return None
    positions = [position for position, _ in scored]
    axes = [{"label": "try", "values": positions, "tickvals": positions, "ticktext": [str(p) for p in positions]}]
    axes += [axis(d, [t.params.get(d.name) for _, t in scored]) for d in record.space]
    scores = [t.score for _, t in scored]
    axes.append({"label": record.metric, "values": scores})
    figure = go.Figure(go.Parcoords(
        line={"color": scores, "colorscale": "Viridis", "reversescale": not record.greater_is_better,
              "showscale": True, "colorbar": {"title": {"text": record.metric}}},
        dimensions=axes))
    figure.update_layout(height=360, margin={"l": 60, "r": 60, "t": 40, "b": 30})
    return figure
