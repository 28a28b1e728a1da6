"""The probe's stopwatch: when each training step, validation batch, check and checkpoint ended, and how much
each batch held.

`ProbeClock` is a Trainer callback that lets a warm-up step and a few timed steps run, then asks for one check and
one checkpoint and stops. `UnitCounter` wraps the plan's collator to count what each batch held: padded tokens for
texts (a batch of long reviews takes longer than one of short ones) or rows for images and tables. The probe turns
the timed steps into seconds per unit and scales them to the epoch's average batch, which `mean_train_units`
computes from the dataset's lengths in the order the real sampler draws them.

The boundary: timestamps and counts of one probe's training; nothing about what they add up to over a run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
import torch
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase, TrainerCallback, default_data_collator
from transformers.trainer_pt_utils import LengthGroupedSampler

MIN_TIMED_STEPS = 3
ENOUGH_SECONDS = 10.0  # timed steps stop once they have taken this long (and at least MIN_TIMED_STEPS ran)
SLOWEST_LEFT_OUT = 0.2  # of five or more timed steps, this share of the slowest is left out of the average


# ---------------------------------------------------------------------------------------------------- batches


def units_of(batch: Any, rows: int) -> int:
    """Padded tokens in a batch of texts, else its rows."""
    ids = batch.get("input_ids") if isinstance(batch, dict) or hasattr(batch, "get") else None
    return int(ids.numel()) if isinstance(ids, torch.Tensor) else rows


Shape = tuple[int, int]  # a batch's rows and padded length


class UnitCounter:
    """The plan's collator, counting each batch's units: while training, then while checking."""

    def __init__(self, collate):
        self.collate = collate
        self.phase = "train"
        self.train: list[int] = []
        self.train_shapes: list[Shape] = []
        self.check: list[int] = []
        self.check_rows: list[int] = []

    def __call__(self, features):
        batch = self.collate(features)
        units = units_of(batch, len(features))
        if self.phase == "train":
            self.train.append(units)
            self.train_shapes.append((len(features), units // max(len(features), 1)))
        elif self.phase == "check":
            self.check.append(units)
            self.check_rows.append(len(features))
        return batch

    @classmethod
    def around(cls, plan) -> UnitCounter:
        """Put a counter around the plan's collator (the Trainer's own default when the plan names none)."""
        collate = plan.data_collator
        if collate is None:
            tokenizer = isinstance(plan.processing_class, PreTrainedTokenizerBase)
            collate = DataCollatorWithPadding(plan.processing_class) if tokenizer else default_data_collator
        counter = cls(collate)
        plan.data_collator = counter
        return counter


def input_lengths(dataset: Any) -> list[int] | None:
    """Each example's length in tokens, for a tokenized dataset; None for images, tables and drawn windows."""
    if isinstance(dataset, datasets.Dataset) and "input_ids" in dataset.column_names:
        return [len(ids) for ids in dataset["input_ids"]]
    return None


def tokens_in(lengths: list[int], packed: bool = False) -> int:
    """Tokens one batch of examples of these lengths computes: all padded to the longest, or packed end to end."""
    return sum(lengths) if packed else len(lengths) * max(lengths)


def batch_units(lengths: list[int], batch_size: int, packed: bool = False) -> float:
    """Tokens in all batches of `lengths` taken in order (a check reads the validation rows in order)."""
    chunks = (lengths[i:i + batch_size] for i in range(0, len(lengths), batch_size))
    return float(sum(tokens_in(chunk, packed) for chunk in chunks))


def probe_check_rows(lengths: list[int] | None, rows: int, batch_size: int, packed: bool = False) -> range:
    """The validation rows a probe checks: two batches, from the one with the longest texts on (a check's memory
    peaks there), or the first two when the rows have no lengths."""
    batches = math.ceil(rows / batch_size)
    if not lengths or batches <= 2:
        return range(min(rows, 2 * batch_size))
    units = [tokens_in(lengths[i * batch_size:(i + 1) * batch_size], packed) for i in range(batches)]
    first = min(max(range(batches), key=units.__getitem__), batches - 2)
    return range(first * batch_size, min(rows, (first + 2) * batch_size))


def epoch_shapes(dataset: Any, batch_size: int, group_by_length: bool, seed: int, packed: bool = False
                 ) -> list[Shape] | None:
    """Each training batch's (rows, padded length) over one epoch, drawn as the Trainer draws them (texts of
    similar length together, or at random); None when the examples have no lengths (then every batch is alike).
    A packed batch's length is its examples' average, as `UnitCounter` records it."""
    lengths = input_lengths(dataset)
    if not lengths:
        return None
    generator = torch.Generator().manual_seed(seed)
    if group_by_length:
        order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
    else:
        order = torch.randperm(len(lengths), generator=generator).tolist()
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [(len(batch), tokens_in([lengths[i] for i in batch], packed) // len(batch)) for batch in batches]


def mean_units(shapes: list[Shape] | None) -> float | None:
    return sum(rows * length for rows, length in shapes) / len(shapes) if shapes else None


# ---------------------------------------------------------------------------------------------------- clock


def typical(values: list[float]) -> float:
    """The average without the slowest fifth (of five or more): a step slowed by another program, or by a first
    batch of a new shape (an LSTM prepares its kernels once per length), would otherwise count for the whole run."""
    kept = sorted(values)
    if len(kept) >= 5:
        kept = kept[:len(kept) - max(1, int(len(kept) * SLOWEST_LEFT_OUT))]
    return sum(kept) / len(kept)


@dataclass(frozen=True)
class StepFigures:
    seconds: float  # one ordinary step, for the epoch's average batch
    count: int  # steps timed
    first_extra: float  # what the first step took beyond an ordinary one of its size


@dataclass(frozen=True)
class CheckFigures:
    fixed: float  # seconds of a check beyond its batches
    per_unit: float  # seconds per unit of validation data
    units: float  # units a whole check reads


class ProbeClock(TrainerCallback):
    """Times the steps; after a warm-up step and enough timed ones, asks for one check and one checkpoint and
    stops. Checks and saves other callbacks ask for in between are put off, so they don't count as steps."""

    def __init__(self, counter: UnitCounter, resident: Callable[[], int] | None = None):
        self.counter = counter
        self.resident = resident
        self.memory_at_steps: list[int] = []
        self.train_begin = 0.0
        self.step_ends: list[float] = []
        self.stop_at = 0.0
        self.prediction_ends: list[float] = []
        self.evaluated = 0.0
        self.saved = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.train_begin = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        now = time.time()
        self.step_ends.append(now)
        if self.resident is not None:
            self.memory_at_steps.append(self.resident())
        timed = len(self.step_ends) - 1
        enough = timed >= MIN_TIMED_STEPS and now - self.step_ends[0] >= ENOUGH_SECONDS
        if enough or state.global_step >= state.max_steps:
            control.should_training_stop = control.should_evaluate = control.should_save = True
            self.stop_at = now
            self.counter.phase = "check"
        else:
            control.should_evaluate = control.should_save = False
        return control

    def on_prediction_step(self, args, state, control, **kwargs):
        self.prediction_ends.append(time.time())

    def on_evaluate(self, args, state, control, **kwargs):
        self.evaluated = time.time()
        self.counter.phase = "done"

    def on_save(self, args, state, control, **kwargs):
        self.saved = self.saved or time.time()

    @property
    def save_seconds(self) -> float:
        return max(self.saved - self.evaluated, 0.0) if self.saved and self.evaluated else 0.0

    def steps(self, mean_units: float | None) -> StepFigures:
        ends = self.step_ends
        times = [later - earlier for earlier, later in zip(ends, ends[1:])]
        first = ends[0] - self.train_begin
        units = self.counter.train[:len(ends)]
        if not times:
            return StepFigures(first, 1, 0.0)
        if len(units) == len(ends) and min(units) > 0:
            per_unit = typical([seconds / count for seconds, count in zip(times, units[1:])])
            ordinary = per_unit * (mean_units or sum(units[1:]) / len(times))
            return StepFigures(ordinary, len(times), max(first - per_unit * units[0], 0.0))
        ordinary = typical(times)
        return StepFigures(ordinary, len(times), max(first - ordinary, 0.0))

    def memory_growth(self, run_shapes: list[Shape] | None, step_memory: int) -> int:
        """The memory a run will add beyond the probe's peak as it meets batch shapes the probe did not: on a CPU,
        texts of many lengths grow a process (allocator pages, kernels prepared per shape) until every length has
        been seen, within the first epoch. Measured per new shape over the timed steps, times the shapes the epoch
        holds that the probe never met; at most `step_memory`, what one step's own work takes. The first new
        shapes grow it most: an LSTM on SST-2 grew 85 MB a shape over the probe's few steps, then 300 MB over all
        its lengths, ending 180 MB over the probe's peak: about its 150 MB of activations, not the 770 MB that a
        straight line from the probe gave."""
        shapes = set(self.counter.train_shapes[:len(self.step_ends)])
        if not run_shapes or len(shapes) < 2 or len(self.memory_at_steps) < 2:
            return 0
        per_shape = max(self.memory_at_steps[-1] - self.memory_at_steps[0], 0) / (len(shapes) - 1)
        return int(min(per_shape * len(set(run_shapes) - shapes), max(step_memory, 0)))

    def check(self, full_units: float | None, rows: int) -> CheckFigures:
        ends = self.prediction_ends
        batch_times = [later - earlier for earlier, later in zip([self.stop_at, *ends], ends)]
        spent = sum(batch_times)
        fixed = max(self.evaluated - self.stop_at - spent, 0.0)
        units, seen_rows = sum(self.counter.check[:len(ends)]), sum(self.counter.check_rows[:len(ends)])
        if not units or not seen_rows:
            return CheckFigures(fixed, 0.0, float(rows))
        whole = full_units if full_units is not None else rows * units / seen_rows
        return CheckFigures(fixed, spent / units, whole)
