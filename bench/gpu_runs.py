"""The GPU check's runs through the app's own worker: start `python -m core.engine.worker RUN_DIR` on run folders
made by `core.engine.runs.create_run`, a few at once where timing does not matter, and read back what a finished
run folder says: did it complete, did the loss fall, is every file there, which precision and compilation the
engine chose (its `speed:` lines in train.log), and the seconds per step once warmed up.

Only the run folder's files are read (status.json, metrics.jsonl, train.log, eval.json, model/), the contract
between the worker and the pages.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.gpu_report import Check

ROOT = Path(__file__).resolve().parents[1]
COMPLETED = "completed"
RUN_FILES = ("config.json", "status.json", "metrics.jsonl", "train.log", "eval.json")


def create(workspace, config) -> Path:
    from core.engine.runs import create_run

    return create_run(workspace, config).folder


def train(folder: Path, timeout: float) -> float:
    """Run the worker on a run folder, its output into train.log as the app does; returns the wall seconds."""
    from core.engine.launcher import LOG_REDIRECTED

    started = time.perf_counter()
    with open(folder / "train.log", "ab") as log:
        try:
            subprocess.run([sys.executable, "-m", "core.engine.worker", str(folder)], cwd=ROOT, stdout=log,
                           stderr=subprocess.STDOUT, env={**os.environ, LOG_REDIRECTED: "1"}, timeout=timeout)
        except subprocess.TimeoutExpired:
            log.write(f"\ngpu_check: the worker ran past {timeout:.0f} s and was stopped.\n".encode())
    return time.perf_counter() - started


def train_all(folders: list[Path], lanes: int, timeout: float) -> list[float]:
    """Several runs, `lanes` at a time (a GPU has room for small runs side by side; their timing is not judged)."""
    with ThreadPoolExecutor(max_workers=max(1, lanes)) as pool:
        return list(pool.map(lambda folder: train(folder, timeout), folders))


# ---------------------------------------------------------------------------------------------------- reading


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def records(folder: Path) -> list[dict]:
    try:
        lines = (folder / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def training_logs(folder: Path) -> list[dict]:
    return [r for r in records(folder) if isinstance(r.get("loss"), (int, float)) and "eval_loss" not in r]


def log_text(folder: Path) -> str:
    try:
        return (folder / "train.log").read_text(errors="replace")
    except OSError:
        return ""


def step_seconds(folder: Path, warmup: int) -> float | None:
    """Seconds per step after `warmup` steps: the logged clock at the last training log minus that at the first
    log past the warm-up, over the steps between (the Trainer logs after the GPU has finished the step)."""
    logs = [r for r in training_logs(folder) if r["step"] >= warmup]
    if len(logs) < 2 or logs[-1]["step"] == logs[0]["step"]:
        return None
    return (logs[-1]["time"] - logs[0]["time"]) / (logs[-1]["step"] - logs[0]["step"])


def loss_path(folder: Path) -> tuple[float, float] | None:
    """(mean of the first third of the logged training losses, mean of the last third)."""
    losses = [r["loss"] for r in training_logs(folder)]
    if len(losses) < 2:
        return None
    third = max(1, len(losses) // 3)
    return statistics.fmean(losses[:third]), statistics.fmean(losses[-third:])


def speed_choice(folder: Path, name: str) -> str | None:
    """The value the engine logged for one speed choice ("bf16", "torch_compile"…), as written."""
    from core.engine.speed import LOG_PREFIX

    for line in log_text(folder).splitlines():
        if line.startswith(f"{LOG_PREFIX} {name}="):
            return line.split("=", 1)[1].split(":", 1)[0]
    return None


# ---------------------------------------------------------------------------------------------------- checks


def run_checks(folder: Path, gpu: bool, compiled: bool = False, packed: bool | None = None) -> list[Check]:
    """What a finished run must show: completed, a falling loss, a complete folder, the precision (and, for a
    model built from zero on a GPU, the compilation; for instruction pairs, whether they were packed) the engine
    chose for the device."""
    from core.engine.speed import COMPILE_FAILED, LOG_PREFIX, PACK_SEQUENCES

    status = read_json(folder / "status.json", {})
    checks = [Check("completed", status.get("state") == COMPLETED, str(status.get("message", ""))[:160])]
    path = loss_path(folder)
    checks.append(Check("loss fell", path is not None and path[1] < path[0],
                        f"{path[0]:.3f} → {path[1]:.3f}" if path else "no training loss logged"))
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    model = folder / "model"
    if not any((model / name).is_file() for name in ("config.json", "adapter_config.json")):
        missing.append("model/config.json")
    if not any(model.glob("*.safetensors")):
        missing.append("model/*.safetensors")
    leftovers = [p.name for p in model.glob("*.bin")] + (["checkpoints/"] if (folder / "checkpoints").exists() else [])
    checks.append(Check("run folder complete", not missing and not leftovers,
                        f"missing {', '.join(missing)}" if missing else
                        f"left behind {', '.join(leftovers)}" if leftovers else "all files, safetensors only"))
    bf16 = speed_choice(folder, "bf16")
    checks.append(Check("bf16 path" if gpu else "fp32 path (CPU)", bf16 == ("True" if gpu else "False")
                        and (("(bf16)" in str(status.get("device", ""))) == gpu),
                        f"device {status.get('device')!r}, engine chose bf16={bf16}"))
    if compiled:
        failed = COMPILE_FAILED.split(" (")[0] in log_text(folder)
        chose = speed_choice(folder, "torch_compile")
        checks.append(Check("torch.compile", chose == "True" and not failed,
                            "compiled" if chose == "True" and not failed else
                            "fell back to uncompiled" if failed else f"engine chose torch_compile={chose}"))
    if packed is not None:
        # The last word logged wins: a model whose attention mixes packed examples is logged again, as False.
        chosen = [line for line in log_text(folder).splitlines() if line.startswith(f"{LOG_PREFIX} {PACK_SEQUENCES}=")]
        took = bool(chosen) and chosen[-1].startswith(f"{LOG_PREFIX} {PACK_SEQUENCES}={packed}")
        checks.append(Check("packed pairs" if packed else "padded pairs (CPU)", took,
                            chosen[-1][:160] if chosen else "no packing choice logged"))
    return checks


def failure_tail(folder: Path, lines: int = 15) -> str:
    return "\n".join(log_text(folder).splitlines()[-lines:])
