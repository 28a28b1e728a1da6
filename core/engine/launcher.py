"""Starting and ending the app's background processes: training workers and the job queue's consumer.

- A worker is `python -m core.engine.worker RUN_DIR`; a run on several GPUs is the same module under `torchrun`, one
  process per GPU, training data-parallel through the same Trainer.
- The consumer (`python -m core.hosting.queue`) takes queued runs and starts their workers. The web server starts it on
  demand (`ensure_consumer`), as a process of its own: Streamlit's script threads cannot host it (it needs a main
  thread for its signals), and a process outlives a server restart. A lock file held for the consumer's whole life
  makes sure there is one per machine however many sessions or reruns ask.

Every process starts in its own session so a browser refresh or a server restart leaves it running. torchrun starts
its workers in sessions of their own too, so ending a run means ending its whole process tree, not one group.
The boundary: processes and files only; it knows nothing of runs' contents (that is `core.engine.runs`), and a
run's side of its worker (launching it, marking it failed when it vanished) is `core.engine.run_processes`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from core.engine.run_folder import LOG_FILE
from core.workspace import PROJECT_ROOT

# Set in a launched worker's environment: its output already goes to train.log, so it must not copy it there.
LOG_REDIRECTED = "AI_PLAYGROUND_LOG_REDIRECTED"
# The module a worker runs. Fault tests point it at a wrapper that injects a failure; nothing else changes it.
WORKER_MODULE_VARIABLE = "AI_PLAYGROUND_WORKER_MODULE"
TORCHRUN = "torchrun"
# A consumer the app started for itself leaves after this long with nothing to do; the next run starts it again.
CONSUMER_IDLE_EXIT_SECONDS = 600


# ---------------------------------------------------------------------------------------------------- workers


def worker_command(run_dir: Path, processes: int = 1) -> list[str]:
    """The command that trains RUN_DIR: one process, or a torchrun group of `processes` (one per GPU)."""
    module = os.environ.get(WORKER_MODULE_VARIABLE) or "core.engine.worker"
    if processes <= 1:
        return [sys.executable, "-m", module, str(run_dir)]
    # --standalone: a private rendezvous on a free local port, so several groups can run side by side.
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "--monitor-interval=0.5", "-m", module, str(run_dir)]


def worker_environment(gpus: list[int] | None) -> dict[str, str]:
    environment = {**os.environ, LOG_REDIRECTED: "1", "PYTHONUNBUFFERED": "1"}
    if gpus:
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu in gpus)
    return environment


# Training takes every CPU cycle it is given. At a lower priority it still gets all the cycles nobody else wants,
# but the web server answering people's clicks goes first, so pages stay quick while a run trains.
WORKER_NICENESS = 10


def start_worker(run_dir: Path, processes: int = 1, gpus: list[int] | None = None) -> subprocess.Popen:
    """Start the worker in its own session, at a lower CPU priority than the app; its output goes to train.log."""
    with open(run_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(worker_command(run_dir, processes), cwd=PROJECT_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=worker_environment(gpus), start_new_session=True)
    # Set at once, while Python is still starting: torchrun's processes, started later, inherit it.
    with contextlib.suppress(psutil.Error, OSError):
        psutil.Process(process.pid).nice(WORKER_NICENESS)
    return process


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and everything it started (torchrun's workers included), leader first."""
    try:
        leader = psutil.Process(pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return []


def signal_processes(processes: list[psutil.Process], signal_number: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal_number)


def ask_to_stop(pid: int, launcher: str = "python") -> None:
    """SIGTERM, which a worker turns into "finish this step, save, stop". A torchrun group gets it in its
    workers only: they agree on the step to stop at and exit cleanly, and torchrun then ends by itself (SIGTERM to
    torchrun would give its workers 30 s before killing them, which a large model's save can exceed)."""
    tree = process_tree(pid)
    signal_processes(tree[1:] if launcher == TORCHRUN else tree, signal.SIGTERM)


def end_process_tree(pid: int, grace_seconds: float = 5.0) -> None:
    """End a worker and everything it started: SIGTERM, then SIGKILL to whatever is left after the grace period.
    SIGKILL of torchrun alone would leave its workers alive, holding GPU memory."""
    tree = process_tree(pid)
    signal_processes(tree, signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=grace_seconds)
    signal_processes(alive, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=grace_seconds)


# ---------------------------------------------------------------------------------------------------- consumer


def consumer_lock_path(queue_folder: Path) -> Path:
    # One consumer per machine: with a Redis queue, several machines may share the data folder.
    return queue_folder / f"consumer-{socket.gethostname()}.lock"


def hold_consumer_lock(queue_folder: Path):
    """The open lock file if this process is now the machine's consumer, else None. Keep it open while consuming:
    the lock ends with the process, however it ends."""
    queue_folder.mkdir(parents=True, exist_ok=True)
    handle = open(consumer_lock_path(queue_folder), "a+")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def consumer_running(queue_folder: Path) -> bool:
    path = consumer_lock_path(queue_folder)
    if not path.exists():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def consumer_pid(queue_folder: Path) -> int | None:
    try:
        return int(consumer_lock_path(queue_folder).read_text().strip())
    except (OSError, ValueError):
        return None


def _starting_path(queue_folder: Path) -> Path:
    return queue_folder / f"consumer-{socket.gethostname()}.starting"


def consumer_starting(queue_folder: Path) -> bool:
    """A consumer was started and is still importing: alive, but not yet holding the lock it takes once it runs."""
    try:
        pid, created = _starting_path(queue_folder).read_text().split()
        process = psutil.Process(int(pid))
        alive = abs(process.create_time() - float(created)) < 1.0 and process.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, psutil.Error):
        return False
    return alive and not consumer_running(queue_folder)


def ensure_consumer(queue_folder: Path) -> bool:
    """Start this machine's consumer unless one runs; True if one was started. Racing callers are safe: a second
    consumer finds the lock taken and leaves at once."""
    if consumer_running(queue_folder) or consumer_starting(queue_folder):
        return False
    queue_folder.mkdir(parents=True, exist_ok=True)
    with open(queue_folder / "consumer.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.hosting.queue", "--exit-when-idle", str(CONSUMER_IDLE_EXIT_SECONDS)],
            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    with contextlib.suppress(OSError, psutil.Error):
        _starting_path(queue_folder).write_text(f"{process.pid} {psutil.Process(process.pid).create_time()}")
    # Reap it when it ends, so it doesn't linger as a zombie of the web server.
    threading.Thread(target=process.wait, daemon=True).start()
    return True


def stop_consumer(queue_folder: Path, timeout: float = 10.0) -> None:
    """End this machine's consumer (tests, or an admin). Running workers are left alone: a new consumer adopts
    them. One still starting is waited for first, or it would take the lock after this looked."""
    deadline = time.time() + 3 * timeout  # importing takes seconds, more on a busy machine
    while consumer_starting(queue_folder) and time.time() < deadline:
        time.sleep(0.1)
    pid = consumer_pid(queue_folder)
    if pid is None or not consumer_running(queue_folder):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while consumer_running(queue_folder) and time.time() < deadline:
        time.sleep(0.1)
    if consumer_running(queue_folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
