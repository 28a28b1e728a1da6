"""What a worker needs to know when it is one of several processes of a multi-GPU run started by torchrun.

torchrun starts one worker per GPU and tells each its place through environment variables; the Trainer reads the
same variables and trains data-parallel. This module adds what the app needs on top: which process writes the
run's files (the first), a stop that all processes agree on, and an end with torchrun if torchrun is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal

import torch
import torch.distributed as dist
from transformers import TrainerCallback

from core.engine.callbacks import StopSignal

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def end_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when torchrun dies, even by SIGKILL: torchrun starts its workers in
    sessions of their own, so otherwise they would train on, orphaned, holding their GPUs. SIGTERM is the worker's
    "save and stop", so the group still leaves a checkpoint behind."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return  # not Linux: the app's own stop still ends the whole process tree


class AgreeOnStop(TrainerCallback):
    """A stop request reaches each process at a slightly different moment; if one left the training loop a step
    before the others, they would wait for it forever in the next gradient exchange. After every step the processes
    share their flags (one tiny all-reduce), so all of them stop at the same step, or none does."""

    def __init__(self, stop: StopSignal):
        self.stop = stop

    def on_step_end(self, args, state, control, **kwargs):
        if not (dist.is_available() and dist.is_initialized()):
            return control
        flag = torch.tensor([1.0 if self.stop.requested else 0.0], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item() > 0:
            self.stop.request()
            control.should_training_stop = True
            control.should_save = True
        return control
