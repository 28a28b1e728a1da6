"""A stop is quick (issue 17, item 13): a Gemma LoRA run on a CPU took 8.5 minutes to stop, because a full pass over
the validation data ran after the stop while the page said "Stopping after the current step…". Now a stop skips
the checks training would still start, and measures the model for at most a few seconds, saying so as it goes, and
eval.json says which rows the score comes from."""

from __future__ import annotations

import json
import re
import time

from core.engine.callbacks import StopCallback, StopSignal
from core.engine.launcher import WORKER_MODULE_VARIABLE, end_process_tree
from core.engine.run_folder import read_status
from core.engine.run_processes import launch, process_alive, refresh_status, request_stop
from core.engine.run_status import RunState
from core.engine.runs import create_run
from core.engine.stop_evaluation import STOP_EVALUATION_SECONDS
from core.tasks.text_generation.callbacks import LiveEvaluation
from tests.core.engine.test_worker import scratch_config
from tests.support.queue_helpers import wait_for

SLOW_BATCH_SECONDS = 2.0  # each validation batch: 72 rows in batches of 2 make a 72-second pass


def test_a_stop_with_a_slow_evaluation_ends_within_seconds_and_says_what_it_measured(workspace, sample_dataset,
                                                                                      monkeypatch):
    monkeypatch.setenv(WORKER_MODULE_VARIABLE, "tests.support.fault_worker")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # The first check 100,000 steps away: the stop comes while it trains, and only the measurement after it is slow.
    # (A check at each epoch's end came after 288 steps, under a second here, and its 72-second pass ran before the
    # page could see step 10.)
    run = create_run(workspace, scratch_config(epochs=400, batch_size=1, eval_every=100_000))
    (run.folder / "fault.json").write_text(json.dumps({"fault": "slow-eval", "seconds": SLOW_BATCH_SECONDS}))
    launch(run.folder)
    try:
        wait_for(lambda: refresh_status(run.folder).step >= 10, timeout=120)
        assert request_stop(run.folder)
        asked = time.time()
        messages = []

        def stopped():
            status = read_status(run.folder)
            messages.append(status.message)
            return refresh_status(run.folder).is_final

        wait_for(stopped, timeout=120, every=0.1)
        took = time.time() - asked
    finally:
        if process_alive(read_status(run.folder)):  # a failed test leaves no worker behind
            end_process_tree(read_status(run.folder).pid, grace_seconds=1.0)

    status = refresh_status(run.folder)
    assert status.state is RunState.STOPPED, status.message
    # The evaluation's time, a batch past it in a check the stop interrupted and one in the final pass, saving and
    # the process's own end: not the 72-second pass (or two) it took before.
    assert took < STOP_EVALUATION_SECONDS + 2 * SLOW_BATCH_SECONDS + 10, f"the stop took {took:.0f} s"
    # While it measured, the page could say how far it had got.
    assert any(re.search(r"measuring the model on the validation data, \d+ of 72 rows so far", m) for m in messages)
    report = run.evaluation
    cut = report["stopped"]
    assert 0 < cut["rows"] < cut["of"] == 72
    assert cut["note"].startswith(f"Evaluated on the first {cut['rows']} of 72 validation rows because the run "
                                  "was stopped")
    assert report["validation_rows"] == cut["rows"]  # the confusion matrix and the mistakes cover those rows
    assert f"first {cut['rows']} of 72 validation rows" in status.message
    assert run.has_model and run.can_resume


def test_no_check_starts_once_a_stop_is_asked_for_even_if_another_callback_asks_for():
    class Control:
        should_training_stop = should_save = should_evaluate = False

    class State:
        global_step, max_steps = 8, 100

    stop = StopSignal()
    live = LiveEvaluation(every=4, epoch_steps=50, save=False)  # a text-generation run's extra checks
    callbacks = [live, StopCallback(stop)]  # the engine adds the stop's callback last

    control = Control()
    for callback in callbacks:
        control = callback.on_step_end(None, State(), control)
    assert control.should_evaluate and not control.should_training_stop  # no stop: the check runs

    stop.request()
    control = Control()
    for callback in callbacks:
        control = callback.on_step_end(None, State(), control)
    assert control.should_training_stop and control.should_save and not control.should_evaluate
    control.should_evaluate = True  # the Trainer's own check at the end of the epoch it leaves
    assert not StopCallback(stop).on_epoch_end(None, State(), control).should_evaluate


def test_the_runs_page_says_a_stopped_runs_score_covers_only_the_first_rows(workspace):
    from core.engine.run_folder import EVAL_FILE, update_status, write_json_atomic
    from core.engine.stop_evaluation import CutShort, stopped_report
    from tests.pages.test_eval_views import classification_report, open_run

    run = create_run(workspace, scratch_config())
    report = classification_report([{"text": t} for t in ("a", "b", "c", "d")])
    write_json_atomic(run.folder / EVAL_FILE, stopped_report(report, CutShort(rows=4, of=872)))
    update_status(run.folder, state=RunState.STOPPED, step=30, max_steps=300, started_at=1.0, finished_at=2.0,
                  headline={"accuracy": report["accuracy"]}, message="Stopped.")
    at = open_run(run.id)
    [note] = [box.value for box in at.info if "because the run was stopped" in box.value]
    assert note.startswith("Evaluated on the first 4 of 872 validation rows because the run was stopped")
    assert "baselines are measured when a run finishes" in note
