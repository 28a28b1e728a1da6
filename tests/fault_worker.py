"""`python -m tests.fault_worker RUN_DIR`: the real worker with one fault injected, for the fault tests.

The queue starts this instead of `core.engine.worker` when `AI_PLAYGROUND_WORKER_MODULE=tests.fault_worker`. A run whose
folder holds `fault.json` ({"fault": "oom" | "nan", "at_step": 3}) meets that fault at that step; any other run
trains normally, so one queue can hold a failing run followed by a healthy one.
  - oom: the error CUDA raises when a GPU runs out of memory (torch.OutOfMemoryError), from inside the step;
  - oom-real: on a GPU, the step fills the GPU's memory until CUDA really raises that error;
  - nan: the model's weights become infinite, as when a too-high learning rate blows them up.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from transformers import Trainer

from core.engine import worker


def inject(fault: str, at_step: int) -> None:
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
            if fault == "nan":
                with torch.no_grad():
                    for parameter in model.parameters():
                        parameter.fill_(float("inf"))
        return original(self, model, *args, **kwargs)

    Trainer.training_step = training_step


def main(argv: list[str]) -> int:
    plan = Path(argv[0]) / "fault.json" if argv else None
    if plan is not None and plan.is_file():
        fault = json.loads(plan.read_text())
        inject(fault["fault"], int(fault.get("at_step", 3)))
    return worker.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
