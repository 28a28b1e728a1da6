"""What a run will cost on this machine, measured before it starts:
`python -m core.estimate.measurement RUN_DIR_OR_CONFIG`.

The probe (`core.estimate.probe`) builds the exact plan the worker would build, trains a few real optimizer
steps after a warm-up step, checks a few validation batches, saves a checkpoint and the model, and records each
part's seconds and the peak memory as a `Measurement`. `core.estimate.extrapolation` turns a measurement and a config
into the whole run's time (setup + steps × step time + checks × check time + checkpoints + the end), so changing the
epochs or the checking interval needs no new measurement.

This module is the measurement's record and its cache: one JSON file per measurement in `<workspace>/estimates/`,
named by a hash of what decides a step's cost (the model, batch size, maximum length, image size, the dataset's
files and the device), never of what only decides how many steps there are (epochs, learning rate, seed). The
boundary: files and keys only; starting probes from the pages is `core.estimate.jobs`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.engine.run_folder import read_json_object, write_json_atomic
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.config.train_config import TrainConfig
    from core.data.dataset_store import PreparedDataset

ESTIMATES_DIR = "estimates"
# Raised whenever the probe measures differently, so measurements taken the old way are taken again.
PROBE_VERSION = 2
# Settings that change how many steps, checks and saves a run makes, or nothing at all about its speed: the
# extrapolation reads them from the config, so changing them needs no new measurement.
COUNT_ONLY_FIELDS = ("dataset", "epochs", "max_steps", "learning_rate", "warmup_ratio", "weight_decay",
                     "max_grad_norm", "class_weights", "seed", "eval_every", "early_stopping_patience", "save_every",
                     "sample_prompt")
DATASET_FILES = ("dataset.json", "train.parquet", "validation.parquet")
BYTES_PER_TRAINED_WEIGHT = 12  # its gradient and AdamW's two running averages, in fp32


@dataclass(frozen=True)
class Measurement:
    """One probe's findings. Seconds are wall-clock on this machine; memory is in bytes."""

    key: str
    device: str  # "CPU (2 threads)", "GPU: NVIDIA H100 (bf16)"
    startup_s: float = 0.0  # the process starting and importing torch and transformers
    setup_s: float = 0.0  # reading the data, tokenizing, building or loading the model, making the Trainer
    first_step_extra_s: float = 0.0  # what the first step takes beyond an ordinary one (allocations, warm-up)
    step_s: float = 0.0  # one ordinary training step, for the epoch's average batch
    timed_steps: int = 0
    check_fixed_s: float = 0.0  # one check's cost beyond its batches (metrics, a text generator's sample)
    check_s_per_unit: float = 0.0  # per padded token (texts) or per row (images, tables) of the validation data
    check_units: float = 0.0  # tokens or rows one whole check reads
    save_s: float = 0.0  # one checkpoint
    finish_s: float = 0.0  # saving the final model and writing its report
    ladder_s: float = 0.0  # the simple baselines measured after training
    one_time_s: float = 0.0  # work the first run on this machine did once (a model converted into the cache)
    train_rows: int = 0  # examples per epoch, as the worker counts them
    check_rows: int = 0
    trainable_parameters: int = 0
    peak_ram: int = 0  # the probe's own peak
    ram_growth: int = 0  # what a run adds to it as it meets texts of lengths the probe did not (see memory_growth)
    ram_before_training: int = 0
    ram_total: int = 0
    ram_available: int = 0
    peak_gpu: int = 0
    gpu_total: int = 0
    fits: bool = True
    problem: str = ""  # in plain words: why it could not be measured, or what did not fit
    load_average: float = 0.0  # the machine's 1-minute load when measured: a busy machine measures slow
    cpu_count: int = 0
    measured_at: float = 0.0
    probe_s: float = 0.0

    @property
    def usable(self) -> bool:
        """Whether there are timings to extrapolate from (a failed or out-of-memory probe has none)."""
        return self.fits and not self.problem and self.step_s > 0

    def to_json(self) -> dict[str, Any]:
        return {"probe_version": PROBE_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement | None:
        """The measurement a file holds; None for another probe version or a file no probe wrote."""
        if data.get("probe_version") != PROBE_VERSION or not isinstance(data.get("key"), str):
            return None
        known = {f.name: f.type for f in fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        try:
            return cls(**values)
        except TypeError:
            return None


# ---------------------------------------------------------------------------------------------------- keys


def dataset_fingerprint(dataset: PreparedDataset) -> list[Any]:
    """The dataset's name and its files' sizes and times: a dataset saved again under its name is another one."""
    stamps: list[Any] = [dataset.name]
    for name in DATASET_FILES:
        path = dataset.folder / name
        stat = path.stat() if path.exists() else None
        stamps.append([name, stat.st_size, stat.st_mtime_ns] if stat else [name, None])
    return stamps


def device_identity(description: str) -> list[Any]:
    import torch

    return [description, socket.gethostname(), torch.__version__]


def step_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings that decide what one step costs: everything but `COUNT_ONLY_FIELDS`, and LoRA's and the
    images' settings only where they are used."""
    settings = {name: value for name, value in config.to_dict().items() if name not in COUNT_ONLY_FIELDS}
    if not config.uses_lora:
        settings.pop("lora")
    if config.task != "image-classification":
        settings.pop("image")
    return settings


def measurement_key(config: TrainConfig, dataset: PreparedDataset, device_description: str) -> str:
    payload = {"version": PROBE_VERSION, "settings": step_settings(config), "dataset": dataset_fingerprint(dataset),
               "device": device_identity(device_description)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


# ---------------------------------------------------------------------------------------------------- cache


def estimates_folder(workspace: Workspace) -> Path:
    folder = workspace.root / ESTIMATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def measurement_path(workspace: Workspace, key: str) -> Path:
    return estimates_folder(workspace) / f"{key}.json"


def cached_measurement(workspace: Workspace, key: str) -> Measurement | None:
    data = read_json_object(measurement_path(workspace, key))
    return Measurement.from_json(data) if data else None


def save_measurement(workspace: Workspace, measurement: Measurement) -> Path:
    path = measurement_path(workspace, measurement.key)
    write_json_atomic(path, measurement.to_json())
    return path


def forget_measurement(workspace: Workspace, key: str) -> None:
    measurement_path(workspace, key).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------- command


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m core.estimate.measurement",
        description="Measure what a run will cost on this machine (a few real training steps) and print the "
                    "estimate. Give a run folder (made by the Train page) or a config.json.")
    parser.add_argument("target", type=Path, help="a run folder holding config.json, or a config.json")
    parser.add_argument("--workspace", type=Path, help="the workspace folder, for a config.json (default: "
                                                       "$AI_PLAYGROUND_HOME or ./workspace)")
    parser.add_argument("--again", action="store_true", help="measure again even if a measurement is cached")
    return parser.parse_args(argv)


def target_of(arguments: argparse.Namespace) -> tuple[TrainConfig, Workspace]:
    from core.config.train_config import TrainConfig

    target = arguments.target.resolve()
    if target.is_dir():
        return TrainConfig.load(target / "config.json"), Workspace(target.parent.parent)
    workspace = Workspace(arguments.workspace.resolve()) if arguments.workspace else Workspace.default()
    return TrainConfig.load(target), workspace


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    try:
        config, workspace = target_of(arguments)
    except (OSError, ValueError) as error:
        print(f"Could not read the config: {error}", file=sys.stderr)
        return 2
    import psutil

    from core.estimate.extrapolation import describe, estimate
    from core.estimate.probe import measure

    started = psutil.Process().create_time()
    measurement = measure(config, workspace, again=arguments.again, process_started=started)
    print(json.dumps(measurement.to_json(), indent=2))
    if not measurement.usable:
        print(measurement.problem or "Nothing could be measured.", file=sys.stderr)
        return 1
    print(describe(estimate(config, measurement)), f"(measured in {time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    import os

    os._exit(code)  # the interpreter's teardown of torch takes seconds on a small machine: nothing is left to do
