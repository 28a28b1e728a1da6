"""A whole run's time and memory from one measurement: pure arithmetic, so a page recomputes it at every click.

    time = start-up + set-up + first step's warm-up + steps × step time + checks × check time
           + checkpoints × checkpoint time + saving the model + the baselines

The counts follow the engine's own rules (`core.engine.training.training_arguments`, the worker's checkpoint
interval, transformers' DefaultFlowCallback and a text generator's extra live checks), so changing the epochs, the
checking interval or early stopping changes the estimate without a new measurement. `calibration` compares earlier
finished runs of the same measurement on this machine with what it predicted for them and corrects the estimate by
their typical ratio. `describe` says it in one line: "about 4 min on this CPU · needs ~1.2 GB of 24 GB".

The boundary: numbers in, numbers and one sentence out; measuring is `core.estimate.probe`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.engine.run_status import RunState
from core.engine.training import steps_per_epoch, total_steps

# The worker's own rule for checkpoints between checks. Imported here, not where it is used, for the probe too:
# the probe's start-up then imports what a worker imports, and is timed like one.
from core.engine.worker import with_checkpoint_interval
from core.estimate.measurement import Measurement, measurement_key

if TYPE_CHECKING:
    from core.config.train_config import TrainConfig
    from core.data.dataset_store import PreparedDataset
    from core.workspace import Workspace

LONG_RUN_SECONDS = 30 * 60  # a run estimated over this gets a warning with ways to shorten it
MEMORY_SHARE = 0.9  # of the free memory a run may plan to use; beyond it, it is said not to fit
GPU_SHARE = 0.95
HISTORY_RUNS = 5  # the latest finished runs that calibrate an estimate


@dataclass(frozen=True)
class RunCounts:
    steps: int
    checks: int
    checkpoints: int


@dataclass(frozen=True)
class Estimate:
    seconds: float
    counts: RunCounts
    parts: dict[str, float] = field(default_factory=dict)
    peak_ram: int = 0
    ram_total: int = 0
    peak_gpu: int = 0
    gpu_total: int = 0
    device: str = ""
    may_end_sooner: bool = False  # early stopping can end it before its last step
    calibrated_by: int = 0  # finished runs on this machine that corrected it


def run_counts(config: TrainConfig, train_rows: int, checkpoint_every: int | None = None) -> RunCounts:
    """Steps, checks and checkpoints of a whole run, as the engine will make them."""
    if checkpoint_every is None:
        from core.hosting.settings import load_settings

        checkpoint_every = load_settings().checkpoint_every
    epoch_steps = steps_per_epoch(train_rows, config.batch_size)
    steps = total_steps(config, train_rows)
    config = with_checkpoint_interval(config, epoch_steps, checkpoint_every)
    epochs = math.ceil(steps / epoch_steps)
    early = config.early_stopping_patience > 0
    save_every = config.save_every if config.save_every > 0 and not early else 0
    # Checks and step-wise checkpoints come at every multiple of their interval and once more at the last step.
    checks = math.ceil(steps / config.eval_every) if config.eval_every > 0 else epochs
    interval = save_every or config.eval_every
    checkpoints = math.ceil(steps / interval) if interval else epochs
    if not early:
        checkpoints -= 1  # the last step's is skipped (core.engine.callbacks.NoFinalCheckpoint)
    extra = live_checks(config, train_rows, steps, epoch_steps)
    return RunCounts(steps, checks + extra, checkpoints + (extra if early else 0))


def live_checks(config: TrainConfig, train_rows: int, steps: int, epoch_steps: int) -> int:
    """The checks a text generator adds when an epoch would give a chart of one point (LiveEvaluation)."""
    if config.task != "text-generation":
        return 0
    from core.tasks.text_generation.callbacks import live_evaluation

    live = live_evaluation(config, train_rows)
    if live is None:
        return 0
    return sum(1 for step in range(live.every, steps, live.every) if step % epoch_steps)


def check_seconds(measurement: Measurement) -> float:
    return measurement.check_fixed_s + measurement.check_s_per_unit * measurement.check_units


def estimate(config: TrainConfig, measurement: Measurement, checkpoint_every: int | None = None,
             factor: float = 1.0, calibrated_by: int = 0) -> Estimate:
    counts = run_counts(config, measurement.train_rows, checkpoint_every)
    parts = {
        "start": measurement.startup_s + measurement.setup_s,
        "training": measurement.first_step_extra_s + counts.steps * measurement.step_s,
        "checks": counts.checks * check_seconds(measurement),
        "checkpoints": counts.checkpoints * measurement.save_s,
        "end": measurement.finish_s + measurement.ladder_s,
    }
    return Estimate(sum(parts.values()) * factor, counts, parts, measurement.peak_ram + measurement.ram_growth,
                    measurement.ram_total,
                    measurement.peak_gpu, measurement.gpu_total, measurement.device,
                    config.early_stopping_patience > 0, calibrated_by)


# ---------------------------------------------------------------------------------------------------- fitting


def fits_ram(estimate_: Estimate, available: int) -> bool:
    return estimate_.peak_ram <= available * MEMORY_SHARE


def fits_gpu(estimate_: Estimate) -> bool:
    return not estimate_.gpu_total or estimate_.peak_gpu <= estimate_.gpu_total * GPU_SHARE


# ---------------------------------------------------------------------------------------------------- history


def calibration(workspace: Workspace, dataset: PreparedDataset, measurement: Measurement,
                checkpoint_every: int | None = None) -> tuple[float, int]:
    """(factor, runs): the median of actual ÷ predicted time over the latest finished runs on this machine that
    share this measurement, and how many there were; (1.0, 0) without any. Start-up is left out of both sides:
    a run's status times it from when its worker had started."""
    from core.engine.runs import list_runs

    ratios: list[float] = []
    for run in list_runs(workspace):
        if len(ratios) >= HISTORY_RUNS:
            break
        actual = _training_seconds(run)
        if actual is None:
            continue
        try:
            config = run.config
        except Exception:  # noqa: BLE001 - a damaged run simply says nothing about speed
            continue
        if config.dataset != dataset.name or measurement_key(config, dataset, measurement.device) != measurement.key:
            continue
        predicted = estimate(config, measurement, checkpoint_every).seconds - measurement.startup_s
        if predicted > 0:
            ratios.append(actual / predicted)
    if not ratios:
        return 1.0, 0
    return min(max(statistics.median(ratios), 0.5), 2.0), len(ratios)


def _training_seconds(run) -> float | None:
    status = run.status
    if status.state is not RunState.COMPLETED or status.stopped_early or not status.started_at:
        return None
    if not status.finished_at or status.finished_at <= status.started_at:
        return None
    return status.finished_at - status.started_at


def calibrated(config: TrainConfig, measurement: Measurement, workspace: Workspace, dataset: PreparedDataset,
               checkpoint_every: int | None = None) -> Estimate:
    factor, runs = calibration(workspace, dataset, measurement, checkpoint_every)
    return estimate(config, measurement, checkpoint_every, factor, runs)


# ---------------------------------------------------------------------------------------------------- words


def plain_duration(seconds: float) -> str:
    """"under a minute", "about 4 min", "about 1 h 32 min"."""
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"


def plain_bytes(count: float) -> str:
    gigabytes = count / 2**30
    if gigabytes >= 10:
        return f"{gigabytes:.0f} GB"
    return f"{gigabytes:.1f} GB" if gigabytes >= 0.1 else f"{count / 2**20:.0f} MB"


def device_words(device: str) -> str:
    return "this GPU" if device.startswith("GPU") else "this CPU"


def describe(estimate_: Estimate) -> str:
    """One line: the time, then the memory it needs out of what the machine has."""
    when = ("up to " + plain_duration(estimate_.seconds).removeprefix("about ")) if estimate_.may_end_sooner \
        else plain_duration(estimate_.seconds)
    line = f"{when} on {device_words(estimate_.device)}"
    if estimate_.gpu_total:
        return f"{line} · needs ~{plain_bytes(estimate_.peak_gpu)} of the GPU's {plain_bytes(estimate_.gpu_total)}"
    return f"{line} · needs ~{plain_bytes(estimate_.peak_ram)} of {plain_bytes(estimate_.ram_total)}"

