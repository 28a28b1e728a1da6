"""A search and the workspace's earlier runs: its time said plainly before it starts (when it will end, how many
tries should fit, judged from earlier runs of the same dataset and model), and the earlier run of exactly the
person's settings that a search counts as its first try instead of training it again.

The boundary: reading finished runs and putting the budget into words; the search's own pacing (which tries fit in
the time left) is `core.search.pace`, the search itself `core.search.driver`.
"""

from __future__ import annotations

import statistics
import time

from core.config.train_config import TrainConfig
from core.engine.run_folder import DamagedFile
from core.engine.run_status import RunState
from core.engine.run_table import run_duration, run_score
from core.engine.runs import Run, list_runs
from core.messages import counted
from core.workspace import Workspace

BUDGET_MINUTES = (2, 5, 10, 15, 30, 60, 120, 240, 480)
DEFAULT_BUDGET_MINUTES = 15


def minutes_in_words(minutes: float) -> str:
    if minutes < 60:
        return counted(round(minutes), "minute")
    hours = minutes / 60
    return counted(round(hours), "hour") if float(hours).is_integer() else f"{hours:.1f} hours"


def seconds_per_try(workspace: Workspace, config: TrainConfig) -> float | None:
    """How long a run of these settings should take: the median seconds per epoch of the completed runs of the
    same task, dataset and model, times the config's epochs. None when there is no such run yet."""
    rates = []
    for run in list_runs(workspace):
        status = run.status
        if status.state is not RunState.COMPLETED:
            continue
        try:
            earlier = run.config
        except DamagedFile:
            continue
        seconds = run_duration(status)
        same = (earlier.task, earlier.dataset, earlier.model.name) == (config.task, config.dataset, config.model.name)
        if same and seconds and earlier.max_steps <= 0 and earlier.epochs > 0:
            rates.append(seconds / earlier.epochs)
    return statistics.median(rates) * config.epochs if rates else None


def earlier_run(workspace: Workspace, config: TrainConfig) -> Run | None:
    """The newest completed run of exactly these settings that has a score: a search counts it as its first try
    instead of spending its time training the same settings again."""
    for run in list_runs(workspace):  # newest first
        status = run.status
        if status.state is not RunState.COMPLETED or not status.started_at or not status.finished_at:
            continue
        try:
            same = run.config == config
        except DamagedFile:
            continue
        if same and run_score(config.task, status, run.metrics)[1] is not None:
            return run
    return None


def budget_words(minutes: float, per_try: float | None, now: float | None = None) -> str:
    """What a budget means, said before the search starts."""
    ends = time.strftime("%H:%M", time.localtime((now or time.time()) + minutes * 60))
    words = (f"The search takes up to {minutes_in_words(minutes)}: it ends by {ends}, plus the moment the tries "
             "still training then need to save their models. ")
    if per_try is None:
        return words + ("How many tries fit depends on how long one takes: the first try, your own settings, "
                        "tells the search, and it starts no try that would not finish in time.")
    fits = int(minutes * 60 // per_try)
    if fits < 2:
        return words + (f"A run of your settings took about {per_try / 60:.1f} minutes here before, so that is "
                        "too little time for more than your own settings: give it more time.")
    return words + (f"A run of your settings took about {per_try / 60:.1f} minutes here before, so about "
                    f"{counted(fits, 'try', 'tries')} of that length fit (shorter ones more, longer ones fewer).")
