"""Faults while runs train through the queue, and what the app does about each: a worker killed with SIGKILL, the
web server restarting, a GPU running out of memory, a loss that becomes NaN. The OOM and the NaN are injected by
`tests/support/fault_worker.py` into the real worker at a chosen step."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from playwright.sync_api import expect

from core.engine.launcher import WORKER_MODULE_VARIABLE, consumer_running
from core.engine.run_folder import read_metrics
from core.engine.run_status import RunState
from core.hosting.queue import JobQueue
from tests.support.browser import start_app, stop_app, wait_for_app
from tests.support.queue_helpers import clean_up, finished, tiny_runs, wait_for

CHECKPOINT_EVERY = 10


@pytest.fixture
def queue(workspace, sample_dataset, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv(WORKER_MODULE_VARIABLE, "tests.support.fault_worker")
    monkeypatch.setenv("AI_PLAYGROUND_CHECKPOINT_EVERY", str(CHECKPOINT_EVERY))
    job_queue = JobQueue()
    yield job_queue
    clean_up(job_queue, workspace.runs)


def inject(run, fault: str, at_step: int = 3) -> None:
    (run.folder / "fault.json").write_text(json.dumps({"fault": fault, "at_step": at_step}))


def last_logged_step(run) -> int:
    return max((record["step"] for record in read_metrics(run.folder) if "loss" in record), default=0)


def test_a_worker_killed_mid_run_is_failed_within_5_s_and_resumes_losing_at_most_one_interval(queue, workspace):
    # 36 steps an epoch at batch 8, so without the setting the only checkpoint would come at the epoch's end.
    [run] = tiny_runs(workspace, 1, max_steps=300, batch_size=8)
    queue.submit(run)
    wait_for(lambda: last_logged_step(run) >= 2 * CHECKPOINT_EVERY + 3, timeout=240, every=0.05)
    os.kill(run.status.pid, signal.SIGKILL)
    killed_at, lost_after = time.time(), last_logged_step(run)

    status = wait_for(lambda: (s := run.status).state is RunState.FAILED and s, timeout=5, every=0.1)
    assert time.time() - killed_at < 5
    assert "ended unexpectedly" in status.message and "resume from the last checkpoint" in status.message
    assert run.can_resume

    queue.submit(run)  # the Resume button
    wait_for(lambda: finished(run), timeout=240, every=0.5)
    assert run.status.state == RunState.COMPLETED, run.status.message
    resumed_from = int(re.search(r"Resuming from .*checkpoint-(\d+)", (run.folder / "train.log").read_text())[1])
    assert lost_after - resumed_from <= CHECKPOINT_EVERY + 1  # +1: the step in flight when the log was read
    assert run.status.step == 300


def test_out_of_memory_fails_cleanly_with_a_smaller_batch_and_the_next_run_starts(queue, workspace):
    failing, following = tiny_runs(workspace, 2, batch_size=32)
    inject(failing, "oom")
    queue.submit(failing)
    queue.submit(following)
    wait_for(lambda: finished(following), timeout=240, every=0.5)
    status = failing.status
    assert status.state == RunState.FAILED
    assert status.message.startswith("Training ran out of memory. Try a smaller batch size (for example 16 "
                                        "instead of 32)")
    assert "Traceback" not in status.message
    assert following.status.state == RunState.COMPLETED
    assert following.status.started_at >= status.finished_at


def test_a_nan_loss_stops_the_run_with_a_plain_explanation(queue, workspace):
    [run] = tiny_runs(workspace, 1, max_steps=40)
    inject(run, "nan", at_step=5)
    queue.submit(run)
    wait_for(lambda: finished(run), timeout=240, every=0.5)
    status = run.status
    assert status.state == RunState.FAILED, status
    assert "became infinite or not-a-number at step 5" in status.message
    assert "Lower the learning rate" in status.message
    assert status.step < 40  # it stopped there instead of training on garbage


def test_a_workspace_made_read_only_mid_run_ends_the_run_failed_with_the_reason(queue, workspace):
    [run] = tiny_runs(workspace, 1, max_steps=200)
    inject(run, "read-only", at_step=5)
    queue.submit(run)
    wait_for(lambda: finished(run), timeout=240, every=0.5)
    status = run.status
    assert status.state == RunState.FAILED, status
    assert "could not be written (Read-only file system)" in status.message
    assert "became read-only or its disk is full" in status.message and "Traceback" not in status.message
    assert status.step < 200


@pytest.mark.browser
def test_training_goes_on_through_a_server_restart_and_the_runs_page_reattaches(queue, workspace, page,
                                                                                  monkeypatch):
    monkeypatch.setenv("AI_PLAYGROUND_CONSUME_HERE", "false")  # the app's server, not this test, starts it
    long_run, second, third = tiny_runs(workspace, 3, max_steps=100_000, batch_size=8)
    for run in (long_run, second, third):
        queue.submit(run)
    environment = {"AI_PLAYGROUND_CONSUME_HERE": "true", WORKER_MODULE_VARIABLE: "core.engine.worker"}

    server, url = start_app(workspace.root, environment)
    try:
        page.goto(f"{url}/runs")  # finds runs waiting and no consumer: starts one, outside the script thread
        wait_for_app(page)
        wait_for(lambda: (long_run.status.step) > 0, timeout=240, every=0.5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server stops (or crashes) while the run trains
        server.wait(20)

    step = long_run.status.step
    wait_for(lambda: long_run.status.step > step, timeout=30)  # training goes on without a server
    assert consumer_running(queue.folder)
    line = [(entry.run.id, entry.position) for entry in queue.entries()]
    assert line == [(long_run.id, None), (second.id, 1), (third.id, 2)]  # the queue kept its order

    server, url = start_app(workspace.root, environment)
    try:
        page.goto(f"{url}/runs?run={long_run.id}")
        wait_for_app(page)
        expect(page.get_by_text("training", exact=True).first).to_be_visible(timeout=60_000)
        for position, run in enumerate((second, third), start=1):
            expect(page.get_by_text(f"#{position}", exact=True).first).to_be_visible(timeout=30_000)
            expect(page.get_by_text(run.id, exact=True).first).to_be_visible(timeout=30_000)
        text = page.inner_text("body")
        assert text.index(long_run.id) < text.index(second.id) < text.index(third.id)
        live_progress = page.get_by_text(re.compile(r"step [1-9][\d,]* of")).first
        expect(live_progress).to_be_visible(timeout=60_000)  # the run's live panel is back
    finally:
        stop_app(server, workspace.root)
