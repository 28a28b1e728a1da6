"""Compare runs: their curves overlaid, and only the settings in which they differ."""

from __future__ import annotations

import streamlit as st

from core import charts
from core.config import TASKS, as_flat_dict
from core.runs import Run


def differing_settings(runs: list[Run]) -> list[dict[str, str]]:
    flat = {run.id: as_flat_dict(run.config) for run in runs}
    names = sorted({name for values in flat.values() for name in values})
    rows = []
    for name in names:
        values = [str(flat[run.id].get(name, "–")) for run in runs]
        if len(set(values)) > 1:
            rows.append({"setting": name, **{run.id: value for run, value in zip(runs, values)}})
    return rows


def render(runs: list[Run]) -> None:
    st.subheader("Compare runs")
    chosen = st.multiselect("Runs to compare", [run.id for run in runs], key="runs_compare",
                            max_selections=8, placeholder="Pick two or more runs")
    if len(chosen) < 2:
        st.caption("Pick two or more runs to overlay their curves and see which settings differ.")
        return
    picked = [run for run in runs if run.id in chosen]
    curves = {run.id: charts.with_perplexity(run.metrics) for run in picked}
    left, right = st.columns(2)
    left.plotly_chart(charts.comparison_figure(curves, "loss", smoothed=True), key="compare_loss")
    metrics = {TASKS[run.config.task].metric for run in picked}
    key = {"accuracy": "eval_accuracy", "r2": "eval_r2", "loss": "eval_loss"}[sorted(metrics)[0]]
    right.plotly_chart(charts.comparison_figure(curves, key), key="compare_metric")
    rows = differing_settings(picked)
    st.markdown("**Settings that differ**")
    if rows:
        st.dataframe(rows, hide_index=True)
    else:
        st.caption("These runs used the same settings.")
