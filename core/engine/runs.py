"""The run folder: the contract between the pages and the training worker.

    runs/<run id>/
        config.json      the TrainConfig, written once before the worker starts
        status.json      state, progress, device, message; rewritten whole (atomically) as training goes
        metrics.jsonl    one JSON object per log or evaluation, append-only
        samples.jsonl    a language model's sample text at each evaluation, append-only
        train.log        everything the worker printed
        checkpoints/     Trainer checkpoints while a run can still be resumed
        model/           the final model as safetensors + its tokenizer
        eval.json        final validation metrics, confusion matrix, worst mistakes

The pages only read these files (and send a signal to stop), so a browser refresh, a second browser or a restarted
server simply reads them again. Runs are launched as separate processes in their own session, never as threads of
the web server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from core.engine.launcher import TORCHRUN, ask_to_stop, end_process_tree, start_worker
from core.workspace import Workspace, safe_name

if TYPE_CHECKING:
    from core.config.train_config import TrainConfig

# core.config.train_config (and through it torch) is imported only where a config is read: the queue's consumer
# imports this
# module and should start in a blink and stay small.
LIVE_STATES = ("queued", "starting", "running", "stopping")
FINAL_STATES = ("completed", "stopped", "failed")


# ---------------------------------------------------------------------------------------------------- files


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    # Readers poll these files every second: they must never see half a file.
    temporary = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2))
    os.replace(temporary, path)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


# Written by core.tasks.text_generation.callbacks.SampleCallback, shown by ui.runs.samples_view.
SAMPLES_FILE = "samples.jsonl"


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / "metrics.jsonl", "a") as file:
        file.write(json.dumps(record) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete line of an append-only JSON-lines file; a line the worker is still writing is skipped until
    the next poll."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(run_dir / "metrics.jsonl")


def read_samples(run_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(run_dir / SAMPLES_FILE)


def is_first_process() -> bool:
    """False in the second and later processes of a multi-GPU (torchrun) run: only the first one writes the run's
    files, so a run on 4 GPUs logs once, not four times."""
    return os.environ.get("RANK", "0") == "0"


def update_status(run_dir: Path, *, every_process: bool = False, **changes: Any) -> dict[str, Any]:
    if not (every_process or is_first_process()):
        return read_json(run_dir / "status.json", {}) | changes
    status = read_json(run_dir / "status.json", {}) | changes | {"updated_at": time.time()}
    write_json_atomic(run_dir / "status.json", status)
    return status


def tail_log(run_dir: Path, lines: int = 40) -> str:
    try:
        with open(run_dir / "train.log", "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 20000))
            return "\n".join(file.read().decode("utf-8", "replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def config(self) -> TrainConfig:
        from core.config.train_config import TrainConfig

        return TrainConfig.load(self.folder / "config.json")

    @property
    def status(self) -> dict[str, Any]:
        return refresh_status(self.folder)

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.folder)

    @property
    def evaluation(self) -> dict[str, Any] | None:
        return read_json(self.folder / "eval.json")

    @property
    def model_dir(self) -> Path:
        return self.folder / "model"

    @property
    def has_model(self) -> bool:
        # A LoRA run keeps only its adapter (adapter_config.json + weights), loaded over its base model.
        return any((self.model_dir / name).is_file() for name in ("config.json", "adapter_config.json"))

    @property
    def can_resume(self) -> bool:
        return self.status.get("state") in ("stopped", "failed") and any(self.folder.glob("checkpoints/checkpoint-*"))


def new_run_id(config: TrainConfig) -> str:
    model = config.model.name.removeprefix("bundled:").split("/")[-1]
    return safe_name(f"{time.strftime('%Y%m%d-%H%M%S')}-{model}-{config.dataset}")


def create_run(workspace: Workspace, config: TrainConfig) -> Run:
    folder = workspace.runs / new_run_id(config)
    suffix = 1
    while folder.exists():  # two runs started within the same second
        suffix += 1
        folder = workspace.runs / f"{new_run_id(config)}-{suffix}"
    folder.mkdir(parents=True)
    config.save(folder / "config.json")
    write_json_atomic(folder / "status.json", {"state": "queued", "message": "Waiting to start.",
                                               "created_at": time.time(), "updated_at": time.time()})
    (folder / "metrics.jsonl").touch()
    return Run(folder)


def list_runs(workspace: Workspace) -> list[Run]:
    folders = [f for f in workspace.runs.iterdir() if (f / "config.json").is_file()]
    return [Run(f) for f in sorted(folders, key=lambda f: f.name, reverse=True)]


def get_run(workspace: Workspace, run_id: str) -> Run | None:
    folder = workspace.runs / safe_name(run_id)
    return Run(folder) if (folder / "config.json").is_file() else None


# ---------------------------------------------------------------------------------------------------- processes


def launch(run: Run, processes: int = 1, gpus: list[int] | None = None, reap: bool = True) -> subprocess.Popen:
    """Start the worker now, in its own process session, so it outlives a browser refresh or a server restart.
    The app goes through the queue (`core.hosting.queue.submit`), whose consumer calls this when a GPU is free; several
    `processes` make a torchrun group, one per GPU in `gpus`."""
    update_status(run.folder, state="starting", message="Starting the training process…", started_at=time.time(),
                  finished_at=None, gpus=gpus or [])
    process = start_worker(run.folder, processes, gpus)
    update_status(run.folder, pid=process.pid, pid_created=_create_time(process.pid),
                  launcher=TORCHRUN if processes > 1 else "python")
    if reap:  # so it doesn't linger as a zombie of the web server; the queue's consumer waits for it itself
        threading.Thread(target=process.wait, daemon=True).start()
    return process


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def process_alive(status: dict[str, Any]) -> bool:
    pid = status.get("pid")
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        # A recycled pid belongs to some other program: compare start times.
        created = status.get("pid_created")
        return created is None or abs(process.create_time() - created) < 1.0
    except psutil.Error:
        return False


def refresh_status(run_dir: Path) -> dict[str, Any]:
    """The status, after marking a run failed whose worker vanished (killed, crashed, machine restarted)."""
    status = read_json(run_dir / "status.json", {"state": "failed", "message": "The run's status file is missing."})
    if status.get("state") in ("starting", "running", "stopping") and not process_alive(status):
        # A worker writes its own final state; give one that has just exited a moment to do so.
        time.sleep(0.2)
        status = read_json(run_dir / "status.json", status)
        if status.get("state") in ("starting", "running", "stopping") and not process_alive(status):
            status = update_status(run_dir, state="failed", finished_at=time.time(),
                                   message=explain_vanished_worker(tail_log(run_dir, 80)))
    return status


def explain_vanished_worker(log_tail: str) -> str:
    lowered = log_tail.lower()
    if "out of memory" in lowered or "killed" in lowered or "memoryerror" in lowered:
        return ("The training process ran out of memory and was stopped. Try a smaller batch size or a shorter "
                "maximum length.")
    return ("The training process ended unexpectedly (it was killed, or the machine restarted). "
            "The log below may say more; you can resume from the last checkpoint if there is one.")


def request_stop(run: Run) -> bool:
    """Ask the worker to stop: it finishes the current step, saves the model, and marks the run stopped."""
    status = run.status
    if status.get("state") == "queued":
        update_status(run.folder, state="stopped", message="Cancelled before it started.", finished_at=time.time())
        return True
    if not process_alive(status):
        return False
    update_status(run.folder, state="stopping", message="Stopping after the current step and saving the model…")
    ask_to_stop(status["pid"], status.get("launcher", "python"))
    return True


def delete_run(run: Run) -> None:
    status = run.status
    if status.get("state") == "queued":
        # The queue skips a run whose folder is gone; mark it first in case its worker is starting right now.
        update_status(run.folder, state="stopped", message="Deleted.")
    if process_alive(status):
        end_process_tree(status["pid"], grace_seconds=2.0)  # every process of a multi-GPU run, not only the first
    shutil.rmtree(run.folder, ignore_errors=True)


def is_live(status: dict[str, Any]) -> bool:
    return status.get("state") in LIVE_STATES


# ---------------------------------------------------------------------------------------------------- summaries


def best_metric(task: str, records: list[dict[str, Any]]) -> tuple[str, float | None]:
    """The validation number that matters for this task, at its best so far: (name, value)."""
    from core.config.catalog import TASKS

    spec = TASKS[task]
    key = "eval_loss" if spec.metric == "loss" else f"eval_{spec.metric}"
    values = [r[key] for r in records if isinstance(r.get(key), (int, float))]
    if not values:
        return spec.metric, None
    return spec.metric, (max(values) if spec.greater_is_better else min(values))


def run_duration(status: dict[str, Any]) -> float | None:
    started = status.get("started_at")
    if not started:
        return None
    return (status.get("finished_at") or (time.time() if is_live(status) else status.get("updated_at", started))) \
        - started


def run_row(run: Run) -> dict[str, Any]:
    """One line of the Runs table."""
    status, config = run.status, run.config
    metric, value = best_metric(config.task, run.metrics)
    return {"run": run.id, "state": status.get("state", "?"), "task": config.task,
            "model": config.model.name.removeprefix("bundled:"), "dataset": config.dataset,
            "best": None if value is None else round(value, 4), "metric": metric,
            "duration_s": run_duration(status), "started": status.get("started_at") or status.get("created_at"),
            "device": status.get("device", "")}
