"""A training whose numbers blow up: spotting it in the logged losses (`divergence_reason`, `LossWatch`), the
message that says so, and telling such a run from any other failure (`stopped_for_divergence`), so the Runs page
offers to try again with a lower learning rate instead of resuming a run that would blow up again.

The boundary: plain numbers and the run's status; `core.engine.callbacks.MetricsCallback` feeds it the Trainer's
logs and stops the run, `core.coach.diagnosis` turns the message into the settings change. No transformers here,
so the pages can ask about a run without loading it.
"""

from __future__ import annotations

import math
from typing import Any

from core.engine.run_status import RunState, RunStatus

# Every divergence message ends with it; the worker makes the message the failed run's status message.
ADVICE = "Lower the learning rate (try a tenth of it) and keep gradient clipping on."


def divergence_reason(record: dict[str, Any]) -> str | None:
    """A plain explanation when a logged loss or gradient stopped being a real number."""
    for key in ("loss", "grad_norm", "eval_loss"):
        value = record.get(key)
        if value is not None and not math.isfinite(value):
            return (f"The {'training loss' if key == 'loss' else key.replace('_', ' ')} became infinite or "
                    f"not-a-number at step {record.get('step')}, so training was stopped: the model's numbers blew "
                    f"up. {ADVICE}")
    return None


class LossWatch:
    """Spots a training loss that stays a real number but blows up (a learning rate far too high).

    It compares the average of the last `WINDOW` logged losses, never one batch's: a batch of 32 texts of which 87 %
    are one class can score 0.03 and the next 1.4, and a run stopped for that was stopped for nothing. It fires when
    that average is both many times the lowest such average so far and well above the first one, so the ordinary
    ups and downs of small batches, or a loss that is simply not falling, never stop a run.
    """

    WINDOW = 3
    FACTOR_OVER_LOWEST = 10.0
    FACTOR_OVER_FIRST = 3.0

    def __init__(self) -> None:
        self.recent: list[float] = []
        self.first: float | None = None
        self.lowest = math.inf

    def explosion(self, record: dict[str, Any]) -> str | None:
        loss = record.get("loss")
        if loss is None or not math.isfinite(loss):
            return None
        self.recent = [*self.recent, float(loss)][-self.WINDOW:]
        if len(self.recent) < self.WINDOW:
            return None
        average = sum(self.recent) / self.WINDOW
        if self.first is None:
            self.first = self.lowest = average
            return None
        if average > self.FACTOR_OVER_LOWEST * self.lowest and average > self.FACTOR_OVER_FIRST * self.first > 0:
            return (f"The training loss exploded at step {record.get('step')}: {loss:.3g}, against {self.first:.3g} "
                    f"at the start and {self.lowest:.3g} at its best (averages of {self.WINDOW} logged losses), so "
                    f"training was stopped before the model was ruined. {ADVICE}")
        self.lowest = min(self.lowest, average)
        return None


def stopped_for_divergence(status: RunStatus) -> bool:
    """A run failed because its loss blew up: resuming it would blow up again, so it is tried again instead."""
    return status.state is RunState.FAILED and status.message.endswith(ADVICE)
