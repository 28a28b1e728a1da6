"""The queue's consumer side: one process per machine (`python -m core.hosting.queue`) that takes queued runs in
order, waits until the GPUs a run needs are free, starts its worker and waits for it.

It writes its decisions (waiting for a GPU, failed because its worker could not start) into the run's status.json
like the worker does, and lists what it holds in `queue/consumer-<host>.json` (`ConsumerRegistry`) for the Runs
page. That list also lets a restarted consumer adopt the workers that kept training while it was away, and put back
at the head of the line the runs it had taken but not started. The boundary: the consumer's side of one machine;
the queue both sides share, and the web server's side of it, is `core.hosting.queue`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.engine.launcher import ensure_consumer, hold_consumer_lock
from core.engine.run_folder import CONFIG_FILE, read_json_object, read_status, update_status, write_json_atomic
from core.engine.run_processes import launch, process_alive, refresh_status
from core.engine.run_status import RunState
from core.hosting.gpu_slots import Placement, PlacementError, Slots, placement
from core.hosting.gpus import list_gpus, parse_gpu_list
from core.messages import counted

if TYPE_CHECKING:
    from core.hosting.queue import JobQueue

# Runs a restarted consumer had taken but not started go back ahead of everything queued since.
PUT_BACK_PRIORITY = 10
POLL_SECONDS = 0.25  # how soon an idle consumer notices a new run


class Held(StrEnum):
    """Where a run the consumer took off the queue is: waiting for its GPUs, or training."""

    WAITING = "waiting"
    RUNNING = "running"


def still_queued(run_dir: Path) -> bool:
    return (run_dir / CONFIG_FILE).is_file() and read_status(run_dir).state is RunState.QUEUED


class Consumer:
    """A machine's consumer of one JobQueue: its slots (GPUs, or CPU runs) and the runs it holds."""

    def __init__(self, queue: JobQueue):
        self.queue = queue
        self.settings = queue.settings
        self.slots = Slots(self.machine_gpus(), self.settings.runs_per_gpu, self.settings.cpu_runs)
        self.registry = ConsumerRegistry(queue.folder)
        self.left_idle = False

    def machine_gpus(self) -> list[int]:
        found = [gpu.index for gpu in list_gpus()]
        allowed = parse_gpu_list(self.settings.gpus)
        return [gpu for gpu in found if allowed is None or gpu in allowed]

    def train(self, folder: str) -> None:
        """One queued run: wait for its GPUs, start the worker, wait for it."""
        run_dir = Path(folder)
        if not still_queued(run_dir):
            return  # cancelled or deleted while it waited
        try:
            need = placement(read_json_object(run_dir / CONFIG_FILE) or {}, len(self.slots.gpus))
        except PlacementError as error:
            update_status(run_dir, state=RunState.FAILED, message=str(error), finished_at=time.time())
            return
        self.registry.hold(run_dir, state=Held.WAITING)
        try:
            gpus = self.slots.take(need.gpus, lambda: not still_queued(run_dir),
                                   lambda free: note_waiting(run_dir, need.gpus, free))
            if gpus is not None:
                self.run_worker(run_dir, need, gpus)
        finally:
            self.registry.release(run_dir)

    def run_worker(self, run_dir: Path, need: Placement, gpus: list[int]) -> None:
        try:
            process = launch(run_dir, processes=need.processes, gpus=gpus, reap=False)
            self.registry.hold(run_dir, state=Held.RUNNING, gpus=gpus, pid=process.pid)
            process.wait()
        except OSError as error:
            with contextlib.suppress(OSError):  # a folder that refuses this too is marked failed when next read
                update_status(run_dir, state=RunState.FAILED, finished_at=time.time(),
                              message=f"The training process could not start: {error}.")
        finally:
            self.slots.give_back(gpus)
        refresh_status(run_dir)  # a worker that died without a word (kill -9, out of host memory) is marked now

    def consume(self, exit_when_idle: float | None = None) -> int:
        """Take runs until stopped (SIGINT waits for the runs being started; SIGTERM leaves at once, and the
        workers train on for the next consumer to adopt). Returns the exit code."""
        lock = hold_consumer_lock(self.queue.folder)
        if lock is None:
            print("Another consumer already takes this machine's runs.", flush=True)
            return 0
        self.adopt_previous()
        consumer = self.queue.huey.create_consumer(
            workers=self.slots.capacity, worker_type="thread", periodic=False, initial_delay=POLL_SECONDS,
            backoff=1.0, max_delay=POLL_SECONDS)
        if exit_when_idle:
            threading.Thread(target=self.leave_when_idle, args=(exit_when_idle,), daemon=True).start()
        print(f"Consumer {os.getpid()} takes runs: {describe(self.slots)}.", flush=True)
        consumer.run()
        lock.close()  # from here a new consumer may start
        if self.left_idle and self.queue.folder.is_dir() and self.queue.pending_count() > 0:
            ensure_consumer(self.queue.folder)  # a run queued while this one was leaving must not wait for a visit
        return 0

    def adopt_previous(self) -> None:
        """Workers still training from before this consumer started keep their GPUs; runs taken but not started
        go back to the head of the line, in their order."""
        previous = self.registry.previous()
        for folder, info in sorted(previous.items(), key=lambda item: item[1].get("ticket", 0)):
            run_dir = Path(folder)
            status = read_status(run_dir)
            gpus = list(info.get("gpus") or [])
            if info.get("state") == Held.RUNNING and process_alive(status):
                self.slots.adopt(gpus)
                self.registry.hold(run_dir, state=Held.RUNNING, gpus=gpus, pid=status.pid)
                threading.Thread(target=self.watch_adopted, args=(run_dir, gpus), daemon=True).start()
            elif status.state is RunState.QUEUED:
                self.queue.huey.enqueue(self.queue.task.s(str(run_dir), priority=PUT_BACK_PRIORITY))
            else:
                refresh_status(run_dir)

    def watch_adopted(self, run_dir: Path, gpus: list[int]) -> None:
        while process_alive(read_status(run_dir)):
            time.sleep(0.5)
        refresh_status(run_dir)
        self.slots.give_back(gpus)
        self.registry.release(run_dir)

    def leave_when_idle(self, seconds: float) -> None:
        idle_since = time.monotonic()
        while True:
            time.sleep(1.0)
            if not self.queue.folder.is_dir():
                seconds = 0  # its data folder was deleted (a test's, say): nothing can ever come
            elif self.slots.busy or self.registry.holding() or self.queue.pending_count() > 0:
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
        return dict((read_json_object(self.path) or {}).get("runs") or {})

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


def held_runs(queue_folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Runs the machines' consumers have taken off the queue: training, or waiting for a GPU (in ticket order)."""
    entries = []
    for path in sorted(queue_folder.glob("consumer-*.json")):
        runs = (read_json_object(path) or {}).get("runs")
        entries.extend((Path(folder), info) for folder, info in (runs if isinstance(runs, dict) else {}).items()
                       if isinstance(info, dict))
    return sorted(entries, key=lambda entry: entry[1].get("ticket", 0))


def note_waiting(run_dir: Path, gpus: int, free: int) -> None:
    if gpus:
        message = f"Waiting for {counted(gpus, 'free GPU')} ({free} free now)."
    else:
        message = "Waiting for the run before it to finish."
    update_status(run_dir, message=message)


def describe(slots: Slots) -> str:
    if slots.gpus:
        return f"GPUs {slots.gpus}, {counted(slots.runs_per_gpu, 'run')} per GPU"
    return f"no GPU, {counted(slots.cpu_runs, 'run')} at a time on the CPU"
