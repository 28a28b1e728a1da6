"""Shared by the queue and fault tests: tiny runs, waiting, and leaving no process behind."""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path

from core.config.presets import default_config
from core.config.train_config import TrainConfig
from core.engine.launcher import end_process_tree, stop_consumer
from core.engine.run_folder import read_status
from core.engine.run_processes import process_alive
from core.engine.run_status import RunState
from core.engine.runs import create_run
from core.hosting.queue import JobQueue


def tiny_config(**changes) -> TrainConfig:
    """A bag-of-embeddings classifier of the café sample: a few seconds of training on one core."""
    config = default_config("text-classification", "cafe", source="scratch", preset="quick")
    model = replace(config.model, name="bag_of_embeddings", vocab_size=300, embedding_dim=16)
    return replace(config, **{"model": model, "max_steps": 4, "learning_rate": 5e-3, **changes})


def tiny_runs(workspace, count: int, **changes):
    runs = []
    for _ in range(count):
        runs.append(create_run(workspace, tiny_config(**changes)))
        time.sleep(0.01)
    return runs


def wait_for(condition, timeout: float = 60, every: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def state(run) -> RunState:
    return run.status.state


def finished(run) -> bool:
    return run.status.is_final


def clean_up(queue: JobQueue, runs_folder: Path) -> None:
    """Stop the consumer and every worker a test started (they run in their own sessions by design)."""
    stop_consumer(queue.folder)
    for run_dir in runs_folder.glob("*/"):
        status = read_status(run_dir)
        if process_alive(status):  # not a finished worker's pid, since reused by another program
            with contextlib.suppress(Exception):
                end_process_tree(status.pid, grace_seconds=1.0)
