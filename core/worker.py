"""The training worker: `python -m core.worker RUN_DIR` trains the run described by RUN_DIR/config.json.

The pages start it as a separate process; a person can run the same command by hand. It owns the run's final
state: completed, stopped (on SIGTERM, after saving the model) or failed (with a plain-English reason). Started
again on a stopped or failed run that has a checkpoint, it resumes from there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

import datasets
import psutil

from core.config import TASKS, ConfigError, TrainConfig
from core.data import DataError
from core.dataset_store import DatasetError, load_dataset_info
from core.runs import LOG_REDIRECTED, create_run, update_status
from core.tasks import pipeline
from core.text_models import ModelError
from core.training import StopSignal, TrainingError, build_trainer, latest_checkpoint, plan_device
from core.workspace import Workspace

# Failures whose message is already written for the person (what went wrong and what to change).
PLAIN_ERRORS = (DataError, DatasetError, ModelError, TrainingError, ConfigError)


class _Tee:
    """Writes to the original stream and to train.log."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return True


def workspace_of(run_dir: Path) -> Workspace:
    # A run folder lives at <workspace>/runs/<id>; its dataset is found from the same workspace.
    return Workspace(run_dir.resolve().parent.parent)


def train(run_dir: Path, stop: StopSignal, interactive: bool) -> str:
    """Run the whole training; returns the final state ("completed" or "stopped")."""
    config = TrainConfig.load(run_dir / "config.json")
    device = plan_device(config.device)
    update_status(run_dir, state="running", device=device.description, message="Loading the data and the model…")
    dataset = load_dataset_info(workspace_of(run_dir), config.dataset)
    if dataset.info.task != config.task:
        raise TrainingError(f"The dataset '{dataset.name}' was prepared for {dataset.info.task}, but this run "
                            f"trains {config.task}. Pick a dataset of the right kind.")
    job = pipeline(config.task).build_job(config, dataset, run_dir, device)
    update_status(run_dir, summary=job.summary, message="Training.")
    trainer, metrics_callback = build_trainer(config, job, run_dir, device, stop, show_progress_bar=interactive)
    resume_from = latest_checkpoint(run_dir)
    if resume_from:
        print(f"Resuming from {resume_from}", flush=True)
    if not stop.requested:
        trainer.train(resume_from_checkpoint=resume_from)
    if metrics_callback.diverged:
        raise TrainingError(metrics_callback.diverged)
    update_status(run_dir, message="Saving the model and measuring it on the validation data…")
    report = job.finish(trainer, run_dir)
    update_status(run_dir, headline=headline_metrics(config.task, report))
    if stop.requested:
        return "stopped"
    # A finished run needs no checkpoints: only the final model is kept, which saves disk.
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return "completed"


def headline_metrics(task: str, report: dict) -> dict[str, float]:
    """The few numbers the Runs table shows for a finished run."""
    names = {"loss": ("eval_loss", "perplexity"), "accuracy": ("accuracy", "macro_f1"), "r2": ("r2", "mae", "rmse")}
    return {name: report[name] for name in names[TASKS[task].metric] if isinstance(report.get(name), (int, float))}


def explain_failure(error: BaseException, config_path: Path) -> str:
    if isinstance(error, PLAIN_ERRORS):
        return str(error)
    text = str(error).lower()
    if isinstance(error, MemoryError) or "out of memory" in text:
        batch_size = _batch_size(config_path)
        smaller = f" (for example {max(1, batch_size // 2)} instead of {batch_size})" if batch_size else ""
        return f"Training ran out of memory. Try a smaller batch size{smaller} or a shorter maximum length."
    return f"Training failed: {type(error).__name__}: {str(error)[:300]}. The log has the details."


def _batch_size(config_path: Path) -> int | None:
    try:
        return TrainConfig.load(config_path).batch_size
    except (OSError, ValueError, TypeError):
        return None


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m core.worker",
        description="Train a run without the app. Give a run folder (made by the Train page) to train or resume "
                    "it, or --config with a config.json (downloadable on the Train page) to create a new run.")
    parser.add_argument("run_dir", nargs="?", type=Path, help="a run folder holding config.json")
    parser.add_argument("--config", type=Path, help="a config.json to start a new run from")
    parser.add_argument("--workspace", type=Path, help="the workspace folder (default: $AI_PLAYGROUND_HOME or "
                                                       "./workspace)")
    arguments = parser.parse_args(argv)
    if (arguments.run_dir is None) == (arguments.config is None):
        parser.error("give either a run folder or --config FILE")
    return arguments


def run_folder_from(arguments: argparse.Namespace) -> Path:
    if arguments.run_dir is not None:
        return arguments.run_dir.resolve()
    workspace = Workspace(arguments.workspace.resolve()) if arguments.workspace else Workspace.default()
    run = create_run(workspace, TrainConfig.load(arguments.config))
    print(f"Created {run.folder}", flush=True)
    return run.folder


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    try:
        run_dir = run_folder_from(arguments)
    except (OSError, ValueError) as error:
        print(f"Could not read the config: {error}", file=sys.stderr)
        return 2
    if not (run_dir / "config.json").is_file():
        print(f"{run_dir} has no config.json: create the run on the Train page first.", file=sys.stderr)
        return 2
    interactive = sys.stdout.isatty()
    if os.environ.get(LOG_REDIRECTED) != "1":
        # Started by hand or by a script: copy everything into train.log too, which the Runs page shows. Launched
        # runs already have their output sent there by `core.runs.launch`.
        log = open(run_dir / "train.log", "a")  # noqa: SIM115 - open for the whole process
        sys.stdout, sys.stderr = _Tee(sys.__stdout__, log), _Tee(sys.__stderr__, log)
    if not interactive:
        datasets.disable_progress_bars()  # bars redrawn many times a second only clutter a log file
    stop = StopSignal()
    signal.signal(signal.SIGTERM, lambda *_: stop.request())
    signal.signal(signal.SIGINT, lambda *_: stop.request())
    update_status(run_dir, state="running", pid=os.getpid(), pid_created=psutil.Process().create_time(),
                  started_at=time.time(), finished_at=None, message="Starting…")
    try:
        state = train(run_dir, stop, interactive)
    except BaseException as error:  # noqa: BLE001 - every failure must reach status.json in plain words
        traceback.print_exc()
        update_status(run_dir, state="failed", finished_at=time.time(),
                      message=explain_failure(error, run_dir / "config.json"))
        return 1
    message = "Finished." if state == "completed" else "Stopped; the model so far is saved and can be tried."
    update_status(run_dir, state=state, finished_at=time.time(), message=message)
    print(message, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
