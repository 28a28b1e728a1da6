"""Plotly figures for every chart the app draws: training curves, data summaries, evaluations, comparisons.

The boundary: plain records and numbers in, `plotly.graph_objects.Figure` out; no Streamlit, no files. The pages
hand these figures to `st.plotly_chart`, and tests can assert what a figure holds.

Plotly reads a subset of HTML in every text it draws (`<a href>` makes a link, `<b>` bold), and class names, column
names and run names come from people: every text these figures show goes through `plotly_literal`, so it is drawn
as the characters it holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from core.messages import plotly_literal, plotly_literals

SMOOTHING = 0.8  # the exponential moving average TensorBoard uses by default
HEIGHT = 300
# No `template`: Streamlit's theme restyles every chart in the browser anyway, while naming a plotly template
# costs ~25 ms of deep-copying and validation per figure on the server (the live Runs page draws three a second
# for every watcher) and makes up most of each figure's bytes on the wire.
_LAYOUT = {"height": HEIGHT, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
           "legend": {"orientation": "h", "y": -0.25}}

METRIC_TITLES = {
    "eval_accuracy": "validation accuracy", "eval_f1": "validation macro-F1", "eval_loss": "validation loss",
    "eval_r2": "validation R²", "eval_mae": "validation MAE", "eval_rmse": "validation RMSE",
    "eval_perplexity": "validation perplexity", "loss": "training loss", "learning_rate": "learning rate",
}


def _figure(title: str, x_title: str = "step", y_title: str = "") -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=plotly_literal(title), xaxis_title=plotly_literal(x_title),
                         yaxis_title=plotly_literal(y_title), **_LAYOUT)
    return figure


def latest_per_step(records: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of every record holding `key`. A resumed run logs some steps twice; the later one wins."""
    by_step: dict[int, float] = {}
    for record in records:
        value = record.get(key)
        if isinstance(value, (int, float)) and "step" in record:
            by_step[int(record["step"])] = float(value)
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def smooth(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """Debiased exponential moving average: the trend through a noisy loss curve."""
    smoothed, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight ** i))
    return smoothed


def with_perplexity(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Language-model records gain `eval_perplexity` = e^loss: "how many words it hesitates between"."""
    result = []
    for record in records:
        loss = record.get("eval_loss")
        if isinstance(loss, (int, float)) and math.isfinite(loss) and loss < 50:
            record = {**record, "eval_perplexity": math.exp(loss)}
        result.append(record)
    return result


# ---------------------------------------------------------------------------------------------------- training


def loss_figure(records: Sequence[dict[str, Any]]) -> go.Figure:
    figure = _figure("Loss (lower is better)", y_title="loss")
    steps, losses = latest_per_step(records, "loss")
    if steps:
        figure.add_scatter(x=steps, y=losses, name="training loss", mode="lines", opacity=0.35,
                           line={"color": "#1f77b4"})
        figure.add_scatter(x=steps, y=smooth(losses), name="training loss (smoothed)", mode="lines",
                           line={"color": "#1f77b4", "width": 3})
    steps, losses = latest_per_step(records, "eval_loss")
    if steps:
        figure.add_scatter(x=steps, y=losses, name="validation loss", mode="lines+markers",
                           line={"color": "#ff7f0e", "width": 3})
    return figure


# Scores that cannot leave these bounds. Plotly pads a flat line by ±1 (a perfect accuracy would show an axis up to 2),
# so the axis is clipped to them; within them it still zooms in on the curve.
SCORE_BOUNDS = {"eval_accuracy": (0.0, 1.0), "eval_f1": (0.0, 1.0), "eval_r2": (None, 1.0)}


def _clip_to_bounds(figure: go.Figure, keys: Sequence[str]) -> None:
    bounds = [SCORE_BOUNDS.get(key, (None, None)) for key in keys]
    lows, highs = [low for low, _ in bounds], [high for _, high in bounds]
    options = {}
    if lows and None not in lows:
        options["clipmin"] = min(lows)
    if highs and None not in highs:
        options["clipmax"] = max(highs)
    if options:
        figure.update_yaxes(autorangeoptions=options)


def metric_figure(records: Sequence[dict[str, Any]], keys: Sequence[str], title: str) -> go.Figure:
    figure = _figure(title)
    for key in keys:
        steps, values = latest_per_step(records, key)
        if steps:
            figure.add_scatter(x=steps, y=values, name=METRIC_TITLES.get(key, key), mode="lines+markers")
    _clip_to_bounds(figure, keys)
    return figure


def learning_rate_figure(records: Sequence[dict[str, Any]]) -> go.Figure:
    figure = _figure("Learning rate (warm-up, then decay)", y_title="learning rate")
    steps, values = latest_per_step(records, "learning_rate")
    if steps:
        figure.add_scatter(x=steps, y=values, name="learning rate", mode="lines")
    figure.update_yaxes(exponentformat="e")
    return figure


def comparison_figure(curves: dict[str, Sequence[dict[str, Any]]], key: str, smoothed: bool = False) -> go.Figure:
    """One curve per run for the same quantity, overlaid."""
    figure = _figure(METRIC_TITLES.get(key, key).capitalize(), y_title=METRIC_TITLES.get(key, key))
    for name, records in curves.items():
        steps, values = latest_per_step(records, key)
        if steps:
            figure.add_scatter(x=steps, y=smooth(values) if smoothed else values, name=plotly_literal(name),
                               mode="lines")
    _clip_to_bounds(figure, [key])
    return figure


# ---------------------------------------------------------------------------------------------------- data


def class_balance_figure(counts: dict[str, int], title: str = "Examples per class") -> go.Figure:
    figure = _figure(title, x_title="class", y_title="examples")
    figure.add_bar(x=plotly_literals(counts), y=list(counts.values()), text=list(counts.values()),
                   textposition="auto")
    return figure


def length_histogram(lengths: Sequence[int], unit: str = "words") -> go.Figure:
    figure = _figure(f"Text length ({unit})", x_title=unit, y_title="texts")
    figure.add_histogram(x=list(lengths), nbinsx=40)
    return figure


def numeric_histogram(values: Sequence[float], title: str) -> go.Figure:
    figure = _figure(title, x_title=title, y_title="rows")
    figure.add_histogram(x=list(values), nbinsx=40)
    return figure


# ---------------------------------------------------------------------------------------------------- results


def probability_bars(probabilities: dict[str, float], title: str = "Class probabilities") -> go.Figure:
    ranked = sorted(probabilities.items(), key=lambda pair: pair[1])  # plotly draws the last bar on top
    figure = _figure(title, x_title="probability", y_title="")
    figure.add_bar(x=[p for _, p in ranked], y=plotly_literals(name for name, _ in ranked), orientation="h",
                   text=[f"{p:.1%}" for _, p in ranked], textposition="auto")
    figure.update_xaxes(range=[0, 1], tickformat=".0%")
    figure.update_layout(height=max(160, 40 * len(ranked) + 80))
    return figure


def confusion_matrix_figure(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> go.Figure:
    values = np.asarray(matrix, dtype=float)
    row_share = values / np.clip(values.sum(axis=1, keepdims=True), 1, None)
    names = plotly_literals(labels)
    figure = go.Figure(go.Heatmap(z=row_share, x=names, y=names, colorscale="Blues", zmin=0, zmax=1,
                                  text=np.asarray(matrix).astype(int), texttemplate="%{text}",
                                  hovertemplate="true %{y} → predicted %{x}: %{text}<extra></extra>"))
    size = max(300, 50 * len(labels) + 150)
    figure.update_layout(title="Confusion matrix (rows: true class, columns: predicted)", height=size,
                         xaxis_title="predicted", yaxis_title="true",
                         margin={"l": 10, "r": 10, "t": 40, "b": 10})
    figure.update_yaxes(autorange="reversed")
    return figure


def per_class_figure(per_class: Sequence[dict[str, Any]]) -> go.Figure:
    figure = _figure("Precision and recall per class", x_title="class", y_title="")
    names = plotly_literals(row["label"] for row in per_class)
    figure.add_bar(x=names, y=[row["precision"] for row in per_class], name="precision")
    figure.add_bar(x=names, y=[row["recall"] for row in per_class], name="recall")
    figure.update_yaxes(range=[0, 1])
    return figure


def regression_scatter(actual: Sequence[float], predicted: Sequence[float]) -> go.Figure:
    figure = _figure("Predicted vs actual (on the line = perfect)", x_title="actual", y_title="predicted")
    figure.add_scatter(x=list(actual), y=list(predicted), mode="markers", name="rows", opacity=0.6)
    if len(actual):
        low, high = float(min(min(actual), min(predicted))), float(max(max(actual), max(predicted)))
        figure.add_scatter(x=[low, high], y=[low, high], mode="lines", name="perfect", line={"dash": "dash"})
    return figure


def residuals_figure(actual: Sequence[float], predicted: Sequence[float]) -> go.Figure:
    figure = _figure("Errors (predicted − actual) by predicted value", x_title="predicted", y_title="error")
    residuals = np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float)
    figure.add_scatter(x=list(predicted), y=residuals.tolist(), mode="markers", name="rows", opacity=0.6)
    figure.add_hline(y=0, line_dash="dash")
    return figure
