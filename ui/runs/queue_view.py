"""The job queue on the Runs page: what trains now and what waits, in order, with who started each run, its
device(s) and the GPU memory in use; a waiting run can be taken out of the line. Also `submit`, which the Train
page and the Resume button use to put a run in the line, and `start`, which makes a new run and puts it there.

The queue itself is `core.hosting.queue`; this module only draws it and turns clicks into calls.
"""

from __future__ import annotations

import streamlit as st

from core.config.train_config import TrainConfig
from core.engine.launcher import process_tree
from core.engine.runs import Run, RunFolderError, create_run, delete_run
from core.hosting.gpus import list_gpus, memory_by_process
from core.hosting.queue import JobQueue, QueueEntry, QueueError, cancel
from core.messages import markdown_literal
from core.workspace import Workspace
from ui.common import auth

POLL_SECONDS = 2.0


def job_queue() -> JobQueue | None:
    try:
        return JobQueue(auth.settings())
    except QueueError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return None


def submit(run: Run) -> bool:
    """Put a run at the end of the line; False (with a message shown) if the queue cannot be reached."""
    queue = job_queue()
    if queue is None:
        return False
    person = auth.current_person()
    try:
        queue.submit(run, owner=person.identity if person is not None else "")
    except QueueError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return False
    return True


def start(workspace: Workspace, config: TrainConfig) -> Run | None:
    """A new run, put in the line; None (with the reason shown, and no run folder left behind) if its folder could
    not be made or the queue cannot take it. The settings stay in the form for another try."""
    try:
        run = create_run(workspace, config)
    except RunFolderError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return None
    if submit(run):
        return run
    delete_run(run)
    return None


def may_cancel(entry: QueueEntry) -> bool:
    person = auth.current_person()
    return person is not None and (person.is_admin or (bool(person.identity) and entry.owner == person.identity))


def devices(entry: QueueEntry) -> str:
    if entry.gpus:
        return ", ".join(f"GPU {gpu}" for gpu in entry.gpus)
    return entry.run.status.device or ("waiting" if entry.position else "CPU")


def gpu_memory_mb(entry: QueueEntry, by_process: dict[int, int]) -> int | None:
    """The GPU memory a run's processes hold (a torchrun group counts each of its workers)."""
    if entry.pid is None or not by_process:
        return None
    return sum(by_process.get(process.pid, 0) for process in process_tree(entry.pid)) or None


def gpu_summary() -> None:
    gpus = list_gpus()
    if gpus:
        st.caption(" · ".join(f"GPU {gpu.index} ({gpu.name}): {gpu.memory_used_mb / 1024:.1f} of "
                              f"{gpu.memory_total_mb / 1024:.0f} GB in use" for gpu in gpus))


def entry_row(entry: QueueEntry, by_process: dict[int, int], key: str) -> None:
    columns = st.columns([1.2, 4, 2.5, 2, 1.5, 1.3])
    columns[0].markdown(f"**#{entry.position}**" if entry.position else "**training**")
    columns[1].markdown(f"`{entry.run.id}`")
    columns[2].markdown(markdown_literal(entry.owner) if entry.owner else "—")  # a name a person typed
    columns[3].markdown(markdown_literal(devices(entry)))
    memory = gpu_memory_mb(entry, by_process)
    columns[4].markdown(f"{memory / 1024:.1f} GB" if memory else "—")
    label, help_text = (("Cancel", "Take this run out of the line.") if entry.position
                        else ("Stop", "Finish the current step, save the model, then stop."))
    if may_cancel(entry) and columns[5].button(label, key=f"{key}_{entry.run.id}", help=help_text,
                                               icon=":material/cancel:" if entry.position else ":material/stop:"):
        cancel(entry.run)
        st.toast(f"{'Cancelled' if entry.position else 'Stopping'} {markdown_literal(entry.run.id)}.")
        st.rerun()


def render(key: str = "queue") -> None:
    """The queue, refreshed every few seconds while anything is in it."""
    queue = job_queue()
    if queue is None:
        return
    try:
        queue.wake_consumer()  # runs left waiting by a reboot start as soon as someone looks
        live = bool(queue.entries())
    except QueueError as error:
        st.error(markdown_literal(error), icon=":material/error:")
        return

    @st.fragment(run_every=POLL_SECONDS if live else None)
    def panel() -> None:
        st.subheader("Queue")
        try:
            entries = queue.entries()
        except QueueError as error:  # the Redis server went away while the page watched
            st.error(markdown_literal(error), icon=":material/error:")
            return
        if not entries:
            st.caption("Nothing is training or waiting.")
            if live:
                st.rerun()  # the queue emptied: redraw the page once, which also stops the polling
            return
        gpu_summary()
        by_process = memory_by_process()
        header = st.columns([1.2, 4, 2.5, 2, 1.5, 1.3])
        for column, title in zip(header, ("place", "run", "started by", "device(s)", "GPU memory", "")):
            column.caption(title)
        for entry in entries:
            entry_row(entry, by_process, key)

    panel()
