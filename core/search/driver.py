"""The settings search's driver: `python -m core.search.driver SEARCH_DIR` finds good settings within a time budget.

It asks Optuna (a TPE sampler, a median pruner) for a combination of settings, makes it an ordinary run and puts it
in the job queue (so several GPU machines sharing a Redis queue share the tries), then follows the run through its
folder: every check it logs in metrics.jsonl is reported to Optuna, and a try whose scores fall below the tries
before it is asked to stop through the run's normal stop signal (its model is kept); the final score is told to
Optuna when the run ends. The first try is always the person's own settings. When the time is up, tries still
training are stopped and the best completed one is marked in search.json.

The boundary: the driver's loop and Optuna. The folder and its files are `core.search.folder`; what is varied,
`core.search.space`; a run's files and stop signal, `core.engine.run_folder` and `core.engine.run_processes`.
Optuna's study is kept in a JSON-lines journal in the search folder: nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState as OptunaState

from core.engine.run_folder import DamagedFile, read_metrics
from core.engine.run_processes import refresh_status, request_stop
from core.engine.run_status import RunState, RunStatus
from core.engine.run_table import metric_keys, run_score
from core.engine.runs import Run, create_run, delete_run
from core.hosting.queue import JobQueue
from core.messages import PlainError, plain_number
from core.search.budget import earlier_run
from core.search.folder import (
    JOURNAL_FILE,
    SearchRecord,
    SearchState,
    TrialRecord,
    TrialState,
    load_search,
    stop_requested,
    write_search,
)
from core.search.pace import Pace
from core.search.space import Dimension, config_for, starting_point
from core.workspace import Workspace

POLL_SECONDS = 1.0
STARTUP_TRIALS = 4  # TPE samples at random until this many tries have ended; the first is the person's own
PRUNE_AFTER_TRIALS = 2  # no try is stopped early before this many have completed, to compare it with
PRUNE_WARMUP = 0.3  # nor before this share of the person's own epochs: every try starts slowly
STOP_WAIT_SECONDS = 600  # how long stopped tries may take to save their models before the search ends anyway


def distribution(dimension: Dimension):
    if dimension.kind == "choice":
        return CategoricalDistribution(dimension.choices)
    if dimension.kind == "int":
        return IntDistribution(int(dimension.low), int(dimension.high), log=dimension.log)
    return FloatDistribution(dimension.low, dimension.high, log=dimension.kind == "log")


def progress_step(epoch: float | None) -> int:
    """Optuna compares tries at the same step: tenths of an epoch, which every batch size shares."""
    return round((epoch or 0.0) * 10)


def open_study(record: SearchRecord) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = JournalStorage(JournalFileBackend(str(record.folder / JOURNAL_FILE)))
    warmup = progress_step(record.base_config.epochs * PRUNE_WARMUP)
    return optuna.create_study(
        storage=storage, study_name=record.id, load_if_exists=True,
        direction="maximize" if record.greater_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(n_startup_trials=STARTUP_TRIALS, multivariate=True, constant_liar=True,
                                           seed=record.base_config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=warmup))


@dataclass
class Live:
    """A try whose run is queued or training."""

    trial: optuna.Trial
    run: Run
    reported: set[int]
    pruning: bool = False  # asked to stop: its scores were below the others'
    cut: str = ""  # asked to stop when the search ended: why, in words


class Driver:
    def __init__(self, record: SearchRecord, queue: JobQueue | None = None):
        self.record = record
        self.study = open_study(record)
        self.queue = queue or JobQueue()
        self.workspace = Workspace(record.folder.resolve().parent.parent)
        self.distributions = {d.name: distribution(d) for d in record.space}
        self.live: dict[int, Live] = {}
        self.pace = Pace()

    # ------------------------------------------------------------------ the loop

    def run(self) -> SearchState:
        now = time.time()
        self.save(state=SearchState.RUNNING, started_at=now, deadline=now + self.record.settings.budget_seconds,
                  message="Trying settings.")
        start = starting_point(self.record.base_config, self.record.space)
        if not self.reuse(earlier_run(self.workspace, self.record.base_config), start):
            self.study.enqueue_trial(start)  # the person's own settings come first
        try:
            while True:
                self.follow_live()
                if stop_requested(self.record.folder) or time.time() >= self.record.deadline:
                    break
                while len(self.live) < self.record.settings.parallel_trials and self.start_trial():
                    pass
                if not self.live:
                    break  # no try fits in the time left
                time.sleep(POLL_SECONDS)
            self.stop_live("Stopped when the search was stopped." if stop_requested(self.record.folder)
                           else "Stopped when the search's time was up.")
        except PlainError as error:  # the queue went away, the disk filled: say so, stop what trains
            self.stop_live("Stopped when the search failed.")
            return self.finish(SearchState.FAILED, str(error))
        except BaseException:  # a bug: no try may train on unwatched; the page says the search ended unexpectedly
            with contextlib.suppress(Exception):
                self.stop_live("Stopped when the search failed.")
            raise
        return self.finish(SearchState.STOPPED if stop_requested(self.record.folder) else SearchState.FINISHED)

    def finish(self, state: SearchState, message: str = "") -> SearchState:
        best = self.record.best
        if not message:
            message = (f"The best is try {self.record.trials.index(best) + 1} (run {best.run}): "
                       f"{self.record.metric} {plain_number(best.score, 4)}." if best else
                       "No try finished in the time given: give the search more time.")
        self.save(state=state, finished_at=time.time(), message=message)
        print(message, flush=True)
        return state

    def save(self, **changes: Any) -> None:
        self.record = replace(self.record, **changes)
        write_search(self.record)

    # ------------------------------------------------------------------ starting tries

    def reuse(self, run: Run | None, params: dict[str, Any]) -> bool:
        """Count an earlier run of the person's own settings as the first try, with its checks and its time."""
        if run is None:
            return False
        status, records = run.status, read_metrics(run.folder)
        _, score = run_score(self.record.base_config.task, status, records)
        _, logged, _ = metric_keys(self.record.base_config.task)
        checks = {progress_step(r.get("epoch")): float(r[logged]) for r in records if logged in r}
        self.study.add_trial(optuna.trial.create_trial(params=params, distributions=self.distributions, value=score,
                                                       intermediate_values=checks))
        self.pace.add(status.finished_at - status.started_at, records, params)
        self.add_trial(TrialRecord(self.study.trials[-1].number, run.id, dict(params), TrialState.COMPLETED, score,
                                   "Your earlier run of these settings: counted, not trained again.",
                                   status.started_at, status.finished_at))
        return True

    def start_trial(self) -> bool:
        """Ask Optuna for settings and queue them as a run; False when no try fits in the time left. A suggestion
        that would take too much of it is tried with fewer epochs (and counted as skipped)."""
        trial = self.study.ask(self.distributions)
        epochs = self.pace.fitting_epochs(trial.params, self.record.deadline - time.time(), self.record.space)
        if epochs != trial.params.get("epochs"):
            self.study.tell(trial, state=OptunaState.FAIL)
            self.save(skipped=self.record.skipped + 1)
            if epochs is None:
                return False
            self.study.enqueue_trial({**trial.params, "epochs": epochs})
            trial = self.study.ask(self.distributions)
        try:
            config = config_for(self.record.base_config, trial.params)
        except PlainError as error:  # a combination the model refuses (too narrow, say): not a run, a failed try
            self.study.tell(trial, state=OptunaState.FAIL)
            self.add_trial(TrialRecord(trial.number, "", dict(trial.params), TrialState.FAILED, message=str(error),
                                       started_at=time.time(), finished_at=time.time()))
            return True
        run = create_run(self.workspace, config)
        try:
            self.queue.submit(run, owner=self.record.owner)
        except PlainError:  # the queue cannot be reached: no run left behind that no queue holds
            delete_run(run)
            raise
        self.live[trial.number] = Live(trial, run, set())
        self.add_trial(TrialRecord(trial.number, run.id, dict(trial.params), started_at=time.time()))
        print(f"Try #{trial.number}: {run.id} {trial.params}", flush=True)
        return True

    def add_trial(self, trial: TrialRecord) -> None:
        self.save(trials=(*self.record.trials, trial))

    def update_trial(self, number: int, **changes: Any) -> None:
        self.save(trials=tuple(replace(t, **changes) if t.number == number else t for t in self.record.trials))

    # ------------------------------------------------------------------ following tries

    def follow_live(self) -> None:
        for number, live in list(self.live.items()):
            status = refresh_status(live.run.folder)
            if not live.pruning and not live.cut:
                self.report_checks(live)
            if status.is_final or status.is_damaged:  # damaged: its folder was deleted, or its files broken
                self.settle(live, status)
                del self.live[number]

    def report_checks(self, live: Live) -> None:
        """Every new check the run logged goes to Optuna; a try the pruner gives up on is asked to stop."""
        _, logged, _ = metric_keys(self.record.base_config.task)
        for record in read_metrics(live.run.folder):
            step = progress_step(record.get("epoch"))
            if logged not in record or step in live.reported:
                continue
            live.reported.add(step)
            live.trial.report(float(record[logged]), step)
            if live.trial.should_prune():
                live.pruning = True
                request_stop(live.run.folder)
                self.update_trial(live.trial.number, message=(
                    f"Stopped early at epoch {plain_number(record.get('epoch'))}: its {self.record.metric} "
                    f"({plain_number(record[logged], 4)}) was behind the tries before it there."))
                return

    def settle(self, live: Live, status: RunStatus) -> None:
        """Tell Optuna how a try whose run has ended went, and write it down."""
        number, now = live.trial.number, time.time()
        _, score = run_score(self.record.base_config.task, status, read_metrics(live.run.folder))
        if status.state is RunState.COMPLETED and score is not None and score == score:  # NaN: no score
            self.study.tell(live.trial, score)
            started = next(t.started_at for t in self.record.trials if t.number == number)
            self.pace.add(now - started, read_metrics(live.run.folder), live.trial.params)
            self.update_trial(number, state=TrialState.COMPLETED, score=score, finished_at=now)
        elif status.state is RunState.STOPPED:
            self.study.tell(live.trial, state=OptunaState.PRUNED)
            if live.pruning:
                self.update_trial(number, state=TrialState.PRUNED, score=score, finished_at=now)
            elif live.cut:
                self.update_trial(number, state=TrialState.CUT_SHORT, score=score, finished_at=now,
                                  message=live.cut)
            else:
                self.update_trial(number, state=TrialState.STOPPED, score=score, finished_at=now,
                                  message=status.message)
        else:
            self.study.tell(live.trial, state=OptunaState.FAIL)
            damaged = f"Its run was deleted, or its files damaged ({status.message})." if status.is_damaged else ""
            self.update_trial(number, state=TrialState.FAILED, finished_at=now,
                              message=damaged or status.message or "The run ended without a score.")
        print(f"Try #{number}: {status.state}, {self.record.metric} {plain_number(score, 4)}", flush=True)

    def stop_live(self, why: str) -> None:
        """Stop the tries still queued or training (they keep their models), and wait for them to end."""
        for live in self.live.values():
            live.cut = "" if live.pruning else why
            request_stop(live.run.folder)
        deadline = time.time() + STOP_WAIT_SECONDS
        while self.live and time.time() < deadline:
            time.sleep(POLL_SECONDS)
            self.follow_live()
        for live in self.live.values():
            self.study.tell(live.trial, state=OptunaState.FAIL)
            self.update_trial(live.trial.number, state=TrialState.FAILED, finished_at=time.time(),
                              message="It did not stop in time after the search ended.")
        self.live.clear()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m core.search.driver SEARCH_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    folder = Path(argv[0]).resolve()
    try:
        record = load_search(folder)
    except (OSError, DamagedFile) as error:
        print(f"This search cannot be read: {error}", file=sys.stderr)
        return 2
    if record.state is not SearchState.STARTING:
        print(f"This search has already run ({record.state}).", file=sys.stderr)
        return 2
    state = Driver(record).run()
    return 0 if state is not SearchState.FAILED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
