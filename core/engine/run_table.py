"""One row per run for the Runs and Team tables: its state, what it trains, its score, how long it took.

The score is the number the run's Evaluation tab shows, so the table and the evaluation never disagree: for a
finished (or stopped) run, the final evaluation of the model it kept (the last check's model, or the best check's
with early stopping); while it trains, its latest check. A damaged run gets a row that says what is damaged.
Beside a classification run's accuracy, the score of always answering the most common class on the same validation
rows (from its eval.json ladder): 88 % means little where 87 % of the rows are "ham".
The boundary: reading runs into plain rows and words; drawing them is `ui.runs`.
"""

from __future__ import annotations

import time
from typing import Any

from core.engine.baselines import LADDER_KEY, Rung, floor_phrase, rungs_of
from core.engine.run_folder import DamagedFile
from core.engine.run_status import RunState, RunStatus
from core.engine.runs import Run
from core.messages import percent, plain_number

SCORE_HELP = ("The validation score of the model the run keeps, the number its Evaluation tab shows: the last "
              "check's model, or the best check's when early stopping ended the run. While a run trains: its "
              "latest check.")
MAJORITY_LABEL = "always the most common"  # the column beside a score: what always answering that class scores
MAJORITY_HELP = ("What always answering the most common class scores on the same validation rows, without looking at "
                 "them: an accuracy is worth only what it adds to this (87 % for SMS spam, where 87 % is ham).")
HEADLINE_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "r2": "R²", "mae": "MAE", "rmse": "RMSE",
                  "eval_loss": "validation loss", "perplexity": "perplexity"}


def metric_keys(task: str) -> tuple[str, str, str]:
    """(the metric's name, its key in metrics.jsonl, its key in the status's headline) for a task."""
    from core.config.catalog import TASKS

    metric = TASKS[task].metric
    return (metric, "eval_loss", "eval_loss") if metric == "loss" else (metric, f"eval_{metric}", metric)


def run_score(task: str, status: RunStatus, records: list[dict[str, Any]]) -> tuple[str, float | None]:
    """(metric name, value): the kept model's final evaluation once there is one, else the latest check."""
    metric, logged, headline = metric_keys(task)
    if headline in status.headline:
        return metric, status.headline[headline]
    checks = [record[logged] for record in records if logged in record]
    return metric, (checks[-1] if checks else None)


def run_duration(status: RunStatus) -> float | None:
    started = status.started_at
    if not started:
        return None
    ended = status.finished_at or (time.time() if status.is_live else status.updated_at or started)
    return ended - started


def majority_rung(report: dict[str, Any] | None) -> Rung | None:
    """The run's "always the most common class" rung, measured on its validation rows after training (a
    classification run's eval.json ladder); None for other runs, runs from before ladders, or a damaged ladder."""
    ladder = (report or {}).get(LADDER_KEY)
    if not isinstance(ladder, dict):
        return None
    try:
        return next((rung for rung in rungs_of(ladder)
                     if rung.kind == "majority" and isinstance(rung.score, int | float)), None)
    except (KeyError, TypeError):
        return None


def headline_text(headline: dict[str, float], majority: Rung | None = None) -> str:
    """A finished run's validation numbers in words, the majority's score beside the accuracy: "Validation:
    accuracy 98.2 % (always answering “ham” gets 87.6 %), macro-F1 0.95."."""
    parts = []
    for key, value in headline.items():
        said = percent(value) if key == "accuracy" else plain_number(value)
        if key == "accuracy" and majority is not None:
            said += f" ({floor_phrase(majority)} gets {percent(majority.score)})"
        parts.append(f"{HEADLINE_NAMES.get(key, key)} {said}")
    return "Validation: " + ", ".join(parts) + "."


def damaged_row(run: Run, problem: str) -> dict[str, Any]:
    return {"run": run.id, "state": f"{RunState.DAMAGED}: {problem}", "task": "", "model": "", "dataset": "",
            "score": None, "majority": None, "metric": "", "duration_s": None, "started": None, "device": ""}


def run_row(run: Run) -> dict[str, Any]:
    """One line of the Runs table."""
    status = run.status
    if status.is_damaged:
        return damaged_row(run, status.message)
    try:
        config = run.config
    except DamagedFile as error:
        return damaged_row(run, str(error))
    metric, value = run_score(config.task, status, run.metrics)
    # Read from eval.json only for a finished classification run: the others have no such floor.
    majority = majority_rung(run.evaluation) if metric == "accuracy" and status.is_final else None
    return {"run": run.id, "state": str(status.state), "task": config.task,
            "model": config.model.name.removeprefix("bundled:"), "dataset": config.dataset,
            "score": None if value is None else round(value, 4),
            "majority": None if majority is None else round(majority.score, 4), "metric": metric,
            "duration_s": run_duration(status), "started": status.started_at or status.created_at,
            "device": status.device}
