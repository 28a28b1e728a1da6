"""The job queue: runs wait in line, start one at a time (or one per GPU), can be cancelled, survive a consumer
that is away, and a multi-GPU run is a torchrun group whose stop ends every process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest
from streamlit.testing.v1 import AppTest

from core.engine.launcher import (
    consumer_running,
    end_process_tree,
    ensure_consumer,
    process_tree,
    stop_consumer,
    worker_command,
)
from core.engine.run_folder import read_metrics, update_status
from core.engine.run_processes import launch, refresh_status, request_stop
from core.engine.run_status import RunState
from core.hosting.gpu_slots import PlacementError, Slots, placement
from core.hosting.queue import JobQueue, QueueError, cancel
from core.hosting.queue_messages import JsonSerializer
from core.hosting.settings import Settings, SettingsError, load_settings
from tests.support.paths import ROOT
from tests.support.queue_helpers import clean_up, finished, state, tiny_runs, wait_for


@pytest.fixture
def queue(workspace, sample_dataset, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    job_queue = JobQueue()
    yield job_queue
    clean_up(job_queue, workspace.runs)


def test_five_runs_queued_at_once_train_one_at_a_time_in_order(queue, workspace):
    runs = tiny_runs(workspace, 5)
    for run in runs:
        queue.submit(run, owner="ada@example.org")
    line = queue.entries()
    assert [entry.run.id for entry in line] == [run.id for run in runs]
    assert all(entry.owner == "ada@example.org" for entry in line)

    wait_for(lambda: all(finished(run) for run in runs), timeout=400, every=0.5)
    statuses = [run.status for run in runs]
    assert [s.state for s in statuses] == [RunState.COMPLETED] * 5, [s.message for s in statuses]
    starts = [s.started_at for s in statuses]
    assert starts == sorted(starts)  # in the order they were queued
    for before, after in zip(statuses, statuses[1:]):
        assert after.started_at >= before.finished_at  # one at a time: never two training together
    wait_for(lambda: queue.entries() == [], timeout=15)  # the last worker's process has ended too


def test_runs_wait_while_no_consumer_runs_and_a_cancelled_one_is_skipped(queue, workspace, monkeypatch):
    monkeypatch.setenv("AI_PLAYGROUND_CONSUME_HERE", "false")  # as if the consumer were down
    away = JobQueue()
    first, second, third = tiny_runs(workspace, 3)
    for run in (first, second, third):
        away.submit(run)
    assert not consumer_running(away.folder)
    assert [(e.run.id, e.position) for e in away.entries()] == [(first.id, 1), (second.id, 2), (third.id, 3)]
    assert cancel(second)
    assert state(second) == RunState.STOPPED and "Cancelled" in second.status.message
    assert [(e.run.id, e.position) for e in away.entries()] == [(first.id, 1), (third.id, 2)]
    time.sleep(1.0)
    assert state(first) == RunState.QUEUED  # nothing took it

    monkeypatch.setenv("AI_PLAYGROUND_CONSUME_HERE", "true")
    assert JobQueue().wake_consumer()  # what the Runs page does when it finds runs waiting and no consumer
    wait_for(lambda: state(first) == RunState.COMPLETED and state(third) == RunState.COMPLETED, timeout=240, every=0.5)
    assert state(second) == RunState.STOPPED and not read_metrics(second.folder)


def test_the_runs_page_shows_the_line_and_a_waiting_run_can_be_cancelled_there(queue, workspace, monkeypatch):
    monkeypatch.setenv("AI_PLAYGROUND_CONSUME_HERE", "false")
    first, second = tiny_runs(workspace, 2)
    for run in (first, second):
        JobQueue().submit(run)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, at.exception
    shown = " ".join(str(element.value) for element in at.markdown)
    assert "**#1**" in shown and "**#2**" in shown
    assert shown.index(first.id) < shown.index(second.id)
    at.button(key=f"queue_{second.id}").click().run()
    assert state(second) == RunState.STOPPED and state(first) == RunState.QUEUED
    assert second.id not in " ".join(str(element.value) for element in at.markdown if "`" in str(element.value))


def test_a_queue_failing_after_the_check_leaves_the_run_as_it_was_and_says_what_to_do(queue, workspace,
                                                                                      monkeypatch):
    (run,) = tiny_runs(workspace, 1)
    update_status(run.folder, state=RunState.STOPPED, message="Stopped by you.")  # a run someone wants to resume

    def disk_full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(queue.huey, "enqueue", disk_full)  # the queue answered the check, then failed
    with pytest.raises(QueueError, match="writable and the disk is not full"):
        queue.submit(run)
    assert (run.status.state, run.status.message) == (RunState.STOPPED, "Stopped by you.")  # not waiting in no queue
    assert queue.pending_count() == 0


def test_only_one_consumer_per_machine(queue):
    assert ensure_consumer(queue.folder)
    wait_for(lambda: consumer_running(queue.folder), timeout=30)
    assert not ensure_consumer(queue.folder)  # another session, or a rerun, asks again
    # One started by hand while the first runs leaves at once.
    extra = subprocess.run([sys.executable, "-m", "core.hosting.queue"], capture_output=True, text=True, timeout=60,
                           cwd=ROOT)
    assert extra.returncode == 0 and "Another consumer" in extra.stdout
    stop_consumer(queue.folder)
    assert not consumer_running(queue.folder)


# ---------------------------------------------------------------------------------------------------- GPUs


def take_in_thread(slots: Slots, count: int, results: list, cancelled=lambda: False) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(slots.take(count, cancelled, lambda free: None)))
    thread.start()
    return thread


def test_one_run_per_gpu_and_a_run_needing_more_gpus_than_free_waits():
    slots = Slots([0, 1], runs_per_gpu=1, cpu_runs=1)
    assert slots.take(1, lambda: False, lambda free: None) == [0]
    big: list = []
    waiting_big = take_in_thread(slots, 2, big)  # needs both GPUs, one is free
    time.sleep(0.3)
    small: list = []
    waiting_small = take_in_thread(slots, 1, small)  # would fit, but must not overtake the big run
    time.sleep(0.3)
    assert big == [] and small == []
    slots.give_back([0])
    waiting_big.join(2)
    assert big == [[0, 1]]
    time.sleep(0.3)
    assert small == []
    slots.give_back([0, 1])
    waiting_small.join(2)
    assert small == [[0]]


def test_gpus_can_be_shared_and_a_waiting_run_can_be_cancelled():
    slots = Slots([0], runs_per_gpu=2, cpu_runs=1)
    assert slots.take(1, lambda: False, lambda free: None) == [0]
    assert slots.take(1, lambda: False, lambda free: None) == [0]  # two runs on one GPU, as configured
    cancelled = threading.Event()
    third: list = []
    waiting = take_in_thread(slots, 1, third, cancelled.is_set)
    cancelled.set()
    waiting.join(3)
    assert third == [None] and not slots.waiting


def test_cpu_only_machines_run_the_configured_number_at_once():
    slots = Slots([], runs_per_gpu=1, cpu_runs=2)
    assert slots.capacity == 2
    assert slots.take(0, lambda: False, lambda free: None) == []
    assert slots.take(0, lambda: False, lambda free: None) == []
    third: list = []
    waiting = take_in_thread(slots, 0, third)
    time.sleep(0.3)
    assert third == []
    slots.give_back([])
    waiting.join(2)
    assert third == [[]]


def test_placement_says_plainly_what_a_machine_cannot_do():
    assert placement({"device": "auto", "num_gpus": 1}, 0).gpus == 0  # a laptop trains on its CPU
    assert placement({"device": "auto", "num_gpus": 2}, 4) == placement({"device": "cuda", "num_gpus": 2}, 2)
    assert placement({"device": "cpu", "num_gpus": 4}, 8).gpus == 0
    with pytest.raises(PlacementError, match="asks for 4 GPUs, but this machine has 2"):
        placement({"device": "auto", "num_gpus": 4}, 2)
    with pytest.raises(PlacementError, match="has none"):
        placement({"device": "cuda", "num_gpus": 1}, 0)


def test_queue_messages_are_json_not_pickle(queue, workspace):
    [run] = tiny_runs(workspace, 1)
    queue.huey.enqueue(queue.task.s(str(run.folder)))
    [blob] = queue.huey.storage.enqueued_items()
    assert str(run.folder) in json.dumps(json.loads(blob))  # plain JSON: reading it can run no code
    [task] = queue.huey.pending()
    assert task.args == [str(run.folder)]
    when = datetime(2026, 11, 3, 12, 30)
    assert JsonSerializer().deserialize(JsonSerializer().serialize((when, True))) == [when, True]


def test_settings_come_from_the_file_then_the_environment(tmp_path):
    file = tmp_path / "playground.toml"
    file.write_text('queue_backend = "redis"\ncpu_runs = 3\ncheckpoint_every = 25\n')
    settings = load_settings({"AI_PLAYGROUND_CPU_RUNS": "2"}, file)
    assert (settings.queue_backend, settings.cpu_runs, settings.checkpoint_every) == ("redis", 2, 25)
    assert load_settings({}, tmp_path / "missing.toml") == Settings()
    with pytest.raises(SettingsError, match="cpu_runs must be a whole number"):
        load_settings({"AI_PLAYGROUND_CPU_RUNS": "two"}, file)
    with pytest.raises(SettingsError, match="gpus must be GPU numbers"):
        load_settings({"AI_PLAYGROUND_GPUS": "first"}, file)


def test_a_redis_queue_without_the_redis_package_says_what_to_install(monkeypatch):
    import huey.storage

    monkeypatch.setattr(huey.storage, "Redis", None)  # what huey sees when `import redis` failed
    with pytest.raises(QueueError, match="pip install redis"):
        JobQueue(Settings(queue_backend="redis"))


# ---------------------------------------------------------------------------------------------------- torchrun


def test_ending_a_run_ends_its_whole_process_tree_even_across_sessions():
    """torchrun starts its workers in sessions of their own: a signal to torchrun's group would miss them."""
    leader = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "time.sleep(60)")], start_new_session=True)
    tree = wait_for(lambda: len(t := process_tree(leader.pid)) == 2 and t, timeout=20)
    assert os.getsid(tree[1].pid) != os.getsid(leader.pid)
    end_process_tree(leader.pid, grace_seconds=2.0)
    leader.wait(5)
    assert not tree[1].is_running() or tree[1].status() == psutil.STATUS_ZOMBIE


def test_a_multi_gpu_run_is_a_torchrun_group():
    command = worker_command(Path("/runs/r1"), processes=4)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc-per-node=4" in command and command[-3:] == ["-m", "core.engine.worker", "/runs/r1"]
    assert worker_command(Path("/runs/r1")) == [sys.executable, "-m", "core.engine.worker", "/runs/r1"]


def test_a_two_process_group_trains_data_parallel_and_stop_ends_every_process(workspace, sample_dataset,
                                                                                monkeypatch):
    """torchrun with 2 CPU processes on gloo: the same Trainer, data-parallel; Stop ends the whole group."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    [run] = tiny_runs(workspace, 1, max_steps=100_000, device="cpu", eval_every=10, batch_size=8)
    process = launch(run.folder, processes=2)
    try:
        status = wait_for(lambda: (s := refresh_status(run.folder)).step >= 3 and s, timeout=150)
        assert status.launcher == "torchrun" and status.pid == process.pid
        group = [process.pid, *(child.pid for child in psutil.Process(process.pid).children(recursive=True))]
        workers = [pid for pid in group if "core.engine.worker" in " ".join(psutil.Process(pid).cmdline())
                   and "torch.distributed.run" not in " ".join(psutil.Process(pid).cmdline())]
        assert len(workers) == 2
        assert status.max_steps == 100_000
        assert request_stop(run.folder)
        stopped = wait_for(lambda: (s := refresh_status(run.folder)).is_final and s, 90)
        assert stopped.state == RunState.STOPPED, stopped.message
        process.wait(30)
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in group)
        assert run.has_model
        # Data-parallel: each step read a batch of 8 in each of the 2 processes, so an epoch of 288 rows took
        # 18 steps, not 36.
        assert stopped.epoch == pytest.approx(stopped.step * 2 * 8 / 288, rel=0.01)
    finally:
        if process.poll() is None:
            from core.engine.launcher import end_process_tree

            end_process_tree(process.pid, 1.0)
