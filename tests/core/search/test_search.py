"""Find good settings for me: the search space makes valid runs for every task, a real search trains its tries
through the real queue and worker within its time and marks the best, a try that falls behind is asked to stop, and
the Runs page shows a search, its best try and the way to the Playground."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from core.config.catalog import architectures_for
from core.config.presets import PRESET_NAMES, PRESETS, default_config
from core.config.train_config import TrainConfig
from core.engine.run_folder import append_metrics, read_metrics, update_status
from core.engine.run_status import RunState
from core.engine.run_table import run_score
from core.engine.runs import create_run, delete_run, get_run, list_runs
from core.hosting.queue import JobQueue
from core.search.budget import budget_words
from core.search.driver import Driver, distribution, progress_step
from core.search.folder import (
    JOURNAL_FILE,
    SEARCH_FILE,
    SearchSettings,
    SearchState,
    TrialState,
    create_search,
    list_searches,
    load_search,
    read_search,
    request_search_stop,
    searches_folder,
    start_driver,
)
from core.search.pace import Pace
from core.search.space import WIDTH, config_for, heaviest, search_space, starting_point
from tests.pages.test_pages import app, texts
from tests.support.queue_helpers import clean_up, tiny_config, wait_for


def every_base_config() -> list[TrainConfig]:
    configs = []
    for task, source in PRESETS:
        for preset in PRESET_NAMES:
            config = default_config(task, "data", source, preset)
            names = [config.model.name] if source == "pretrained" else [a.key for a in architectures_for(task)]
            configs += [replace(config, model=replace(config.model, name=name)) for name in names]
    return configs


def corners(space) -> list[dict]:
    """Every choice of every setting, and each number's two ends, one setting at a time."""
    values = []
    for dimension in space:
        options = dimension.choices if dimension.kind == "choice" else (dimension.low, dimension.high)
        values += [{dimension.name: option} for option in options]
    return values


def test_the_search_space_builds_valid_runs_for_every_task_and_model():
    for base in every_base_config():
        space = search_space(base)
        names = [d.name for d in space]
        assert names[:3] == ["learning_rate", "epochs", "batch_size"], names
        assert ("model.dropout" in names) == (base.model.source == "scratch")
        assert all(d.words and d.label for d in space)
        start = starting_point(base, space)
        assert config_for(base, start) == base  # the first try is the person's own settings
        assert all(d.contains(start[d.name]) for d in space)
        for values in corners(space):
            config = config_for(base, values)  # raises a plain error if a corner were not a valid run
            assert TrainConfig.from_dict(config.to_dict()) == config
        heaviest(base, space)
        for d in space:  # Optuna accepts every dimension as a distribution, the starting point inside it
            assert distribution(d)._contains(distribution(d).to_internal_repr(start[d.name]))
    text = replace(default_config("text-classification", "cafe", "scratch"),
                   model=replace(default_config("text-classification", "cafe", "scratch").model, name="transformer",
                                 embedding_dim=96, num_heads=6))
    wider, narrower = config_for(text, {WIDTH: 2.0}), config_for(text, {WIDTH: 0.5})
    assert (narrower.model.embedding_dim, text.model.embedding_dim, wider.model.embedding_dim) == (48, 96, 192)
    assert wider.model.embedding_dim % wider.model.num_heads == 0
    table = default_config("tabular-classification", "titanic")
    assert config_for(table, {WIDTH: 2.0}).model.hidden_sizes == (128,)
    assert [d.name for d in search_space(replace(table, max_steps=100))] == [  # fixed steps: epochs not tried
        "learning_rate", "batch_size", "model.dropout", WIDTH]


def test_the_budget_is_said_plainly_before_the_search_starts():
    noon = time.mktime((2026, 12, 7, 12, 0, 0, 0, 0, -1))
    assert budget_words(15, None, now=noon).startswith("The search takes up to 15 minutes: it ends by 12:15")
    assert "about 5 tries of that length fit" in budget_words(15, 180.0, now=noon)
    assert "too little time" in budget_words(2, 180.0, now=noon)


def test_a_suggestion_too_long_for_the_time_left_gets_the_epochs_that_fit():
    epochs = next(d for d in search_space(default_config("tabular-classification", "titanic")) if d.name == "epochs")
    pace = Pace()
    assert pace.estimate({"epochs": 60, "batch_size": 32}) is None  # nothing is known before a try has completed
    # A 60-epoch try at batch 32 took 100 s from queueing to its end, 60 of them training: 40 s, then 1 s an epoch.
    pace.add(100.0, [{"step": 1, "loss": 0.7}, {"step": 9, "train_runtime": 60.0}],
             {"epochs": 60, "batch_size": 32, "learning_rate": 0.003})
    assert pace.estimate({"epochs": 150, "batch_size": 32}) == 190.0
    assert pace.estimate({"epochs": 150, "batch_size": 16}) == 340.0  # twice the steps: judged twice as long
    assert pace.estimate({"epochs": 150, "batch_size": 64}) == 190.0  # half the steps: judged to save nothing
    assert pace.epochs_that_fit(70.0, epochs, 32) == 30
    assert pace.epochs_that_fit(70.0, epochs, 16) is None  # 15 epochs at batch 16: fewer than the search tries
    assert pace.epochs_that_fit(500.0, epochs, 32) == 150  # never more than the search tries
    assert pace.epochs_that_fit(55.0, epochs, 32) is None  # not even the fewest (20) fit: no more tries
    space = (epochs,)
    assert pace.fitting_epochs({"epochs": 60, "batch_size": 32}, 250.0, space) == 60  # 100 s: under half of 250
    assert pace.fitting_epochs({"epochs": 150, "batch_size": 32}, 250.0, space) == 85  # half the time: 125 s
    assert pace.fitting_epochs({"epochs": 150, "batch_size": 32}, 100.0, space) == 60  # half is too little: all
    assert pace.fitting_epochs({"epochs": 150, "batch_size": 32}, 50.0, space) is None
    pace.add(80.0, [{"step": 9, "train_runtime": 45.0}], {"epochs": 30, "batch_size": 16})
    assert pace.epoch_seconds(16) == 1.5  # measured now: the measurement wins


@pytest.fixture
def job_queue(workspace, sample_dataset, monkeypatch):
    """The real queue, on one thread per worker; its consumer and workers are ended after the test."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield (queue := JobQueue())
    clean_up(queue, workspace.runs)


def test_a_search_trains_its_tries_through_the_queue_within_its_time_and_marks_the_best(job_queue, workspace):
    base = replace(tiny_config(max_steps=0), epochs=3.0)
    folder = create_search(workspace, base, SearchSettings(budget_seconds=75.0), owner="ada@example.org")
    start_driver(folder)
    record = wait_for(lambda: (r := read_search(folder)).is_live is False and r, timeout=400, every=1.0)

    assert record.state is SearchState.FINISHED, record.message
    assert len(record.trials) >= 2
    assert record.trials[0].params == starting_point(base, record.space)  # your own settings first
    assert all(trial.started_at < record.deadline for trial in record.trials)  # none started after the time
    assert record.finished_at - record.started_at < 75 + 60  # the last tries are stopped, not waited for
    for trial in record.trials:
        run = get_run(workspace, trial.run)
        assert run.config == config_for(base, trial.params)  # an ordinary run of exactly those settings
        status = run.status
        assert status.is_final and status.owner == "ada@example.org"
        if trial.state is TrialState.COMPLETED:
            assert trial.score == run_score(base.task, status, read_metrics(run.folder))[1]
    completed = [t for t in record.trials if t.state is TrialState.COMPLETED]
    assert record.best is not None and record.best.score == max(t.score for t in completed)
    assert record.message.startswith(f"The best is try {record.trials.index(record.best) + 1} ")
    # Optuna's study is JSON lines, one per operation, nothing a reader has to unpickle.
    lines = (folder / JOURNAL_FILE).read_text().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)


def test_a_try_that_falls_behind_the_others_is_asked_to_stop(job_queue, workspace):
    base = replace(tiny_config(max_steps=0), epochs=12.0, eval_every=2)  # checks often, trains for a while
    folder = create_search(workspace, base, SearchSettings(budget_seconds=600.0))
    record = load_search(folder)
    record = replace(record, space=record.space[:1])  # the learning rate only: every try is 12 epochs long
    driver = Driver(record, job_queue)
    driver.save(state=SearchState.RUNNING, started_at=time.time(), deadline=time.time() + 600)
    # Two earlier tries that scored above anything possible at every step: any new try falls behind them.
    for value in (2.0, 2.0):
        driver.study.add_trial(optuna.trial.create_trial(
            params={"learning_rate": base.learning_rate}, distributions=driver.distributions, value=value,
            intermediate_values={step: value for step in range(0, progress_step(base.epochs) + 1)}))
    assert driver.start_trial()

    def settled():
        driver.follow_live()
        return not driver.live

    wait_for(settled, timeout=300, every=0.3)
    trial = driver.record.trials[-1]
    assert trial.state is TrialState.PRUNED, trial
    assert trial.message.startswith("Stopped early at epoch")
    run = get_run(workspace, trial.run)
    status = run.status
    assert status.state is RunState.STOPPED  # through the normal stop signal: its model so far is kept
    assert run.has_model and status.step < status.max_steps
    assert driver.study.trials[-1].state is optuna.trial.TrialState.PRUNED


def test_a_try_whose_run_is_deleted_counts_as_failed_and_the_search_goes_on(job_queue, workspace):
    folder = create_search(workspace, replace(tiny_config(max_steps=0), epochs=3.0), SearchSettings())
    driver = Driver(load_search(folder), job_queue)
    driver.save(state=SearchState.RUNNING, started_at=time.time(), deadline=time.time() + 600)
    assert driver.start_trial()
    [live] = driver.live.values()
    delete_run(live.run)  # a person deleted it on the Runs page
    driver.follow_live()
    assert not driver.live
    trial = driver.record.trials[-1]
    assert trial.state is TrialState.FAILED and trial.message.startswith("Its run was deleted")
    assert driver.start_trial()  # the next try starts as usual
    driver.stop_live("Stopped when the search was stopped.")
    assert driver.record.trials[-1].state is TrialState.CUT_SHORT


def test_an_earlier_run_of_the_same_settings_is_the_first_try_not_trained_again(job_queue, workspace):
    base = replace(tiny_config(max_steps=0), epochs=3.0)
    earlier = finished_run(workspace, base, 0.875)
    folder = create_search(workspace, base, SearchSettings(budget_seconds=300.0))
    request_search_stop(folder)  # stop at the first look: only what was known before training anything
    assert Driver(load_search(folder), job_queue).run() is SearchState.STOPPED
    record = load_search(folder)
    [trial] = record.trials
    assert (trial.run, trial.state, trial.score) == (earlier.id, TrialState.COMPLETED, 0.875)
    assert trial.message == "Your earlier run of these settings: counted, not trained again."
    assert record.best == trial
    study = optuna.load_study(study_name=folder.name, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL_FILE))))
    assert study.best_value == 0.875 and study.best_trial.intermediate_values == {10: 0.875}
    assert [run.id for run in list_runs(workspace)] == [earlier.id]  # nothing trained again


def test_when_the_time_is_up_the_tries_still_training_are_stopped_and_keep_their_models(job_queue, workspace):
    # The most epochs a run may have: far longer than the search's time even on a fast machine (100 fitted in 30 s).
    base = replace(tiny_config(max_steps=0), epochs=1000.0, eval_every=1)
    folder = create_search(workspace, base, SearchSettings(budget_seconds=30.0))
    start_driver(folder)
    record = wait_for(lambda: (r := read_search(folder)).is_live is False and r, timeout=300, every=1.0)

    assert record.state is SearchState.FINISHED
    assert record.message == "No try finished in the time given: give the search more time."
    [trial] = record.trials
    assert (trial.state, trial.message) == (TrialState.CUT_SHORT, "Stopped when the search's time was up.")
    run = get_run(workspace, trial.run)
    assert run.status.state is RunState.STOPPED and run.has_model
    assert record.best is None


# ---------------------------------------------------------------------------------------------------- the page


def finished_run(workspace, config: TrainConfig, accuracy: float):
    run = create_run(workspace, config)
    append_metrics(run.folder, {"step": 9, "epoch": 1.0, "eval_accuracy": accuracy})
    update_status(run.folder, state=RunState.COMPLETED, started_at=100.0, finished_at=130.0, step=9, max_steps=9,
                  headline={"accuracy": accuracy, "macro_f1": accuracy})
    return run


def hand_written_search(workspace, base: TrainConfig, runs, scores) -> Path:
    space = search_space(base)
    params = [starting_point(base, space), {**starting_point(base, space), "learning_rate": 0.009, WIDTH: 2.0},
              {**starting_point(base, space), "learning_rate": 0.001, "epochs": 5}]
    states = ["completed", "completed", "pruned"]
    folder = searches_folder(workspace) / "20261207-120000-search-cafe"
    folder.mkdir()
    (folder / SEARCH_FILE).write_text(json.dumps({
        "base_config": base.to_dict(), "space": [d.to_json() for d in space], "budget_seconds": 300,
        "parallel_trials": 1, "state": "finished", "message": "The best is try 2.", "created_at": 1.0,
        "started_at": 10.0, "deadline": 310.0, "finished_at": 300.0, "skipped": 1,
        "trials": [{"number": n, "run": run.id, "params": p, "state": s, "score": score, "message": "",
                    "started_at": 10.0 + 90 * n, "finished_at": 100.0 + 90 * n}
                   for n, (run, p, s, score) in enumerate(zip(runs, params, states, scores))]}))
    return folder


def test_the_runs_page_shows_a_search_its_tries_the_best_and_the_way_to_the_playground(workspace, sample_dataset):
    base = replace(tiny_config(max_steps=0), epochs=3.0)
    scores = [0.903, 0.944, 0.722]
    runs = [finished_run(workspace, base, score) for score in scores]
    folder = hand_written_search(workspace, base, runs, scores)
    damaged = searches_folder(workspace) / "20261207-130000-search-cafe"
    damaged.mkdir()
    (damaged / SEARCH_FILE).write_text('{"base_config": {"epochs": "many"')

    at = app("runs")
    at.query_params["search"] = folder.name
    at.run()
    assert not at.exception, at.exception
    trials = next(frame.value for frame in at.dataframe if "try" in frame.value.columns)
    assert trials["try"].tolist() == [1, 2, 3]
    assert trials["best"].tolist() == ["", "★ best", ""]
    assert trials["state"].tolist() == ["completed", "completed", "stopped early (behind the others)"]
    assert trials["Model size"].tolist() == ["as chosen", "double", "as chosen"]
    assert trials["run"].tolist() == [run.id for run in runs]
    best = texts(at.success).replace("\\", "")
    assert "Best so far: try 2, accuracy 0.944 (your own settings, try 1: 0.903)" in best
    links = {link.proto.label: link.proto.query_string for link in at.get("page_link")}
    assert links["Open the best model in the Playground →"] == f"run={runs[1].id}"
    chart = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "parcoords" in c.proto.spec)
    axes = [axis["label"] for axis in chart["data"][0]["dimensions"]]
    assert axes == ["try", "Learning rate", "Epochs", "Batch size", "Dropout", "Model size", "accuracy"]
    assert chart["data"][0]["dimensions"][-1]["values"] == scores

    at.selectbox(key="runs_search_pick").set_value(damaged.name).run()
    assert not at.exception, at.exception
    assert "This search's files are damaged" in texts(at.error)


def test_the_train_page_says_the_time_plainly_and_starts_a_search_around_its_settings(workspace, sample_dataset):
    at = app("train")
    at.radio(key="train_source_text-classification").set_value("scratch").run()
    at.selectbox(key="train_model_name").set_value("bag_of_embeddings").run()
    at.button_group(key="train_preset").set_value("quick").run()
    assert "train_search_start" not in [button.key for button in at.button]
    at.session_state["train_search"] = True  # the section is filled once opened
    at.run()
    assert "Learning rate" in texts(at.markdown) and "Model size" in texts(at.markdown)
    assert "The search takes up to 15 minutes: it ends by" in texts(at.info)
    at.select_slider(key="train_search_minutes").set_value(2).run()
    assert "The search takes up to 2 minutes" in texts(at.info)

    at.button(key="train_search_start").click().run()
    assert not at.exception, at.exception
    [folder] = list_searches(workspace)
    assert at.query_params["search"] == folder.name
    record = load_search(folder)
    assert record.settings.budget_seconds == 120
    assert record.base_config.model.name == "bag_of_embeddings" and record.base_config.epochs == 3.0
    request_search_stop(folder)  # its driver process was started: end it, and the try it queued, now
    record = wait_for(lambda: (r := read_search(folder)).is_live is False and r, timeout=300, every=1.0)
    assert record.state is SearchState.STOPPED
    assert all(trial.state is not TrialState.RUNNING for trial in record.trials)
