"""A search's pace: how long a try should take, judged from the tries that have completed, and how many epochs of a
suggested try fit in the time left.

A try's time is a fixed part (waiting in the queue, starting the worker, loading the data and the model, the final
evaluation) plus a part per epoch, both measured on each completed try: its run logs how long training itself took
(`train_runtime` in metrics.jsonl), and the rest of its time is the fixed part. The boundary: arithmetic on those
times; the driver (`core.engine.search`) decides what to do with a try that does not fit.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from core.engine.search_space import Dimension


@dataclass
class Pace:
    fixed: list[float] = field(default_factory=list)  # seconds of each completed try outside training itself
    per_epoch: list[float] = field(default_factory=list)  # seconds of training per epoch, each completed try

    def add(self, wall_seconds: float, records: list[dict[str, Any]], epochs: float | None) -> None:
        """A completed try: its time from queueing to its end, its metrics.jsonl records, its epochs."""
        runtimes = [r["train_runtime"] for r in records if isinstance(r.get("train_runtime"), (int, float))]
        if not runtimes or not epochs:
            return
        training = float(runtimes[-1])
        self.fixed.append(max(wall_seconds - training, 0.0))
        self.per_epoch.append(training / float(epochs))

    @property
    def known(self) -> bool:
        return bool(self.per_epoch)

    def seconds(self, epochs: float) -> float:
        return statistics.median(self.fixed) + statistics.median(self.per_epoch) * float(epochs)

    def estimate(self, params: dict[str, Any]) -> float | None:
        """How long a try with these settings should take; None before any try completed (or with no epochs)."""
        if not self.known or "epochs" not in params:
            return None
        return self.seconds(params["epochs"])

    def epochs_that_fit(self, seconds_left: float, epochs: Dimension) -> float | None:
        """The most epochs a try can have and still finish in time, inside the search's range; None if even the
        fewest it tries do not fit."""
        if not self.known:
            return None
        room = (seconds_left - statistics.median(self.fixed)) / max(statistics.median(self.per_epoch), 1e-9)
        fitting = math.floor(room) if epochs.kind == "int" else math.floor(room * 10) / 10
        if fitting < epochs.low:
            return None
        return min(fitting, epochs.high)
