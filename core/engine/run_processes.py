"""A run's worker process as the run folder records it: launching it, telling whether it still lives, asking it to
stop, ending it, and marking failed a run whose worker vanished without a word.

The boundary: the run's side of process control. Starting and signalling processes in general is
`core.engine.launcher`; the files are `core.engine.run_folder`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil

from core.engine.launcher import TORCHRUN, ask_to_stop, end_process_tree, start_worker
from core.engine.run_folder import read_status, tail_log, update_status
from core.engine.run_status import RunState, RunStatus

# A worker that cannot write its failure into status.json (a read-only or full disk) prints it to train.log after
# this marker, for the page that finds the worker gone to read.
FAILURE_MARKER = "RUN FAILED: "


def launch(run_dir: Path, processes: int = 1, gpus: list[int] | None = None, reap: bool = True
           ) -> subprocess.Popen:
    """Start the worker now, in its own process session, so it outlives a browser refresh or a server restart.
    The app goes through the queue (`core.hosting.queue.JobQueue.submit`), whose consumer calls this when a GPU is
    free; several `processes` make a torchrun group, one per GPU in `gpus`."""
    update_status(run_dir, state=RunState.STARTING, message="Starting the training process…", started_at=time.time(),
                  finished_at=None, gpus=tuple(gpus or ()))
    process = start_worker(run_dir, processes, gpus)
    update_status(run_dir, pid=process.pid, pid_created=_create_time(process.pid),
                  launcher=TORCHRUN if processes > 1 else "python")
    if reap:  # so it doesn't linger as a zombie of the web server; the queue's consumer waits for it itself
        threading.Thread(target=process.wait, daemon=True).start()
    return process


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def process_alive(status: RunStatus) -> bool:
    if not status.pid:
        return False
    try:
        process = psutil.Process(status.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        # A recycled pid belongs to some other program: compare start times.
        return status.pid_created is None or abs(process.create_time() - status.pid_created) < 1.0
    except psutil.Error:
        return False


def refresh_status(run_dir: Path) -> RunStatus:
    """The status, after marking failed a run whose worker vanished (killed, crashed, machine restarted). A
    folder that refuses the write (read-only, disk full) still gets the failed status shown, just not kept."""
    status = read_status(run_dir)
    if not status.worker_expected or process_alive(status):
        return status
    # A worker writes its own final state; give one that has just exited a moment to do so.
    time.sleep(0.2)
    status = read_status(run_dir)
    if not status.worker_expected or process_alive(status):
        return status
    failed = {"state": RunState.FAILED, "finished_at": time.time(), "message": explain_vanished_worker(run_dir)}
    try:
        return update_status(run_dir, **failed)
    except OSError:
        return replace(status, **failed)


def explain_vanished_worker(run_dir: Path) -> str:
    log_tail = tail_log(run_dir, 80)
    reported = [line for line in log_tail.splitlines() if line.startswith(FAILURE_MARKER)]
    if reported:  # the worker said why, but could not write it into status.json
        return reported[-1].removeprefix(FAILURE_MARKER)
    if not os.access(run_dir, os.W_OK):
        return ("The run's folder can no longer be written (the workspace became read-only), so training could "
                "not go on. Make the folder writable again, then resume the run if it has a checkpoint.")
    lowered = log_tail.lower()
    if "out of memory" in lowered or "killed" in lowered or "memoryerror" in lowered:
        return ("The training process ran out of memory and was stopped. Try a smaller batch size or a shorter "
                "maximum length.")
    return ("The training process ended unexpectedly (it was killed, or the machine restarted). "
            "The log below may say more; you can resume from the last checkpoint if there is one.")


def request_stop(run_dir: Path) -> bool:
    """Ask the worker to stop: it finishes the current step, saves the model, and marks the run stopped. A run
    still waiting in the queue is cancelled instead (the queue skips a run that is no longer queued)."""
    status = refresh_status(run_dir)
    if status.state is RunState.QUEUED:
        update_status(run_dir, state=RunState.STOPPED, message="Cancelled before it started.",
                      finished_at=time.time())
        return True
    if not process_alive(status):
        return False
    update_status(run_dir, state=RunState.STOPPING, message="Stopping after the current step and saving the model…")
    ask_to_stop(status.pid, status.launcher)
    return True


def end_run_processes(run_dir: Path) -> None:
    """Before a run folder is deleted: take a waiting run out of the line and end a training one's processes."""
    status = read_status(run_dir)
    if status.state is RunState.QUEUED:
        # The queue skips a run whose folder is gone; mark it first in case its worker is starting right now.
        with contextlib.suppress(OSError):
            update_status(run_dir, state=RunState.STOPPED, message="Deleted.")
    if process_alive(status):
        end_process_tree(status.pid, grace_seconds=2.0)  # every process of a multi-GPU run, not only the first
