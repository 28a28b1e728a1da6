"""What a stop asks of evaluation: no more checks in the training loop, and at most `STOP_EVALUATION_SECONDS` of
measuring the model afterwards, with its progress in status.json.

A stop ends training at the end of the current step, but two full passes over the validation data used to follow
it while the page said "Stopping after the current step…": the Trainer's own check when it leaves the epoch, and
the pipeline's final measurement of the kept model (8.5 minutes for a Gemma LoRA run on a CPU).
`core.engine.callbacks.StopCallback` drops the first. `StopBound` hands every evaluation pass its batches through
`BoundedBatches`, which ends a pass that runs after a stop (or that a stop interrupts) once its time is up, and
records how many rows it measured (`CutShort`), so eval.json and the Runs page say the score comes from the first K
of N rows.

The boundary: the evaluation passes of one Trainer and the status line while they run; which passes there are is
`core.engine.training`, what a run keeps of them the task pipelines and `core.engine.worker`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from core.engine.run_folder import update_status

if TYPE_CHECKING:  # the Runs page reads STOPPED_KEY from here, and should not wait for transformers to load
    from core.engine.callbacks import StopSignal

# Long enough to measure a small model on thousands of rows, short enough that a stop feels like a stop.
STOP_EVALUATION_SECONDS = 10.0
PROGRESS_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class CutShort:
    """An evaluation pass a stop ended early: it measured the first `rows` of `of` validation rows."""

    rows: int
    of: int

    @property
    def note(self) -> str:
        return (f"Evaluated on the first {self.rows:,} of {self.of:,} validation rows because the run was stopped "
                f"(the evaluation after a stop takes at most {STOP_EVALUATION_SECONDS:.0f} seconds). Resume the run "
                "to evaluate on all of them.")

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "of": self.of, "note": self.note}


class StopBound:
    """The time limit on evaluating after a stop, for one run: `seconds` from the moment an evaluation pass first
    sees the stop, shared by every pass after it (a check the stop interrupted, then the final one), so a stop
    never waits longer than that plus a batch or two. `cut_short` holds each pass it ended early, by the training
    step the pass measured."""

    def __init__(self, run_dir: Path, stop: StopSignal, seconds: float = STOP_EVALUATION_SECONDS):
        self.run_dir = run_dir
        self.stop = stop
        self.seconds = seconds
        self.cut_short: dict[int, CutShort] = {}
        self.deadline: float | None = None

    def batches(self, dataloader, step: int, device: torch.device) -> BoundedBatches:
        return BoundedBatches(dataloader, self, step, device)

    def time_is_up(self) -> bool:
        """False until a stop is asked for; then whether its time for evaluating is spent."""
        if not self.stop.requested:
            return False
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.seconds
        return now >= self.deadline


def _processes_agree(flag: bool, device: torch.device) -> bool:
    """True when any process of a multi-GPU run says so; every process must take the same number of batches, or
    the next exchange of predictions would wait forever."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return flag
    shared = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(shared, op=dist.ReduceOp.MAX)
    return shared.item() > 0


def rows_in(batch: Any) -> int:
    """How many rows a batch holds: the length of its first tensor, or for a packed batch (its examples end to end
    in one row, `core.tasks.text_generation.packing`) the examples, whose positions each restart at 0."""
    positions = batch.get("position_ids") if isinstance(batch, Mapping) else None
    if isinstance(positions, torch.Tensor) and positions.dim() == 2 and len(positions) == 1 \
            and "attention_mask" not in batch:
        return int((positions == 0).sum())
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else [batch]
    return next((len(value) for value in values if isinstance(value, torch.Tensor) and value.dim() > 0), 0)


class BoundedBatches:
    """One evaluation pass's dataloader, ended once a stop has been asked for and the time after it is spent.

    The Trainer reads `dataset` and the length from it as from the dataloader it wraps; the batches come in the
    split's own order, so the rows measured are the first ones."""

    def __init__(self, dataloader, bound: StopBound, step: int, device: torch.device):
        self.dataloader = dataloader
        self.bound = bound
        self.step = step
        self.device = device  # where the processes of a multi-GPU run exchange their flags
        self.dataset = getattr(dataloader, "dataset", None)
        self.batch_size = getattr(dataloader, "batch_size", None)
        self.total = len(self.dataset) if self.dataset is not None and hasattr(self.dataset, "__len__") else 0
        processes = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        self.processes = max(processes, 1)

    def __len__(self) -> int:
        return len(self.dataloader)

    def __iter__(self) -> Iterator[Any]:
        seen, shown = 0, 0.0
        for batch in self.dataloader:
            # At least one batch is measured, so a stopped run still gets a score.
            if _processes_agree(self.bound.time_is_up() and seen > 0, self.device):
                self._cut(seen)
                return
            if self.bound.stop.requested and time.monotonic() - shown >= PROGRESS_EVERY_SECONDS:
                shown = time.monotonic()
                self._show_progress(seen)
            yield batch
            seen += rows_in(batch) * self.processes  # every process measured a batch this size

    def _show_progress(self, seen: int) -> None:
        of = f" of {self.total:,}" if self.total else ""
        seen = min(seen, self.total) if self.total else seen
        update_status(self.bound.run_dir, message=f"Stopping: measuring the model on the validation data, "
                                                  f"{seen:,}{of} rows so far (at most "
                                                  f"{self.bound.seconds:.0f} seconds)…")

    def _cut(self, seen: int) -> None:
        self.bound.cut_short[self.step] = CutShort(min(seen, self.total) if self.total else seen, self.total)
        # Leaving a dataloader before its end skips accelerate's own clean-up, which would leave this loader
        # registered as the one training reads from.
        end = getattr(self.dataloader, "end", None)
        if callable(end):
            end()


STOPPED_KEY = "stopped"  # eval.json: what a stopped run's evaluation covers, in plain words


def stopped_report(report: dict[str, Any], cut: CutShort | None) -> dict[str, Any]:
    """eval.json of a stopped run: the report, and a note saying it measures the model so far, on which rows, and
    that the baselines (minutes on a large dataset) were left out to keep the stop quick."""
    note = {"note": cut.note if cut else "The run was stopped before its end: this is the model so far, measured "
                                         "on all the validation rows."}
    note["note"] += " The simple baselines are measured when a run finishes, not after a stop."
    if cut:
        note.update(rows=cut.rows, of=cut.of)
    return {**report, STOPPED_KEY: note}
