"""The training worker: `python -m core.engine.worker RUN_DIR` trains the run described by RUN_DIR/config.json.

The pages start it as a separate process; a person can run the same command by hand. It owns the run's final
state: completed, stopped (on SIGTERM, after saving the model) or failed (with a plain-English reason). Started
again on a stopped or failed run that has a checkpoint, it resumes from there.
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

import datasets
import psutil

from core.config.catalog import TASKS
from core.config.train_config import TrainConfig
from core.data.dataset_store import load_dataset_info
from core.engine.callbacks import StopSignal
from core.engine.distributed import AgreeOnStop, end_with_parent, world_size
from core.engine.ladder_data import add_ladder
from core.engine.launcher import LOG_REDIRECTED
from core.engine.run_folder import (
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    EVAL_FILE,
    LOG_FILE,
    TRAINER_STATE_FILE,
    is_first_process,
    read_json_object,
    read_status,
    update_status,
    write_json_atomic,
)
from core.engine.run_processes import FAILURE_MARKER
from core.engine.run_status import RunState
from core.engine.runs import create_run
from core.engine.stop_evaluation import STOP_EVALUATION_SECONDS, STOPPED_KEY, stopped_report
from core.engine.training import (
    TrainingError,
    build_trainer,
    epoch_at,
    kept_step,
    latest_checkpoint,
    plan_device,
    steps_per_epoch,
)
from core.hosting.settings import load_settings
from core.messages import PlainError
from core.tasks import pipeline
from core.workspace import Workspace


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


def train(run_dir: Path, stop: StopSignal, interactive: bool) -> tuple[RunState, str]:
    """Run the whole training; returns the final state (completed or stopped) and what to tell the person."""
    config = TrainConfig.load(run_dir / CONFIG_FILE)
    device = plan_device(config.device)
    update_status(run_dir, state=RunState.RUNNING, device=device.description,
                  message="Loading the data and the model…")
    dataset = load_dataset_info(workspace_of(run_dir), config.dataset)
    if dataset.info.task != config.task:
        raise TrainingError(f"The dataset '{dataset.name}' was prepared for {dataset.info.task}, but this run "
                            f"trains {config.task}. Pick a dataset of the right kind.")
    plan = pipeline(config.task).build_plan(config, dataset, run_dir, device)
    update_status(run_dir, summary=plan.summary, message="Training.")
    config = with_checkpoint_interval(config, steps_per_epoch(len(plan.train_dataset), config.batch_size,
                                                              world_size()), load_settings().checkpoint_every)
    if world_size() > 1:
        plan.callbacks.append(AgreeOnStop(stop))
    trainer, metrics_callback = build_trainer(config, plan, run_dir, device, stop, show_progress_bar=interactive)
    resume_from = resumable_checkpoint(run_dir)
    if resume_from:
        print(f"Resuming from {resume_from}", flush=True)
    if not stop.requested:
        trainer.train(resume_from_checkpoint=resume_from)
    if metrics_callback.diverged:
        raise TrainingError(metrics_callback.diverged)
    stopped = stop.requested  # a stop asked for now, while the model is saved and measured, changes nothing
    update_status(run_dir, message=finishing_message(trainer, stopped))
    if is_first_process():
        report = plan.finish(trainer, run_dir)
        if stopped:
            report = stopped_report(report, trainer.stop_bound.cut_short.get(kept_step(trainer)))
            write_json_atomic(run_dir / EVAL_FILE, report)
        else:
            add_ladder(run_dir, config.task, dataset, report)  # what the score is worth: chance, baselines
    else:
        # The other processes of a multi-GPU run take part in the last evaluation but keep nothing.
        with tempfile.TemporaryDirectory() as scratch:
            report = plan.finish(trainer, Path(scratch))
    update_status(run_dir, headline=headline_metrics(config.task, report))
    if stopped:
        cut = report.get(STOPPED_KEY, {})
        rows = f" Its evaluation covers the first {cut['rows']:,} of {cut['of']:,} validation rows." \
            if "rows" in cut else ""
        return RunState.STOPPED, f"Stopped; the model so far is saved and can be tried.{rows}"
    if is_first_process():
        # A finished run needs no checkpoints: only the final model is kept, which saves disk.
        shutil.rmtree(run_dir / CHECKPOINTS_DIR, ignore_errors=True)
    return RunState.COMPLETED, ending_message(config, trainer, run_dir)


def finishing_message(trainer, stopped: bool) -> str:
    if not stopped:
        return "Saving the model and measuring it on the validation data…"
    return (f"Stopped at step {trainer.state.global_step:,}: saving the model and measuring it on the validation "
            f"data (at most {STOP_EVALUATION_SECONDS:.0f} seconds)…")


def with_checkpoint_interval(config: TrainConfig, epoch_steps: int, every: int) -> TrainConfig:
    """Checkpoints at least every `every` steps (the installation's setting), so a run whose process is killed
    loses at most that much work. A person's own interval, checks that come more often, and early stopping (which
    keeps the checkpoint of the best check) are left as they are."""
    if every <= 0 or config.save_every > 0 or config.early_stopping_patience > 0:
        return config
    check_interval = config.eval_every if config.eval_every > 0 else epoch_steps
    return config if check_interval <= every else replace(config, save_every=every)


def resumable_checkpoint(run_dir: Path) -> str | None:
    """The newest complete checkpoint. The Trainer writes trainer_state.json last, so a checkpoint without it was
    cut short by a kill: it is removed, and the one before it (kept until the new one is complete) is used."""
    while (latest := latest_checkpoint(run_dir)) is not None:
        if read_json_object(Path(latest) / TRAINER_STATE_FILE) is not None:
            return latest
        print(f"Removing {latest}: it was being written when the run was interrupted.", flush=True)
        shutil.rmtree(latest, ignore_errors=True)
    return None


def record_failure(run_dir: Path, error: BaseException) -> None:
    """Any process of a multi-GPU run may be the one that fails (out of memory on its GPU): the first to fail
    writes why; the others' failures that follow from it (a lost peer) don't overwrite it. A folder that refuses
    the write (made read-only, or a full disk) gets the reason in train.log, where the pages look for it."""
    if world_size() > 1 and read_status(run_dir).is_final:
        return
    message = explain_failure(error, run_dir / CONFIG_FILE)
    try:
        update_status(run_dir, every_process=True, state=RunState.FAILED, finished_at=time.time(), message=message)
    except OSError as write_error:
        print(f"{FAILURE_MARKER}{message} (It could not be saved in the run's folder either: "
              f"{write_error.strerror or write_error}.)", flush=True)


def ending_message(config: TrainConfig, trainer, run_dir: Path) -> str:
    """"Finished.", or, when early stopping ended the run before its last step, why and which model it kept
    (recorded in the status too, so the progress bar's "step 136 of 320" is explained)."""
    state = trainer.state
    if config.early_stopping_patience <= 0 or state.global_step >= state.max_steps:
        return "Finished."
    step = kept_step(trainer)
    epoch = epoch_at(trainer, step)
    update_status(run_dir, stopped_early=True, kept_step=step, kept_epoch=epoch)
    metric = {"r2": "R²"}.get(TASKS[config.task].metric, TASKS[config.task].metric)
    kept = f"epoch {epoch:.3g} (step {step:,})" if epoch is not None else f"step {step:,}"
    return (f"Stopped early at step {state.global_step:,} of {state.max_steps:,}: the validation {metric} had not "
            f"improved for {config.early_stopping_patience} checks in a row. The model kept is the best check's, "
            f"from {kept}.")


def headline_metrics(task: str, report: dict) -> dict[str, float]:
    """The few numbers the Runs table shows for a finished run."""
    names = {"loss": ("eval_loss", "perplexity"), "accuracy": ("accuracy", "macro_f1"), "r2": ("r2", "mae", "rmse")}
    return {name: report[name] for name in names[TASKS[task].metric] if isinstance(report.get(name), (int, float))}


def explain_failure(error: BaseException, config_path: Path) -> str:
    if isinstance(error, PlainError):  # written for the person: what went wrong and what to change
        return str(error)
    text = str(error).lower()
    if isinstance(error, OSError) and error.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
        where = Path(error.filename).name if error.filename else "the run's folder"
        return (f"Training stopped: {where} could not be written ({error.strerror}). The workspace became "
                "read-only or its disk is full. Free some space or make it writable again, then resume the run "
                "if it has a checkpoint.")
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
        prog="python -m core.engine.worker",
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
    if not (run_dir / CONFIG_FILE).is_file():
        print(f"{run_dir} has no {CONFIG_FILE}: create the run on the Train page first.", file=sys.stderr)
        return 2
    interactive = sys.stdout.isatty()
    if os.environ.get(LOG_REDIRECTED) != "1":
        # Started by hand or by a script: copy everything into train.log too, which the Runs page shows. Launched
        # runs already have their output sent there by `core.engine.run_processes.launch`.
        log = open(run_dir / LOG_FILE, "a")  # noqa: SIM115 - open for the whole process
        sys.stdout, sys.stderr = _Tee(sys.__stdout__, log), _Tee(sys.__stderr__, log)
    if not interactive:
        datasets.disable_progress_bars()  # bars redrawn many times a second only clutter a log file
    stop = StopSignal()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stop.request())
        # A stop only sets a flag; the system call it lands in (a multi-process group's gradient exchange, in C)
        # is resumed rather than failed, so the group still reaches the step where it agrees to stop.
        signal.siginterrupt(stop_signal, False)
    # In a torchrun group the app watches torchrun itself (it recorded its pid when launching it).
    own_process = {} if world_size() > 1 else {"pid": os.getpid(), "pid_created": psutil.Process().create_time()}
    if world_size() > 1:
        end_with_parent()
    try:
        update_status(run_dir, state=RunState.RUNNING, started_at=time.time(), finished_at=None,
                      message="Starting…", **own_process)
        state, message = train(run_dir, stop, interactive)
        update_status(run_dir, state=state, finished_at=time.time(), message=message)
    except BaseException as error:  # noqa: BLE001 - every failure must reach status.json in plain words
        traceback.print_exc()
        record_failure(run_dir, error)
        return 1
    print(message, flush=True)
    return 0


if __name__ == "__main__":
    exit_code = main(sys.argv[1:])
    # Everything the run leaves is on disk by now. The interpreter's own teardown of torch and transformers takes
    # seconds on a small machine, during which the GPU stays taken and the next queued run waits: skip it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
