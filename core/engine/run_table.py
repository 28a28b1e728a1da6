"""One row per run for the Runs and Team tables: its state, what it trains, its score, how long it took.

The score is the number the run's Evaluation tab shows, so the table and the evaluation never disagree: for a
finished (or stopped) run, the final evaluation of the model it kept (the last check's model, or the best check's
with early stopping); while it trains, its latest check. A damaged run gets a row that says what is damaged.
The boundary: reading runs into plain rows; drawing them is `ui.runs`.
"""

from __future__ import annotations

import time
from typing import Any

from core.engine.run_folder import DamagedFile
from core.engine.run_status import RunState, RunStatus
from core.engine.runs import Run

SCORE_HELP = ("The validation score of the model the run keeps, the number its Evaluation tab shows: the last "
              "check's model, or the best check's when early stopping ended the run. While a run trains: its "
              "latest check.")


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


def damaged_row(run: Run, problem: str) -> dict[str, Any]:
    return {"run": run.id, "state": f"{RunState.DAMAGED}: {problem}", "task": "", "model": "", "dataset": "",
            "score": None, "metric": "", "duration_s": None, "started": None, "device": ""}


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
    return {"run": run.id, "state": str(status.state), "task": config.task,
            "model": config.model.name.removeprefix("bundled:"), "dataset": config.dataset,
            "score": None if value is None else round(value, 4), "metric": metric,
            "duration_s": run_duration(status), "started": status.started_at or status.created_at,
            "device": status.device}
