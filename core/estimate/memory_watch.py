"""A process's peak memory, measured exactly, and a guard that ends it before it takes the machine's last memory.

On Linux the kernel keeps each process's high-water mark of resident memory (VmHWM in /proc/self/status), exact
however short a spike, and lets a process reset it (writing 5 to /proc/self/clear_refs): that is what `peak_ram`
reads. Child processes (a GPU run's data loader workers) are sampled by the guard's thread. Elsewhere the peak is
the largest sample. The guard calls `on_exceed` once, from its thread, when the process and its children hold more
than `limit` bytes: the probe then records "does not fit" and exits, instead of the kernel's out-of-memory killer
picking some process of the machine (the web server, a person's training run).

The boundary: memory numbers of this process only; what to do about them is the caller's.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import threading
from collections.abc import Callable
from pathlib import Path

import psutil

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
SAMPLE_SECONDS = 0.02


def high_water_mark() -> int | None:
    """This process's peak resident memory in bytes since it started or was last reset; None off Linux."""
    try:
        found = re.search(r"VmHWM:\s+(\d+)\s+kB", STATUS.read_text())
    except OSError:
        return None
    return int(found.group(1)) * 1024 if found else None


def reset_high_water_mark() -> bool:
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def release_free_memory() -> None:
    """Hand the memory this process has freed back to the system (glibc keeps freed blocks for reuse, and counts
    them as resident), so a peak measured from now on is not inflated by what earlier work left behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def resident(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return 0


class MemoryWatch:
    """Samples this process and its children every 20 ms in a daemon thread; `peak` is the exact high-water mark
    of this process (where the kernel keeps one) plus the largest total its children were seen holding."""

    def __init__(self, limit: int | None = None, on_exceed: Callable[[int], None] | None = None):
        self.process = psutil.Process()
        self.limit = limit
        self.on_exceed = on_exceed
        self.sampled_peak = 0
        self.children_peak = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True, name="memory-watch")

    def __enter__(self) -> MemoryWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()

    def now(self) -> int:
        return resident(self.process) + self._children()

    def reset(self) -> None:
        """Forget the peak so far (what one-time work took), counting from the memory held now."""
        release_free_memory()
        reset_high_water_mark()
        self.sampled_peak = resident(self.process)
        self.children_peak = 0

    @property
    def peak(self) -> int:
        own = high_water_mark()
        return max(own if own is not None else self.sampled_peak, self.sampled_peak) + self.children_peak

    def _children(self) -> int:
        with contextlib.suppress(psutil.Error):
            return sum(resident(child) for child in self.process.children(recursive=True))
        return 0

    def _watch(self) -> None:
        exceeded = False
        while not self.stopped.wait(SAMPLE_SECONDS):
            own, children = resident(self.process), self._children()
            self.sampled_peak = max(self.sampled_peak, own)
            self.children_peak = max(self.children_peak, children)
            if not exceeded and self.limit and self.on_exceed and own + children > self.limit:
                exceeded = True
                self.on_exceed(own + children)
