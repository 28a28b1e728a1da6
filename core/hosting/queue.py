"""The job queue: runs wait here in order until a GPU (or, without one, a CPU slot) is free.

    web server ── submit() ──▶ huey queue (SQLite file, or Redis) ──▶ consumer (`python -m core.hosting.queue`, one per
                                                                     machine) ──▶ worker processes, one per run

huey keeps the queue: by default in a SQLite file under the data folder (nothing to install or start), or in Redis
when several GPU machines take runs from one queue (`queue_backend = "redis"`). The web server only adds runs and
reads the queue; each machine's consumer takes runs in order, waits until the GPUs a run needs are free (one run
per GPU unless `runs_per_gpu` says more; `cpu_runs` at once without a GPU), starts the worker and waits for it.
A run needing more GPUs than are free waits at the head of the line: nothing overtakes it, so nobody starves.

The run folder stays the contract: the consumer writes its decisions (waiting for a GPU, which GPUs, failed because
its worker died) into status.json like the worker does, and lists what it holds in `queue/consumer-<host>.json`
for the Runs page. That list also lets a restarted consumer adopt the workers that kept training while it was
away, and put back at the head of the line the runs it had taken but not started.

Queue messages are JSON, not pickle: a queue shared over a network must not be a way to run code in a consumer.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import itertools
import logging
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import PriorityRedisHuey, SqliteHuey
from huey.exceptions import ConfigurationError

from core.engine.launcher import consumer_running, ensure_consumer, hold_consumer_lock
from core.engine.runs import (
    Run,
    launch,
    process_alive,
    read_json,
    refresh_status,
    request_stop,
    update_status,
    write_json_atomic,
)
from core.hosting.gpu_slots import Placement, PlacementError, Slots, placement
from core.hosting.gpus import list_gpus, parse_gpu_list
from core.hosting.queue_messages import JsonSerializer
from core.hosting.settings import Settings, load_settings
from core.messages import PlainError, counted

try:  # the Redis client is needed only with queue_backend = "redis"
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    UNREACHABLE: tuple[type[BaseException], ...] = (OSError, RedisConnectionError, RedisTimeoutError)
except ImportError:
    UNREACHABLE = (OSError,)

TASK_NAME = "train_run"
# Runs a restarted consumer had taken but not started go back ahead of everything queued since.
PUT_BACK_PRIORITY = 10
POLL_SECONDS = 0.25  # how soon an idle consumer notices a new run
log = logging.getLogger("core.hosting.queue")


class QueueError(PlainError):
    """The queue cannot be reached or set up; the message says what to change."""


# ---------------------------------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueEntry:
    run: Run
    position: int | None  # 1 = next to start; None once training
    state: str  # waiting (in line) or running
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
        self.task = self.huey.task(name=TASK_NAME)(self._train)
        self.slots: Slots | None = None  # only in a consumer
        self.registry: ConsumerRegistry | None = None
        self.left_idle = False

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
        before = run.status
        update_status(run.folder, state="queued", message="Waiting in the queue.", owner=owner or local_user(),
                      queued_at=time.time(), finished_at=None, pid=None, gpus=[])
        try:
            with self._reaching():
                self.task(str(run.folder))
        except QueueError:  # the queue went away since the check: the run is as it was, not waiting in no queue
            write_json_atomic(run.folder / "status.json", before)
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

    def held(self) -> list[tuple[Path, dict[str, Any]]]:
        """Runs the consumers have taken off the queue: training, or waiting for a GPU (in ticket order)."""
        entries = []
        for path in sorted(self.folder.glob("consumer-*.json")):
            entries.extend((Path(folder), info) for folder, info in (read_json(path, {}).get("runs") or {}).items())
        return sorted(entries, key=lambda entry: entry[1].get("ticket", 0))

    def entries(self) -> list[QueueEntry]:
        """Everything live in the queue: what trains, then the line in the order it will start."""
        running, line, seen = [], [], set()
        for folder, info in self.held():
            seen.add(folder)
            (running if info.get("state") == "running" else line).append(folder)
        line += [folder for folder in self.pending_folders() if folder not in seen]
        result = [self._entry(folder, None) for folder in running]
        waiting = [folder for folder in line if _still_queued(folder)]
        result += [self._entry(folder, position) for position, folder in enumerate(waiting, start=1)]
        return [entry for entry in result if entry is not None]

    def _entry(self, folder: Path, position: int | None) -> QueueEntry | None:
        status = read_json(folder / "status.json")
        if not isinstance(status, dict):
            return None
        return QueueEntry(Run(folder), position, "waiting" if position else "running", status.get("owner", ""),
                          tuple(status.get("gpus") or ()), status.get("pid"))

    def position(self, run: Run) -> int | None:
        return next((entry.position for entry in self.entries() if entry.run.folder == run.folder), None)

    # ------------------------------------------------------------------ consumer side

    def _train(self, folder: str) -> None:
        """One queued run, from the consumer's side: wait for its GPUs, start the worker, wait for it."""
        run_dir = Path(folder)
        if not _still_queued(run_dir):
            return  # cancelled or deleted while it waited
        try:
            need = placement(read_json(run_dir / "config.json", {}), len(self.slots.gpus))
        except PlacementError as error:
            update_status(run_dir, state="failed", message=str(error), finished_at=time.time())
            return
        self.registry.hold(run_dir, state="waiting")
        try:
            gpus = self.slots.take(need.gpus, lambda: not _still_queued(run_dir),
                                   lambda free: _note_waiting(run_dir, need.gpus, free))
            if gpus is not None:
                self._run_worker(run_dir, need, gpus)
        finally:
            self.registry.release(run_dir)

    def _run_worker(self, run_dir: Path, need: Placement, gpus: list[int]) -> None:
        try:
            process = launch(Run(run_dir), processes=need.processes, gpus=gpus, reap=False)
            self.registry.hold(run_dir, state="running", gpus=gpus, pid=process.pid)
            process.wait()
        except OSError as error:
            update_status(run_dir, state="failed", message=f"The training process could not start: {error}.",
                          finished_at=time.time())
        finally:
            self.slots.give_back(gpus)
        refresh_status(run_dir)  # a worker that died without a word (kill -9, out of host memory) is marked now

    def consume(self, exit_when_idle: float | None = None) -> int:
        """Take runs until stopped (SIGINT waits for the runs being started; SIGTERM leaves at once, and the
        workers train on for the next consumer to adopt). Returns the exit code."""
        lock = hold_consumer_lock(self.folder)
        if lock is None:
            print("Another consumer already takes this machine's runs.", flush=True)
            return 0
        self.slots = Slots(self.machine_gpus(), self.settings.runs_per_gpu, self.settings.cpu_runs)
        self.registry = ConsumerRegistry(self.folder)
        self._adopt_previous()
        consumer = self.huey.create_consumer(workers=self.slots.capacity, worker_type="thread", periodic=False,
                                             initial_delay=POLL_SECONDS, backoff=1.0, max_delay=POLL_SECONDS)
        if exit_when_idle:
            threading.Thread(target=self._leave_when_idle, args=(exit_when_idle,), daemon=True).start()
        print(f"Consumer {os.getpid()} takes runs: {_describe(self.slots)}.", flush=True)
        consumer.run()
        lock.close()  # from here a new consumer may start
        if self.left_idle and self.folder.is_dir() and self.pending_count() > 0:
            ensure_consumer(self.folder)  # a run queued while this one was leaving must not wait for a visit
        return 0

    def machine_gpus(self) -> list[int]:
        found = [gpu.index for gpu in list_gpus()]
        allowed = parse_gpu_list(self.settings.gpus)
        return [gpu for gpu in found if allowed is None or gpu in allowed]

    def _adopt_previous(self) -> None:
        """Workers still training from before this consumer started keep their GPUs; runs taken but not started
        go back to the head of the line, in their order."""
        previous = self.registry.previous()
        for folder, info in sorted(previous.items(), key=lambda item: item[1].get("ticket", 0)):
            run_dir = Path(folder)
            status = read_json(run_dir / "status.json", {})
            gpus = list(info.get("gpus") or [])
            if info.get("state") == "running" and process_alive(status):
                self.slots.adopt(gpus)
                self.registry.hold(run_dir, state="running", gpus=gpus, pid=status.get("pid"))
                threading.Thread(target=self._watch_adopted, args=(run_dir, gpus), daemon=True).start()
            elif status.get("state") == "queued":
                self.huey.enqueue(self.task.s(str(run_dir), priority=PUT_BACK_PRIORITY))
            else:
                refresh_status(run_dir)

    def _watch_adopted(self, run_dir: Path, gpus: list[int]) -> None:
        while process_alive(read_json(run_dir / "status.json", {})):
            time.sleep(0.5)
        refresh_status(run_dir)
        self.slots.give_back(gpus)
        self.registry.release(run_dir)

    def _leave_when_idle(self, seconds: float) -> None:
        idle_since = time.monotonic()
        while True:
            time.sleep(1.0)
            if not self.folder.is_dir():
                seconds = 0  # its data folder was deleted (a test's, say): nothing can ever come
            elif self.slots.busy or self.registry.holding() or self.pending_count() > 0:
                idle_since = time.monotonic()
            if time.monotonic() - idle_since >= seconds:
                print(f"Nothing to do for {seconds:.0f} s: leaving.", flush=True)
                self.left_idle = True
                os.kill(os.getpid(), signal.SIGINT)  # huey's graceful stop, from its main thread
                return


class ConsumerRegistry:
    """`queue/consumer-<host>.json`: the runs this machine's consumer holds, for the Runs page and for the next
    consumer if this one dies."""

    def __init__(self, folder: Path):
        self.path = folder / f"consumer-{socket.gethostname()}.json"
        self.lock = threading.Lock()
        self.tickets = itertools.count()
        self.runs: dict[str, dict[str, Any]] = {}

    def previous(self) -> dict[str, dict[str, Any]]:
        return dict(read_json(self.path, {}).get("runs") or {})

    def hold(self, run_dir: Path, **info: Any) -> None:
        with self.lock:
            entry = self.runs.setdefault(str(run_dir), {"ticket": next(self.tickets), "since": time.time()})
            entry.update(info)
            self._write()

    def release(self, run_dir: Path) -> None:
        with self.lock:
            self.runs.pop(str(run_dir), None)
            self._write()

    def holding(self) -> bool:
        with self.lock:
            return bool(self.runs)

    def _write(self) -> None:
        write_json_atomic(self.path, {"pid": os.getpid(), "updated_at": time.time(), "runs": self.runs})


def cancel(run: Run) -> bool:
    """Take a waiting run out of the line (a consumer skips a run that is no longer queued), or stop one that
    trains. Needs no queue connection: the run's status says it all."""
    return request_stop(run)


def _still_queued(run_dir: Path) -> bool:
    status = read_json(run_dir / "status.json")
    return (run_dir / "config.json").is_file() and isinstance(status, dict) and status.get("state") == "queued"


def _note_waiting(run_dir: Path, gpus: int, free: int) -> None:
    if gpus:
        message = f"Waiting for {counted(gpus, 'free GPU')} ({free} free now)."
    else:
        message = "Waiting for the run before it to finish."
    update_status(run_dir, message=message)


def _describe(slots: Slots) -> str:
    if slots.gpus:
        return f"GPUs {slots.gpus}, {counted(slots.runs_per_gpu, 'run')} per GPU"
    return f"no GPU, {counted(slots.cpu_runs, 'run')} at a time on the CPU"


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
    # name the
    # web server gives it (core.hosting.queue.train_run), so use the module as imported by name.
    from core.hosting.queue import main as main_of_core_jobs

    sys.exit(main_of_core_jobs(sys.argv[1:]))
