"""Compare runs: their final scores side by side, their curves overlaid, and only the settings in which they differ."""

from __future__ import annotations

import streamlit as st

from core.config.catalog import TASKS
from core.config.train_config import as_flat_dict
from core.engine import charts
from core.engine.run_table import MAJORITY_LABEL, majority_rung
from core.engine.runs import Run

# The validation curve that matters for each kind of task (TASKS[...].metric), as metrics.jsonl names it.
METRIC_KEYS = {"accuracy": "eval_accuracy", "r2": "eval_r2", "loss": "eval_loss"}


def differing_settings(runs: list[Run]) -> list[dict[str, str]]:
    flat = {run.id: as_flat_dict(run.config) for run in runs}
    names = sorted({name for values in flat.values() for name in values})
    rows = []
    for name in names:
        values = [str(flat[run.id].get(name, "–")) for run in runs]
        if len(set(values)) > 1:
            rows.append({"setting": name, **{run.id: value for run, value in zip(runs, values)}})
    return rows


def final_scores(runs: list[Run]) -> list[dict[str, object]]:
    """One row per run: its state and the headline numbers of its final evaluation (blank until it finishes)."""
    rows = []
    for run in runs:
        status = run.status
        row = {"run": run.id, "task": run.config.task, "state": str(status.state)}
        for name, value in status.headline.items():
            row[name] = round(value, 4)
            if name == "accuracy" and (majority := majority_rung(run.evaluation)) is not None:
                row[MAJORITY_LABEL] = round(majority.score, 4)  # beside it, the floor it must beat
        rows.append(row)
    return rows


def metric_keys(runs: list[Run]) -> list[str]:
    """The validation curves worth overlaying: each picked task's own metric, in a stable order."""
    return sorted({METRIC_KEYS[TASKS[run.config.task].metric] for run in runs} - {"eval_loss"})


def render(runs: list[Run]) -> None:
    """Compare any of these runs (whole ones: the page leaves damaged runs out)."""
    st.subheader("Compare runs")
    chosen = st.multiselect("Runs to compare", [run.id for run in runs], key="runs_compare",
                            max_selections=8, placeholder="Pick two or more runs")
    if len(chosen) < 2:
        st.caption("Pick two or more runs to overlay their curves and see which settings differ.")
        return
    picked = [run for run in runs if run.id in chosen]
    if len({run.config.task for run in picked}) > 1:
        st.info("These runs learn different tasks, so only their loss curves are comparable.",
                icon=":material/info:")
    st.dataframe(final_scores(picked), hide_index=True, key="compare_scores")
    curves = {run.id: charts.with_perplexity(run.metrics) for run in picked}
    figures = [("loss", True), ("eval_loss", False)] + [(key, False) for key in metric_keys(picked)]
    columns = st.columns(2)
    for i, (key, smoothed) in enumerate(figures):
        columns[i % 2].plotly_chart(charts.comparison_figure(curves, key, smoothed=smoothed), key=f"compare_{key}")
    rows = differing_settings(picked)
    st.markdown("**Settings that differ**")
    if rows:
        st.dataframe(rows, hide_index=True, key="compare_settings")
    else:
        st.caption("These runs used the same settings.")
