"""`python -m tests.support.fault_worker RUN_DIR`: the real worker with one fault injected, for the fault tests.

The queue starts this instead of `core.engine.worker` when
`AI_PLAYGROUND_WORKER_MODULE=tests.support.fault_worker`. A run whose
folder holds `fault.json` ({"fault": "oom" | "nan", "at_step": 3}) meets that fault at that step; any other run
trains normally, so one queue can hold a failing run followed by a healthy one.
  - oom: the error CUDA raises when a GPU runs out of memory (torch.OutOfMemoryError), from inside the step;
  - oom-real: on a GPU, the step fills the GPU's memory until CUDA really raises that error;
  - nan: the model's weights become infinite, as when a too-high learning rate blows them up;
  - read-only: the run's folder refuses every write from then on, as when the workspace is made read-only (or its
    disk fills) mid-run; the log, already open, still takes the worker's output.
  - slow-eval: every validation batch takes `seconds` (default 3) longer, as a large model's does on a CPU.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import sys
import time
from pathlib import Path

import torch
from transformers import Trainer

from core.engine import worker


def refuse_writes_under(folder: Path) -> None:
    folder = folder.resolve()
    real_open, real_replace = builtins.open, os.replace

    def inside(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and Path(path).resolve().is_relative_to(folder)

    def read_only(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    def guarded_open(file, mode="r", *args, **kwargs):
        if inside(file) and any(sign in mode for sign in "wax+"):
            read_only(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_replace(source, target, *args, **kwargs):
        if inside(target):
            read_only(target)
        return real_replace(source, target, *args, **kwargs)

    builtins.open, os.replace = guarded_open, guarded_replace


def inject(fault: str, at_step: int, run_dir: Path) -> None:
    original = Trainer.training_step

    def training_step(self, model, *args, **kwargs):
        if self.state.global_step + 1 >= at_step:
            if fault == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.77 GiB "
                                             "total capacity; 14.90 GiB already allocated)")
            if fault == "oom-real":  # on a GPU: fill it until CUDA itself raises out-of-memory
                hoard = []
                while True:
                    hoard.append(torch.empty(1 << 30, dtype=torch.uint8, device=self.args.device))
            if fault == "read-only":
                refuse_writes_under(run_dir)
            if fault == "nan":
                with torch.no_grad():
                    for parameter in model.parameters():
                        parameter.fill_(float("inf"))
        return original(self, model, *args, **kwargs)

    Trainer.training_step = training_step


def slow_evaluation(seconds: float) -> None:
    original = Trainer.prediction_step

    def prediction_step(self, *args, **kwargs):
        time.sleep(seconds)
        return original(self, *args, **kwargs)

    Trainer.prediction_step = prediction_step


def main(argv: list[str]) -> int:
    plan = Path(argv[0]) / "fault.json" if argv else None
    if plan is not None and plan.is_file():
        fault = json.loads(plan.read_text())
        if fault["fault"] == "slow-eval":
            slow_evaluation(float(fault.get("seconds", 3)))
        else:
            inject(fault["fault"], int(fault.get("at_step", 3)), Path(argv[0]))
    return worker.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
