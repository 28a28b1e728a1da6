"""The loss curves of a run as numbers the diagnoses read: metrics.jsonl's training and validation losses by step,
their quarters, a smoothed training loss and the spikes in it.

The boundary: arithmetic over metrics.jsonl's records (as `core.engine.run_folder.read_metrics` gives them); what
the numbers mean is `core.coach.diagnosis`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.messages import plain_number


@dataclass(frozen=True)
class Curves:
    """metrics.jsonl as the detectors read it: (step, epoch, loss) of training and of each validation check."""

    train: list[tuple[int, float | None, float]]
    validation: list[tuple[int, float | None, float]]

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> Curves:
        def series(key: str) -> list[tuple[int, float | None, float]]:
            return [(int(r.get("step", 0)), r.get("epoch"), float(r[key])) for r in records
                    if isinstance(r.get(key), (int, float))]

        return cls(series("loss"), series("eval_loss"))

    def train_losses(self) -> np.ndarray:
        return np.array([loss for _, _, loss in self.train], dtype=np.float64)

    def train_between(self, after_step: int, up_to_step: int) -> float | None:
        losses = [loss for step, _, loss in self.train if after_step < step <= up_to_step]
        return float(np.mean(losses)) if losses else None


def where(point: tuple[int, float | None, float]) -> str:
    step, epoch, _ = point
    return f"epoch {plain_number(round(epoch, 1))}" if epoch is not None else f"step {step:,}"


def quarters(losses: np.ndarray) -> tuple[float, float, float]:
    """Mean training loss of the first, third and last quarter of the run: less noisy than single points."""
    size = max(len(losses) // 4, 1)
    return float(losses[:size].mean()), float(losses[-2 * size:-size].mean()), float(losses[-size:].mean())


def smoothed(losses: np.ndarray) -> np.ndarray:
    """The training loss averaged over a twentieth of the run (at least 3 points): a single hard batch, common with
    small batches or rare classes, fades; a jump that lasts, as a too-large step causes, stays."""
    window = max(3, len(losses) // 20)
    return np.convolve(losses, np.ones(window) / window, mode="valid")


def spikes(losses: np.ndarray) -> list[int]:
    """Points (of the smoothed loss, after its first tenth) where the loss jumped back more than halfway to where it
    began and to over twice its lowest so far."""
    losses = smoothed(losses)
    start = lowest = float(losses[0])
    found = []
    for i, loss in enumerate(losses):
        if i >= max(len(losses) // 10, 2) and start - lowest > 0.05 and loss > max(2 * lowest,
                                                                                  lowest + 0.5 * (start - lowest)):
            found.append(i)
        lowest = min(lowest, float(loss))
    return found
