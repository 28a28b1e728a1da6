"""The probe behind `python -m core.estimate.measurement`: a few real training steps of the exact configuration.

It builds the plan exactly as the worker does (`pipeline(task).build_plan`, `build_trainer`), then trains a warm-up
step and a few timed steps, checks a few validation batches, saves one checkpoint, saves the model and measures the
baselines, timing each part (`core.estimate.clock` keeps the times). Texts vary in length, so the timed steps
are converted to seconds per padded token and scaled to the epoch's average batch, which the real sampler's order
gives. One-time work (a bundled model converted into the workspace's cache on first use) is timed apart and the
set-up measured again without it. The peak memory is the process's exact high-water mark
(`core.estimate.memory_watch`); a probe about to exhaust the machine's memory stops itself and says it does not fit.

The boundary: measuring one configuration in this process; the arithmetic over a whole run is
`core.estimate.extrapolation`, the cache `core.estimate.measurement`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psutil
import torch

from core.config.catalog import TASKS
from core.config.train_config import TrainConfig
from core.data.dataset_store import PreparedDataset, load_dataset_info
from core.engine.callbacks import NoFinalCheckpoint, StopSignal
from core.engine.training import TrainingPlan, build_trainer, count_parameters, plan_device, save_trained_model
from core.estimate.clock import (
    ProbeClock,
    UnitCounter,
    batch_units,
    epoch_shapes,
    input_lengths,
    mean_units,
    probe_check_rows,
)
from core.estimate.measurement import (
    BYTES_PER_TRAINED_WEIGHT,
    Measurement,
    cached_measurement,
    estimates_folder,
    measurement_key,
    save_measurement,
)
from core.estimate.memory_watch import MemoryWatch
from core.messages import PlainError
from core.tasks import pipeline
from core.workspace import Workspace

MAX_TIMED_STEPS = 40
PROBE_LIMIT_SECONDS = 1800  # a probe still running after this is ended: it says the run could not be measured
MEMORY_SHARE = 0.9  # of the memory available when the probe starts: beyond it the run is said not to fit


class ProbeTimeout(Exception):
    pass


def measure(config: TrainConfig, workspace: Workspace, again: bool = False,
            process_started: float | None = None) -> Measurement:
    """The measurement for `config` (cached unless `again`), taken and saved now if there is none. Failures are
    measurements too (`problem` says why in plain words), so a page does not start the same failing probe again.
    `process_started` (the probe process's start time) makes the start-up of a fresh process part of it."""
    began = time.time()
    dataset = load_dataset_info(workspace, config.dataset)
    device = plan_device(config.device)
    key = measurement_key(config, dataset, device.description)
    if not again and (cached := cached_measurement(workspace, key)) is not None:
        return cached
    base = Measurement(key=key, device=device.description, startup_s=began - (process_started or began),
                       ram_total=psutil.virtual_memory().total, cpu_count=os.cpu_count() or 1,
                       load_average=os.getloadavg()[0], measured_at=time.time())
    folder = estimates_folder(workspace) / f"probe-{key}-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    available = psutil.virtual_memory().available + psutil.Process().memory_info().rss
    base = replace(base, ram_available=available)
    known: dict[str, int] = {}  # what the probe found before it ran out of memory

    def give_up(held: int) -> None:  # from the memory guard's thread: record, then leave at once
        save_measurement(workspace, replace(base, fits=False, peak_ram=held, probe_s=time.time() - began,
                                            problem=not_fitting(held, available), **known))
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(3)

    previous_alarm = signal.signal(signal.SIGALRM, _timeout) if _main_thread() else None
    if previous_alarm is not None:
        signal.alarm(PROBE_LIMIT_SECONDS)
    try:
        with MemoryWatch(int(available * MEMORY_SHARE), give_up) as watch:
            result = _probe(config, dataset, workspace, folder, device, base, watch, known)
    except (torch.cuda.OutOfMemoryError, MemoryError) as error:
        result = replace(base, fits=False, problem=out_of_memory(error), peak_gpu=_gpu_peak(),
                         gpu_total=_gpu_total(device.use_cpu), **known)
    except ProbeTimeout:
        result = replace(base, problem=f"Measuring took more than {PROBE_LIMIT_SECONDS // 60} minutes, so it was "
                                       "stopped: the run will take very long on this machine.")
    except PlainError as error:
        result = replace(base, problem=str(error))
    except Exception as error:  # noqa: BLE001 - the page shows why a run could not be measured, never a traceback
        result = replace(base, problem=f"It could not be measured: {type(error).__name__}: {str(error)[:300]}")
    finally:
        if previous_alarm is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous_alarm)
        shutil.rmtree(folder, ignore_errors=True)
    result = replace(result, probe_s=time.time() - began)
    save_measurement(workspace, result)
    return result


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _timeout(*_) -> None:
    raise ProbeTimeout


def not_fitting(held: int, available: int) -> str:
    return (f"Training would need more than {held / 2**30:.1f} GB of memory, and this machine has "
            f"{available / 2**30:.1f} GB free.")


def out_of_memory(error: BaseException) -> str:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "Training does not fit in the GPU's memory."
    return "Training ran out of memory."


def _gpu_peak() -> int:
    return torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0


def _gpu_total(use_cpu: bool) -> int:
    return 0 if use_cpu else torch.cuda.get_device_properties(0).total_memory


# ---------------------------------------------------------------------------------------------------- the probe


def cache_listing(workspace: Workspace) -> set[str]:
    """What the workspace's model and library caches hold, three levels deep: a plan that adds to it did
    one-time work that later runs skip."""
    found: set[str] = set()
    for top in (workspace.models, workspace.cache):
        for path in top.glob("*"):
            found.add(str(path))
            found.update(str(p) for p in path.glob("*/*"))
    return found


def timed_plan(config: TrainConfig, dataset: PreparedDataset, workspace: Workspace, folder: Path, device,
               watch: MemoryWatch) -> tuple[TrainingPlan, float, float]:
    """(the plan, seconds it took, seconds of one-time work). A plan whose building filled a cache is built
    again, so the set-up a run will see is timed without the one-time work, and its memory peak forgotten."""
    before = cache_listing(workspace)
    started = time.time()
    plan = pipeline(config.task).build_plan(config, dataset, folder, device)
    seconds = time.time() - started
    if cache_listing(workspace) == before:
        return plan, seconds, 0.0
    del plan
    gc.collect()
    watch.reset()
    started = time.time()
    plan = pipeline(config.task).build_plan(config, dataset, folder, device)
    again = time.time() - started
    return plan, again, max(seconds - again, 0.0)


def probe_config(config: TrainConfig) -> TrainConfig:
    """The same run, cut to a warm-up step and the timed steps, with one check and one checkpoint at the end
    (the clock asks for them) and nothing in between."""
    return replace(config, max_steps=1 + MAX_TIMED_STEPS, eval_every=10_000_000, save_every=0,
                   early_stopping_patience=0)


def _probe(config: TrainConfig, dataset: PreparedDataset, workspace: Workspace, folder: Path, device,
           base: Measurement, watch: MemoryWatch, known: dict[str, int]) -> Measurement:
    started = time.time()
    plan, plan_seconds, one_time = timed_plan(config, dataset, workspace, folder, device, watch)
    setup_started = time.time() - plan_seconds
    check_rows = len(plan.eval_dataset)
    counter = UnitCounter.around(plan)
    clock = ProbeClock(counter, watch.now)
    plan.callbacks.append(clock)
    trainer, _ = build_trainer(probe_config(config), plan, folder, device, StopSignal())
    trainer.remove_callback(NoFinalCheckpoint)  # the probe's last step must save: it times one checkpoint
    check_batch = trainer.args.per_device_eval_batch_size
    check_lengths = input_lengths(plan.eval_dataset)
    probed_rows = probe_check_rows(check_lengths, check_rows, check_batch, plan.packed)
    trainer.eval_dataset = plan.eval_dataset.select(probed_rows)
    ram_before, trainable = watch.now(), count_parameters(plan.model, trainable_only=True)
    known.update(ram_before_training=ram_before, trainable_parameters=trainable)
    train_called = time.time()
    trainer.train()
    finish_s = timed(lambda: _finish(plan, trainer, folder))
    ladder_s = timed(lambda: _ladder(config, dataset)) if TASKS[config.task].metric in ("accuracy", "r2") else 0.0
    shapes = epoch_shapes(plan.train_dataset, config.batch_size, plan.group_by_length, config.seed, plan.packed)
    steps = clock.steps(mean_units(shapes))
    step_memory = watch.peak - ram_before - trainable * BYTES_PER_TRAINED_WEIGHT  # activations and the batch
    growth = clock.memory_growth(shapes, step_memory) if device.use_cpu else 0
    check = clock.check(batch_units(check_lengths, check_batch, plan.packed) if check_lengths else None, check_rows)
    return replace(
        base, setup_s=(train_called - setup_started) + (clock.train_begin - train_called),
        first_step_extra_s=steps.first_extra, step_s=steps.seconds, timed_steps=steps.count,
        check_fixed_s=check.fixed, check_s_per_unit=check.per_unit, check_units=check.units,
        save_s=clock.save_seconds, finish_s=finish_s, ladder_s=ladder_s, one_time_s=one_time,
        train_rows=len(plan.train_dataset), check_rows=check_rows,
        trainable_parameters=trainable, peak_ram=watch.peak, ram_growth=growth, ram_before_training=ram_before,
        peak_gpu=_gpu_peak(),
        gpu_total=_gpu_total(device.use_cpu), probe_s=time.time() - started)


def timed(work: Callable[[], object]) -> float:
    started = time.time()
    work()
    return time.time() - started


def _finish(plan: TrainingPlan, trainer, folder: Path) -> None:
    """The plan's own ending (the model saved, its report written). It reads the validation rows the probe cut
    short; should that trip it, saving the model, the bulk of the work, is what is timed."""
    try:
        plan.finish(trainer, folder)
    except (ValueError, IndexError, KeyError):
        save_trained_model(trainer, folder / "model")


def _ladder(config: TrainConfig, dataset: PreparedDataset) -> None:
    from core.engine.ladder_data import baseline_rungs

    with contextlib.suppress(ValueError, OSError, PlainError):  # the worker leaves the ladder out then, as fast
        baseline_rungs(config.task, dataset)

