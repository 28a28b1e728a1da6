"""A run stopped because its loss blew up (issue 17, item 11): the Runs page offers one button, "Try again with a
lower learning rate", with the change shown first, instead of "Resume" (which would blow up again) and instead of an
evaluation promised "when the run finishes" that never comes."""

from __future__ import annotations

from dataclasses import replace

from core.coach.remedies import read_parent
from core.engine.callbacks import MetricsCallback
from core.engine.divergence import stopped_for_divergence
from core.engine.run_folder import CHECKPOINTS_DIR, read_status, update_status
from core.engine.run_status import RunState
from core.engine.runs import create_run, list_runs
from core.hosting.queue import cancel
from tests.core.engine.test_worker import scratch_config
from tests.pages.test_eval_views import open_run


def diverged_run(workspace):
    """A run as the worker leaves it when the loss explodes: its losses logged, the reason as its failure."""
    run = create_run(workspace, scratch_config(learning_rate=3e-3))
    callback = MetricsCallback(run.folder)
    control = type("Control", (), {"should_training_stop": False})()
    for step, loss in [(1, 0.70), (5, 0.55), (10, 0.30), (15, 0.28), (16, 0.25), (17, 8.1), (18, 9.3)]:
        state = type("State", (), {"global_step": step, "epoch": step / 90, "is_world_process_zero": True})()
        callback.on_log(None, state, control, logs={"loss": loss})
    assert control.should_training_stop and callback.diverged
    (run.folder / CHECKPOINTS_DIR / "checkpoint-10").mkdir(parents=True)  # a check saved before it blew up
    update_status(run.folder, state=RunState.FAILED, step=18, max_steps=270, started_at=1.0, finished_at=2.0,
                  message=callback.diverged)
    return run


def texts(elements) -> str:
    return " ".join(str(element.value) for element in elements).replace("\\", "")


def test_a_diverged_run_offers_one_retry_with_a_tenth_of_the_learning_rate(workspace, sample_dataset):
    run = diverged_run(workspace)
    assert stopped_for_divergence(read_status(run.folder)) and run.can_resume
    at = open_run(run.id)

    labels = [button.label for button in at.button]
    assert labels.count("Try again with a lower learning rate") == 1  # one button, not a second one below
    assert "Resume" not in labels and "Start a new run with this change" not in labels
    diff = next(frame.value for frame in at.dataframe if "new run" in frame.value.columns)
    assert diff.to_dict("records") == [{"setting": "Learning rate", "this run": "0.003", "new run": "0.0003"}]
    assert "when the run finishes" not in texts(at.caption)
    assert "No evaluation: training was stopped when its loss blew up" in texts(at.caption)

    at.button(key="runs_actions_retry").click().run()
    assert not at.exception, at.exception
    new_run = next(r for r in list_runs(workspace) if r.id != run.id)
    cancel(new_run)  # it joined the queue; the test needs only its folder
    assert at.query_params["run"] == new_run.id
    assert new_run.config == replace(run.config, learning_rate=3e-4)  # the same settings otherwise
    assert read_parent(new_run.folder)["change"] == {"learning_rate": 3e-4}


def test_other_failures_keep_resume_and_do_not_promise_an_evaluation(workspace, sample_dataset):
    run = create_run(workspace, scratch_config())
    (run.folder / CHECKPOINTS_DIR / "checkpoint-10").mkdir(parents=True)
    update_status(run.folder, state=RunState.FAILED, step=10, max_steps=270, started_at=1.0, finished_at=2.0,
                  message="Training ran out of memory. Try a smaller batch size or a shorter maximum length.")
    assert not stopped_for_divergence(read_status(run.folder))
    at = open_run(run.id)
    labels = [button.label for button in at.button]
    assert "Resume" in labels and "Try again with a lower learning rate" not in labels
    assert "when the run finishes" not in texts(at.caption)
    assert "No evaluation: the run failed before its model was measured" in texts(at.caption)
