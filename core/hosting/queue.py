"""The job queue: runs wait here in order until a GPU (or, without one, a CPU slot) is free.

    web server ── submit() ──▶ huey queue (SQLite file, or Redis) ──▶ consumer (`python -m core.hosting.queue`, one
                                                                     per machine) ──▶ worker processes, one per run

huey keeps the queue: by default in a SQLite file under the data folder (nothing to install or start), or in Redis
when several GPU machines take runs from one queue (`queue_backend = "redis"`). The web server only adds runs and
reads the queue; each machine's consumer (`core.hosting.queue_consumer`) takes runs in order, waits until the GPUs
a run needs are free (one run per GPU unless `runs_per_gpu` says more; `cpu_runs` at once without a GPU), starts
the worker and waits for it. A run needing more GPUs than are free waits at the head of the line: nothing
overtakes it, so nobody starves. The run folder stays the contract: both sides write their decisions into the
run's status.json.

Queue messages are JSON, not pickle: a queue shared over a network must not be a way to run code in a consumer.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import sqlite3
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from huey import PriorityRedisHuey, SqliteHuey
from huey.exceptions import ConfigurationError

from core.engine.launcher import consumer_running, ensure_consumer
from core.engine.run_folder import read_status, update_status, write_status
from core.engine.run_processes import request_stop
from core.engine.run_status import RunState
from core.engine.runs import Run
from core.hosting.queue_consumer import Consumer, Held, held_runs, still_queued
from core.hosting.queue_messages import JsonSerializer
from core.hosting.settings import Settings, load_settings
from core.messages import PlainError

try:  # the Redis client is needed only with queue_backend = "redis"
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    UNREACHABLE: tuple[type[BaseException], ...] = (OSError, RedisConnectionError, RedisTimeoutError)
except ImportError:
    UNREACHABLE = (OSError,)

TASK_NAME = "train_run"
log = logging.getLogger("core.hosting.queue")


class QueueError(PlainError):
    """The queue cannot be reached or set up; the message says what to change."""


# ---------------------------------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueEntry:
    run: Run
    position: int | None  # 1 = next to start; None once training
    state: Held  # waiting (in line) or running
    owner: str
    gpus: tuple[int, ...]
    pid: int | None


def build_huey(settings: Settings):
    serializer = JsonSerializer()
    if settings.queue_backend == "redis":
        try:
            return PriorityRedisHuey("ai-playground", url=settings.redis_url, serializer=serializer, results=False)
        except ConfigurationError:
            raise QueueError("The queue is set to Redis, but the redis package is not installed: pip install redis "
                             "(or set queue_backend to 'sqlite').") from None
    settings.queue_path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("ai-playground", filename=str(settings.queue_path), serializer=serializer, results=False)


class JobQueue:
    """The queue as both sides see it: the web server adds and lists runs, a consumer trains them."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or load_settings()
        self.huey = build_huey(self.settings)
        self.task = self.huey.task(name=TASK_NAME)(self._take)
        self.consumer: Consumer | None = None  # only in the consumer's process

    @property
    def folder(self) -> Path:
        return self.settings.data_folder / "queue"

    # ------------------------------------------------------------------ web side

    @contextlib.contextmanager
    def _reaching(self):
        """A queue that cannot be reached (a Redis server down, a queue database on a full or read-only disk)
        becomes a QueueError that says what to do."""
        try:
            yield
        except (*UNREACHABLE, sqlite3.Error) as error:
            if self.settings.queue_backend == "redis":
                raise QueueError(f"The queue's Redis server ({self.settings.redis_url}) does not answer: start it, "
                                 "check redis_url, or set queue_backend to 'sqlite'.") from error
            raise QueueError(f"The queue's database ({self.settings.queue_path}) cannot be used ({error}): check "
                             "that its folder is writable and the disk is not full.") from error

    def submit(self, run: Run, owner: str = "") -> None:
        """Put a run (new, or a stopped/failed one to resume) at the end of the line, and make sure this machine
        has a consumer to take it. Nothing changes in the run folder if the queue cannot be reached."""
        with self._reaching():
            self.huey.storage.queue_size()  # reachable? (a run marked queued that no queue holds would wait forever)
        before = read_status(run.folder)
        if before.is_damaged:
            raise QueueError(f"This run cannot be trained: {before.message}. Delete it and start a new one.")
        try:
            update_status(run.folder, state=RunState.QUEUED, message="Waiting in the queue.",
                          owner=owner or local_user(), queued_at=time.time(), finished_at=None, pid=None, gpus=(),
                          stopped_early=False, kept_step=None, kept_epoch=None)
        except OSError as error:
            raise QueueError(f"The run's folder cannot be written ({error.strerror or error}): check that the disk "
                             "is not full and the workspace is writable.") from error
        try:
            with self._reaching():
                self.task(str(run.folder))
        except QueueError:  # the queue went away since the check: the run is as it was, not waiting in no queue
            write_status(run.folder, replace(before, updated_at=time.time()))
            raise
        if self.settings.consume_here:
            ensure_consumer(self.folder)

    def wake_consumer(self) -> bool:
        """Start this machine's consumer if runs wait and none takes them (after a reboot, or an idle exit)."""
        if not self.settings.consume_here or consumer_running(self.folder):
            return False
        return self.pending_count() > 0 and ensure_consumer(self.folder)

    def pending_count(self) -> int:
        with self._reaching():
            return self.huey.pending_count()

    def pending_folders(self) -> list[Path]:
        with self._reaching():
            return [Path(task.args[0]) for task in self.huey.pending() if task.args]

    def entries(self) -> list[QueueEntry]:
        """Everything live in the queue: what trains, then the line in the order it will start."""
        running, line, seen = [], [], set()
        for folder, info in held_runs(self.folder):
            seen.add(folder)
            (running if info.get("state") == Held.RUNNING else line).append(folder)
        line += [folder for folder in self.pending_folders() if folder not in seen]
        result = [self._entry(folder, None) for folder in running]
        waiting = [folder for folder in line if still_queued(folder)]
        result += [self._entry(folder, position) for position, folder in enumerate(waiting, start=1)]
        return [entry for entry in result if entry is not None]

    def _entry(self, folder: Path, position: int | None) -> QueueEntry | None:
        status = read_status(folder)
        if status.is_damaged:
            return None
        return QueueEntry(Run(folder), position, Held.WAITING if position else Held.RUNNING, status.owner,
                          status.gpus, status.pid)

    def position(self, run: Run) -> int | None:
        return next((entry.position for entry in self.entries() if entry.run.folder == run.folder), None)

    # ------------------------------------------------------------------ consumer side

    def _take(self, folder: str) -> None:
        """The queue's task, run in the consumer's threads: train one queued run."""
        self.consumer.train(folder)

    def consume(self, exit_when_idle: float | None = None) -> int:
        """Be this machine's consumer until stopped; returns the exit code (see `Consumer.consume`)."""
        self.consumer = Consumer(self)
        return self.consumer.consume(exit_when_idle)


def cancel(run: Run) -> bool:
    """Take a waiting run out of the line (a consumer skips a run that is no longer queued), or stop one that
    trains. Needs no queue connection: the run's status says it all."""
    return request_stop(run.folder)


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local user"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.hosting.queue",
        description="Take queued runs and train them on this machine's GPUs (or CPU). The app starts one by "
                    "itself; start it by hand on each GPU machine that shares a Redis queue.")
    parser.add_argument("--exit-when-idle", type=float, default=None, metavar="SECONDS",
                        help="leave after this long with nothing queued or training")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        return JobQueue().consume(arguments.exit_when_idle)
    except QueueError as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run as `python -m core.hosting.queue`, this file is `__main__`; the queue's task must be registered under the
    # name the web server gives it (core.hosting.queue.train_run), so use the module as imported by name.
    from core.hosting.queue import main as main_of_core_jobs

    sys.exit(main_of_core_jobs(sys.argv[1:]))
