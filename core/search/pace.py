"""A search's pace: how long a try should take, judged from the tries that have completed, and how many epochs of a
suggested try fit in the time left.

A try's time is a fixed part (waiting in the queue, starting the worker, loading the data and the model, the final
evaluation) plus a part per epoch, both measured on each completed try: its run logs how long training itself took
(`train_runtime` in metrics.jsonl), and the rest of its time is the fixed part. An epoch at another batch size is
judged by the nearest measured one: smaller batches mean more steps, and a small model's step costs about the same
whatever its batch, so an epoch is taken to be that many times longer; a larger batch is taken to save nothing.
Both err on the long side, so a try rarely runs past the search's time; and no try takes more than half the time
left if it can be shortened to fit in it (`fitting_epochs`), so a search gets several tries. The boundary:
arithmetic on those times; the driver (`core.search.driver`) decides what to do with a try that does not fit.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from core.search.space import Dimension

# No try may take more than this share of the time left while a shorter one would do: a search gets several tries
# rather than one long one.
TRY_SHARE = 0.5


@dataclass
class Pace:
    fixed: list[float] = field(default_factory=list)  # seconds of each completed try outside training itself
    epochs: list[tuple[int, float]] = field(default_factory=list)  # (batch size, seconds an epoch) per try

    def add(self, wall_seconds: float, records: list[dict[str, Any]], params: dict[str, Any]) -> None:
        """A completed try: its time from queueing to its end, its metrics.jsonl records, its settings."""
        runtimes = [r["train_runtime"] for r in records if isinstance(r.get("train_runtime"), (int, float))]
        if not runtimes or not params.get("epochs") or not params.get("batch_size"):
            return
        training = float(runtimes[-1])
        self.fixed.append(max(wall_seconds - training, 0.0))
        self.epochs.append((int(params["batch_size"]), training / float(params["epochs"])))

    @property
    def known(self) -> bool:
        return bool(self.epochs)

    def epoch_seconds(self, batch_size: int) -> float:
        same = [seconds for batch, seconds in self.epochs if batch == batch_size]
        if same:
            return statistics.median(same)
        return statistics.median(seconds * max(1.0, batch / batch_size) for batch, seconds in self.epochs)

    def estimate(self, params: dict[str, Any]) -> float | None:
        """How long a try with these settings should take; None before any try completed (or with no epochs)."""
        if not self.known or "epochs" not in params or "batch_size" not in params:
            return None
        return statistics.median(self.fixed) + self.epoch_seconds(params["batch_size"]) * float(params["epochs"])

    def epochs_that_fit(self, seconds_left: float, epochs: Dimension, batch_size: int) -> float | None:
        """The most epochs a try at this batch size can have and still finish in time, inside the search's range;
        None if even the fewest it tries do not fit."""
        if not self.known:
            return None
        room = (seconds_left - statistics.median(self.fixed)) / max(self.epoch_seconds(batch_size), 1e-9)
        fitting = math.floor(room) if epochs.kind == "int" else math.floor(room * 10) / 10
        if fitting < epochs.low:
            return None
        return min(fitting, epochs.high)

    def fitting_epochs(self, params: dict[str, Any], seconds_left: float, space: tuple[Dimension, ...]
                       ) -> float | None:
        """The epochs a suggested try should have: its own when it takes at most TRY_SHARE of the time left (or
        nothing is known yet), else the most that fit in that share, else in all the time left; None when not even
        the fewest epochs the search tries fit."""
        estimate = self.estimate(params)
        if estimate is None or estimate <= seconds_left * TRY_SHARE:
            return params.get("epochs")
        epochs = next(d for d in space if d.name == "epochs")
        batch = params["batch_size"]
        shortened = self.epochs_that_fit(seconds_left * TRY_SHARE, epochs, batch)
        if shortened is None:
            shortened = self.epochs_that_fit(seconds_left, epochs, batch)
        return shortened if shortened is None else min(shortened, params["epochs"])
