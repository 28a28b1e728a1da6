"""The machine's GPUs as `nvidia-smi` reports them: which there are, their memory in use, and who uses it.

Asked through `nvidia-smi` rather than torch so that the queue consumer and the web server never create a CUDA
context of their own (each would hold a few hundred MB on every GPU). No `nvidia-smi`, or one that fails, means
no GPUs: the CPU-only machine of a local user.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

QUERY_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_used_mb: int
    memory_total_mb: int


def _query(arguments: list[str]) -> list[list[str]]:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        output = subprocess.run([executable, *arguments, "--format=csv,noheader,nounits"], capture_output=True,
                                text=True, timeout=QUERY_TIMEOUT_SECONDS, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [[cell.strip() for cell in line.split(",")] for line in output.splitlines() if line.strip()]


def _number(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:  # "[N/A]" on some boards
        return 0


def list_gpus() -> list[Gpu]:
    rows = _query(["--query-gpu=index,name,memory.used,memory.total"])
    return [Gpu(_number(index), name, _number(used), _number(total))
            for index, name, used, total in (row for row in rows if len(row) == 4)]


def memory_by_process() -> dict[int, int]:
    """MB of GPU memory each process holds, by pid (summed over GPUs)."""
    used: dict[int, int] = {}
    for row in _query(["--query-compute-apps=pid,used_memory"]):
        if len(row) == 2:
            pid = _number(row[0])
            used[pid] = used.get(pid, 0) + _number(row[1])
    return used


def parse_gpu_list(text: str) -> list[int] | None:
    """'0,2' → [0, 2]; empty → None (all of them). Raises ValueError on anything else."""
    if not text.strip():
        return None
    return sorted({int(part) for part in text.split(",") if part.strip()})
