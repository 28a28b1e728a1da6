"""Damaged run folders (issue 21, item 6): a status.json that is `[]` or cut off, text where a step should be, a
metrics line `[1, 2]`, an empty or unknown config.json, a status write the disk refuses, and a Start pressed on a
full disk. Each damaged run shows as "damaged: <what>" with a Delete button; the rest of the Runs, Team and
Train pages keeps working, for its owner and for every team mate."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from core.config.train_config import ModelSpec, TrainConfig
from core.engine.run_folder import (
    CONFIG_FILE,
    EVAL_FILE,
    METRICS_FILE,
    STATUS_FILE,
    append_metrics,
    read_metrics,
    read_status,
    update_status,
    write_json_atomic,
)
from core.engine.run_status import RunState
from core.engine.run_table import run_row
from core.engine.runs import create_run, list_runs
from core.hosting.people import Person, Team
from core.workspace import write_text_atomic
from tests.core.hosting.test_people import hosted_app
from tests.support.paths import ROOT


def scratch_config() -> TrainConfig:
    return TrainConfig(task="text-classification", dataset="cafe",
                       model=ModelSpec(source="scratch", name="bag_of_embeddings"))


def healthy_run(workspace):
    """A finished text classifier's folder, written as the worker writes it (no training needed)."""
    run = create_run(workspace, scratch_config())
    for step in (10, 20):
        append_metrics(run.folder, {"step": step, "epoch": step / 10, "loss": 1.0 / step})
        append_metrics(run.folder, {"step": step, "epoch": step / 10, "eval_loss": 0.5, "eval_accuracy": 0.75})
    update_status(run.folder, state=RunState.COMPLETED, step=20, max_steps=20, started_at=1.0, finished_at=2.0,
                  headline={"accuracy": 0.75}, message="Finished.")
    return run


def unknown_task_config() -> str:
    return json.dumps(scratch_config().to_dict() | {"task": "poetry"})


# file, what it holds, and what the page must say about it
DAMAGES = {
    "status-list": (STATUS_FILE, "[]", "status.json: it holds a list, not a status"),
    "status-step-text": (STATUS_FILE, '{"state": "running", "step": "twelve"}',
                         "status.json: its step is 'twelve', not a whole number"),
    "status-cut-off": (STATUS_FILE, '{"state": "comple', "status.json is not valid JSON"),
    "config-empty": (CONFIG_FILE, "", "config.json is empty"),
    "config-list": (CONFIG_FILE, "[1, 2]", "config.json holds a list, not a run's settings"),
    "config-unknown-task": (CONFIG_FILE, unknown_task_config(), "config.json: The task must be one of"),
}


def damaged_run(workspace, kind: str):
    run = healthy_run(workspace)
    name, content, _ = DAMAGES[kind]
    (run.folder / name).write_text(content)
    return run


@pytest.mark.parametrize("kind", sorted(DAMAGES))
def test_each_damage_is_named_in_plain_words_and_nothing_raises(workspace, kind):
    run = damaged_run(workspace, kind)
    expected = DAMAGES[kind][2]
    assert expected in run.problem
    assert run_row(run)["state"].startswith("damaged: ") and expected in run_row(run)["state"]
    assert not run.status.is_live and not run.can_resume
    assert [r.id for r in list_runs(workspace)] == [run.id]


def test_an_unparseable_status_is_reported_as_damaged_not_missing(tmp_path):
    (tmp_path / STATUS_FILE).write_text('{"state": "running", "step": 3')
    status = read_status(tmp_path)
    assert status.state is RunState.DAMAGED and "not valid JSON" in status.message and "missing" not in status.message
    (tmp_path / STATUS_FILE).unlink()
    assert read_status(tmp_path).message == "status.json is missing"


def test_lines_that_are_not_records_are_skipped_and_the_rest_drawn(workspace):
    run = healthy_run(workspace)
    with open(run.folder / METRICS_FILE, "a") as file:
        file.write('[1, 2]\n{"step": "x", "loss": 1}\n{"step": 30, "loss": "high", "eval_loss": 0.4}\n')
    records = read_metrics(run.folder)
    assert [r["step"] for r in records] == [10, 10, 20, 20, 30] and records[-1] == {"step": 30, "eval_loss": 0.4}
    assert run.problem is None


def test_a_half_written_status_file_never_replaces_a_whole_one(workspace, monkeypatch):
    run = healthy_run(workspace)
    before = (run.folder / STATUS_FILE).read_text()

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_text_atomic(run.folder / STATUS_FILE, "{}")
    assert (run.folder / STATUS_FILE).read_text() == before
    assert sorted(p.name for p in run.folder.iterdir()) == sorted([CONFIG_FILE, STATUS_FILE, METRICS_FILE])


def open_runs_page(run_id: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    if run_id:
        at.query_params["run"] = run_id
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("error", "markdown", "caption") for e in getattr(at, kind))


def test_the_runs_page_lists_every_run_and_a_damaged_one_can_be_deleted(workspace):
    healthy = healthy_run(workspace)
    with open(healthy.folder / METRICS_FILE, "a") as file:
        file.write("[1, 2]\n")
    damaged = {kind: damaged_run(workspace, kind) for kind in sorted(DAMAGES)}
    at = open_runs_page()
    table = at.dataframe[0].value
    assert set(table["run"]) == {healthy.id, *(run.id for run in damaged.values())}
    states = dict(zip(table["run"], table["state"]))
    assert states[healthy.id] == "completed"
    assert all(states[run.id].startswith("damaged: ") for run in damaged.values())

    for kind, run in damaged.items():
        at = open_runs_page(run.id)
        assert f"damaged: {DAMAGES[kind][2]}".replace("'", "") in texts(at).replace("\\", "").replace("'", "")
    at.button(key="runs_damaged_delete").click().run()  # the last one opened
    assert not at.exception, at.exception
    assert not run.folder.exists()
    assert run.id not in set(at.dataframe[0].value["run"])

    at = open_runs_page(healthy.id)
    assert "Accuracy" not in texts(at)  # its evaluation tab is empty: no eval.json was written
    assert len(at.get("plotly_chart")) >= 2  # its curves, the line `[1, 2]` skipped


def test_a_team_mates_damaged_runs_leave_the_team_page_working(workspace, monkeypatch):
    team = Team(workspace.root)
    ada, bob = Person("ada", "Ada"), Person("bob", "Bob")
    ada_space = team.register(ada)
    team.register(bob)
    healthy = healthy_run(ada_space)
    broken = [damaged_run(ada_space, kind) for kind in sorted(DAMAGES)]
    at = hosted_app(monkeypatch, person=bob).run()  # signed in as Bob, as the People tests do
    at.switch_page("pages/team.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert set(table["run"]) == {healthy.id, *(run.id for run in broken)}

    at.query_params["team_run"] = f"{ada.id}/{broken[0].id}"
    at.run()
    assert not at.exception, at.exception
    assert "damaged: " in texts(at)
    assert not [b for b in at.button if b.label in ("Yes, delete", "Copy into my workspace")]  # not Bob's run
    at.query_params["team_run"] = f"{ada.id}/{healthy.id}"
    at.run()
    assert not at.exception and at.button(key="team_copy")


def finished_process_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_status_write_refused_while_refreshing_still_shows_the_run_failed(workspace, monkeypatch):
    run = healthy_run(workspace)
    update_status(run.folder, state=RunState.RUNNING, pid=finished_process_pid(), pid_created=1.0, finished_at=None)

    def read_only(path, text):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr("core.engine.run_folder.write_text_atomic", read_only)
    status = run.status
    assert status.state is RunState.FAILED and "ended unexpectedly" in status.message
    assert json.loads((run.folder / STATUS_FILE).read_text())["state"] == "running"  # nothing could be written
    at = open_runs_page(run.id)
    assert "ended unexpectedly" in texts(at)


def test_start_on_a_full_disk_leaves_no_half_made_run_and_works_once_space_is_freed(workspace, sample_dataset,
                                                                                   monkeypatch):
    monkeypatch.setenv("AI_PLAYGROUND_CONSUME_HERE", "false")  # queued, not trained: the test is about the folder
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception

    real_fsync = os.fsync

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    at.button(key="train_start").click().run()
    monkeypatch.setattr(os, "fsync", real_fsync)  # space is freed
    assert not at.exception, at.exception
    assert "could not be created: No space left on device" in " ".join(e.value for e in at.error)
    assert list(workspace.runs.iterdir()) == []  # no folder, no 0-byte config.json

    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    [run] = list_runs(workspace)
    assert run.problem is None and run.status.state is RunState.QUEUED
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception


def test_a_zero_byte_config_left_by_an_older_version_shows_as_damaged(workspace):
    run = healthy_run(workspace)
    write_json_atomic(run.folder / EVAL_FILE, {"confusion_matrix": 1, "accuracy": "high"})  # nobody can draw it
    at = open_runs_page(run.id)
    assert "damaged: " in texts(at)  # the evaluation tab says so instead of raising
    (run.folder / CONFIG_FILE).write_text("")
    at = open_runs_page(run.id)
    assert "damaged: config.json is empty" in texts(at).replace("\\", "")
