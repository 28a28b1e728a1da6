"""Where a run may train on this machine: how many GPUs it needs (`placement`) and which are free (`Slots`).

Both are plain Python on purpose: the queue's consumer decides placement from config.json read as JSON, without
importing the training stack, and its threads share one `Slots` that hands out GPUs strictly in queue order.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.messages import PlainError, counted


class PlacementError(PlainError):
    """This machine can never run this run as asked (more GPUs than it has); the message says what to change."""


@dataclass(frozen=True)
class Placement:
    gpus: int  # GPUs to reserve (0: a CPU slot)
    processes: int  # worker processes (several: a torchrun group)


def placement(config: dict[str, Any], gpu_count: int) -> Placement:
    """What a run needs from this machine, from its config.json. Read as plain JSON: the consumer never imports
    the training stack."""
    device, wanted = config.get("device", "auto"), int(config.get("num_gpus") or 1)
    if device == "cpu":
        return Placement(0, 1)
    if gpu_count == 0:
        if device == "cuda" or wanted > 1:
            raise PlacementError(f"This run asks for {counted(wanted, 'GPU')}, but this machine has "
                                 "none. Set the number of GPUs to 1 and the device to 'auto' to train on the CPU.")
        return Placement(0, 1)
    if wanted > gpu_count:
        raise PlacementError(f"This run asks for {wanted} GPUs, but this machine has {gpu_count}. Ask for at most "
                             f"{gpu_count}.")
    return Placement(wanted, wanted)


class Slots:
    """Which GPUs (or CPU run slots) are taken, shared by the consumer's threads. Runs get them strictly in the
    order they were taken off the queue."""

    def __init__(self, gpus: list[int], runs_per_gpu: int, cpu_runs: int):
        self.gpus = gpus
        self.runs_per_gpu = runs_per_gpu
        self.cpu_runs = cpu_runs
        self.load = dict.fromkeys(gpus, 0)
        self.cpu_in_use = 0
        self.condition = threading.Condition()
        self.tickets = itertools.count()
        self.waiting: list[int] = []

    @property
    def capacity(self) -> int:
        return len(self.gpus) * self.runs_per_gpu if self.gpus else self.cpu_runs

    @property
    def busy(self) -> bool:
        with self.condition:
            return bool(self.waiting) or self.cpu_in_use > 0 or any(self.load.values())

    def free_gpus(self) -> list[int]:
        return sorted((gpu for gpu in self.gpus if self.load[gpu] < self.runs_per_gpu), key=lambda g: self.load[g])

    def _try_take(self, count: int) -> list[int] | None:
        if count == 0:
            if self.cpu_in_use >= self.cpu_runs:
                return None
            self.cpu_in_use += 1
            return []
        free = self.free_gpus()
        if len(free) < count:
            return None
        for gpu in free[:count]:
            self.load[gpu] += 1
        return sorted(free[:count])

    def take(self, count: int, cancelled: Callable[[], bool], waiting: Callable[[int], None]) -> list[int] | None:
        """Block until `count` GPUs (0: a CPU slot) are free and this is the oldest waiting run; None if cancelled
        meanwhile. `waiting(free)` is told how many are free whenever it has to wait."""
        with self.condition:
            ticket = next(self.tickets)
            self.waiting.append(ticket)
            try:
                told = None
                while not cancelled():
                    if self.waiting[0] == ticket and (taken := self._try_take(count)) is not None:
                        return taken
                    free = len(self.free_gpus()) if count else self.cpu_runs - self.cpu_in_use
                    if free != told:
                        waiting(free)
                        told = free
                    self.condition.wait(timeout=1.0)
                return None
            finally:
                self.waiting.remove(ticket)
                self.condition.notify_all()

    def adopt(self, gpus: list[int]) -> None:
        """Count a worker that was already training when this consumer started."""
        with self.condition:
            if not gpus:
                self.cpu_in_use += 1
            for gpu in gpus:
                self.load[gpu] = self.load.get(gpu, 0) + 1

    def give_back(self, gpus: list[int]) -> None:
        with self.condition:
            if not gpus:
                self.cpu_in_use = max(0, self.cpu_in_use - 1)
            for gpu in gpus:
                self.load[gpu] = max(0, self.load.get(gpu, 0) - 1)
            self.condition.notify_all()
