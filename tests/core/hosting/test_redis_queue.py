"""The Redis queue, against a real Redis server started for these tests: runs wait in line while no machine
consumes, start in order when one comes back, two machines sharing the queue train at the same time, and a Redis
server that does not answer gives a plain message instead of a traceback.

tests/setup.sh installs Debian's redis-server; without it these tests are skipped with a message saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.engine.launcher import consumer_running, stop_consumer
from core.engine.run_folder import update_status
from core.engine.run_status import RunState
from core.engine.runs import list_runs
from core.hosting.queue import JobQueue, QueueError
from tests.support.browser import ROOT, free_port
from tests.support.queue_helpers import clean_up, finished, state, tiny_runs, wait_for


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server_program = shutil.which("redis-server")
    if server_program is None:
        pytest.skip("redis-server is not installed (tests/setup.sh installs it)")
    redis = pytest.importorskip("redis", reason="the redis package is not installed (requirements-dev.txt has it)")
    port = free_port()
    server = subprocess.Popen([server_program, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: _answers(redis, url), timeout=20, every=0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(redis, url: str) -> bool:
    try:
        return redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        return False


@pytest.fixture
def redis_queue(redis_url, workspace, sample_dataset, monkeypatch):
    """The web side of a Redis queue on a machine that does not train (consume_here off), emptied after the test."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("AI_PLAYGROUND_QUEUE_BACKEND", "redis")
    monkeypatch.setenv("AI_PLAYGROUND_REDIS_URL", redis_url)
    monkeypatch.setenv("AI_PLAYGROUND_CONSUME_HERE", "false")
    queue = JobQueue()
    queue.huey.flush()
    yield queue
    clean_up(queue, workspace.runs)
    queue.huey.flush()


def start_machine(home: Path) -> subprocess.Popen:
    """A GPU machine's consumer (`python -m core.hosting.queue`, as its README step says), with its own data folder:
    only
    the Redis queue and the runs' folders are shared."""
    environment = {**os.environ, "AI_PLAYGROUND_HOME": str(home), "AI_PLAYGROUND_CONSUME_HERE": "true"}
    return subprocess.Popen([sys.executable, "-m", "core.hosting.queue", "--exit-when-idle", "30"], cwd=ROOT,
                            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def test_runs_wait_in_a_redis_queue_until_a_machine_consumes_them_then_train_in_order(redis_queue, workspace):
    runs = tiny_runs(workspace, 3)
    for run in runs:
        redis_queue.submit(run, owner="ada@example.org")
    assert [(entry.run.id, entry.position) for entry in redis_queue.entries()] == [
        (run.id, place) for place, run in enumerate(runs, start=1)]
    time.sleep(1.0)
    assert [state(run) for run in runs] == [RunState.QUEUED] * 3  # nothing consumes yet

    machine = start_machine(workspace.root)  # the machine comes back
    try:
        wait_for(lambda: all(finished(run) for run in runs), timeout=300, every=0.5)
        statuses = [run.status for run in runs]
        assert [s.state for s in statuses] == [RunState.COMPLETED] * 3, [s.message for s in statuses]
        assert [s.started_at for s in statuses] == sorted(s.started_at for s in statuses)
        for before, after in zip(statuses, statuses[1:]):
            assert after.started_at >= before.finished_at  # one run at a time on that machine
        assert redis_queue.pending_count() == 0
    finally:
        stop_consumer(workspace.root / "queue")
        machine.wait(timeout=30)


def test_two_machines_sharing_a_redis_queue_train_two_runs_at_once(redis_queue, workspace, tmp_path):
    machines = [start_machine(tmp_path / name) for name in ("gpu-box-1", "gpu-box-2")]
    try:
        # Both listening first: each trains one run at a time, so neither can take both.
        wait_for(lambda: all(consumer_running(tmp_path / name / "queue") for name in ("gpu-box-1", "gpu-box-2")),
                 timeout=60)
        first, second = tiny_runs(workspace, 2, max_steps=60)
        for run in (first, second):
            redis_queue.submit(run)
        wait_for(lambda: state(first) == state(second) == RunState.COMPLETED, timeout=300, every=0.5)
        one, two = first.status, second.status
        assert one.started_at < two.finished_at and two.started_at < one.finished_at  # overlapping
    finally:
        for name, machine in zip(("gpu-box-1", "gpu-box-2"), machines):
            stop_consumer(tmp_path / name / "queue")
            machine.wait(timeout=30)


def test_a_redis_server_that_does_not_answer_gets_a_plain_message_and_loses_nothing(workspace, sample_dataset,
                                                                                    monkeypatch):
    pytest.importorskip("redis")
    monkeypatch.setenv("AI_PLAYGROUND_QUEUE_BACKEND", "redis")
    monkeypatch.setenv("AI_PLAYGROUND_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    (run,) = tiny_runs(workspace, 1)
    update_status(run.folder, state=RunState.STOPPED, message="Stopped by you.")  # a run someone wants to resume
    with pytest.raises(QueueError, match="does not answer"):
        JobQueue().submit(run)
    assert state(run) == RunState.STOPPED  # not marked as waiting in a line that never got it

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, at.exception
    assert any("does not answer" in str(error.value) for error in at.error)

    runs_before = len(list_runs(workspace))
    at.switch_page("pages/train.py")
    at.run()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert any("does not answer" in str(error.value) for error in at.error)
    assert len(list_runs(workspace)) == runs_before  # no half-made run left behind; the form keeps its settings
