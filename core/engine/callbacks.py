"""The callbacks every training run gets, whatever its task: the stop a person asks for (`StopSignal`, acted on by
`StopCallback`), and `MetricsCallback`, which feeds the run folder's live files and stops a run whose numbers blow
up (spotted by `core.engine.divergence`).

The boundary: watching one Trainer and writing what it sees into the run folder (through `core.engine.run_folder`);
building the Trainer is `core.engine.training`, the process around it `core.engine.worker`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from core.engine.divergence import LossWatch, divergence_reason
from core.engine.run_folder import append_metrics, update_status
from core.engine.run_status import RunState

# ---------------------------------------------------------------------------------------------------- stop


@dataclass
class StopSignal:
    """Set from a signal handler; read by the callback at the end of each step."""

    event: threading.Event = field(default_factory=threading.Event)

    def request(self) -> None:
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()


class StopCallback(TrainerCallback):
    """Once a stop is asked for: end training at this step, save a checkpoint (so Resume continues exactly from
    here) and skip the check that this step or the end of the epoch would start, a full pass over the validation
    data (minutes for a large model on a CPU) while the page says it is stopping. The engine adds it after every
    other callback, since any of them may ask for a check (a text-generation run's extra checks do).
    What is measured after the stop is bounded by `core.engine.stop_evaluation`."""

    def __init__(self, stop: StopSignal):
        self.stop = stop

    def on_step_end(self, args, state, control, **kwargs):
        if self.stop.requested:
            control.should_training_stop = True
            control.should_save = True
            control.should_evaluate = False
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.stop.requested:
            control.should_evaluate = False
        return control


class NoFinalCheckpoint(TrainerCallback):
    """Skips the checkpoint of the last step: a finished run saves its model on its own and deletes its
    checkpoints (`core.engine.worker`), so that one was written only to be removed: model and optimizer state,
    0.3 GB for MiniLM and 1.6 GB for Gemma 3 270M. Early stopping keeps it, since the best check's checkpoint is
    the model it loads back. Added before `StopCallback`, whose checkpoint after a stop must stay."""

    def on_step_end(self, args, state, control, **kwargs):
        return self._skip_if_last(args, state, control)

    def on_epoch_end(self, args, state, control, **kwargs):
        return self._skip_if_last(args, state, control)

    @staticmethod
    def _skip_if_last(args, state, control):
        if state.global_step >= state.max_steps and not args.load_best_model_at_end:
            control.should_save = False
        return control


# ---------------------------------------------------------------------------------------------------- callback


class MetricsCallback(TrainerCallback):
    """Appends every log to metrics.jsonl, keeps status.json's progress fresh, and turns a diverging loss into a
    clean stop. Only the main process writes, so a multi-GPU run logs once."""

    STATUS_EVERY_SECONDS = 1.0

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.started = time.time()
        self.last_status = 0.0
        self.first_step = 0
        self.diverged: str | None = None
        self.losses = LossWatch()

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.time()
        self.first_step = state.global_step  # a resumed run counts its speed from where it picked up
        if state.is_world_process_zero:
            update_status(self.run_dir, state=RunState.RUNNING, max_steps=state.max_steps, step=state.global_step,
                          message="Training.")

    def on_step_end(self, args, state, control, **kwargs):
        now = time.time()
        if state.is_world_process_zero and (now - self.last_status >= self.STATUS_EVERY_SECONDS
                                            or state.global_step == state.max_steps):
            self.last_status = now
            self._write_progress(state, now)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        # Progress is written at most once a second; a stop or the end must leave the exact step behind.
        if state.is_world_process_zero:
            self._write_progress(state, time.time())

    def _write_progress(self, state, now: float) -> None:
        elapsed = now - self.started
        done = max(state.global_step - self.first_step, 1)
        remaining = max(state.max_steps - state.global_step, 0)
        update_status(self.run_dir, step=state.global_step, max_steps=state.max_steps, epoch=state.epoch,
                      elapsed_seconds=elapsed, eta_seconds=elapsed / done * remaining)

    def on_log(self, args, state, control, logs=None, **kwargs):
        record: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch,
                                  "time": round(time.time() - self.started, 3)}
        record.update({k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))})
        if state.is_world_process_zero:
            append_metrics(self.run_dir, record)
        reason = divergence_reason(record) or self.losses.explosion(record)
        if reason:
            self.diverged = reason
            control.should_training_stop = True
        return control
