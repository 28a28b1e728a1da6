"""The training engine shared by every task: one `transformers.Trainer`, one set of callbacks, one run folder.

A task pipeline (`core.tasks.*`) turns a `TrainConfig` and a prepared dataset into a `TrainingPlan`: the model,
the tokenized/transformed splits, the collator, the metrics and what to save at the end. This module does the
rest the same way for all of them: device and precision, `TrainingArguments`, checkpoints, early stopping, and
evaluation in the validation split's own order, so every prediction can be paired with its row. The callbacks that
feed the live charts and stop a run are `core.engine.callbacks`.

The boundary: it knows the Trainer and where checkpoints go (through `core.engine.run_folder`); it knows nothing
about processes or signals (that is `core.engine.worker`) nor about any UI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from torch.utils.data import SequentialSampler
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

from core.config.catalog import TASKS
from core.config.train_config import TrainConfig
from core.engine.callbacks import MetricsCallback, NoFinalCheckpoint, StopCallback, StopSignal
from core.engine.class_weights import weighted_cross_entropy
from core.engine.eval_batches import length_sorted_parts, merged
from core.engine.run_folder import CHECKPOINT_PREFIX, CHECKPOINTS_DIR, checkpoint_folders
from core.engine.speed import speed_arguments
from core.engine.stop_evaluation import StopBound
from core.messages import PlainError

# About this many points on the loss chart, whatever the run's length: enough to see the trend, few enough to
# redraw every second.
LOSS_POINTS_PER_RUN = 200


class TrainingError(PlainError):
    """Training cannot go on; the message says why in plain words and what to change."""


# ---------------------------------------------------------------------------------------------------- device


@dataclass(frozen=True)
class DevicePlan:
    use_cpu: bool
    bf16: bool
    description: str
    gpu_count: int = 0


def plan_device(requested: str) -> DevicePlan:
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise TrainingError("A GPU was asked for, but none is available on this machine. Choose 'auto' or 'cpu'.")
    if requested == "cpu" or not has_cuda:
        return DevicePlan(True, False, f"CPU ({torch.get_num_threads()} threads)")
    bf16 = torch.cuda.is_bf16_supported()
    name = torch.cuda.get_device_name(0)
    return DevicePlan(False, bf16, f"GPU: {name}" + (" (bf16)" if bf16 else " (fp32)"), torch.cuda.device_count())


# ---------------------------------------------------------------------------------------------------- plans


class EvaluationMemory:
    """Remembers each evaluation's predictions by step, so the final report can reuse the pass that produced the
    kept model instead of reading the validation set once more. Call it with a metric function to get the
    `compute_metrics` the Trainer wants."""

    def __init__(self) -> None:
        self.by_step: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.current_step = 0

    def compute_metrics(self, metric: Callable[[np.ndarray, np.ndarray], dict[str, float]]):
        def compute(prediction) -> dict[str, float]:
            predictions = prediction.predictions
            if isinstance(predictions, tuple):
                predictions = predictions[0]
            predictions = np.asarray(predictions, dtype=np.float32)
            labels = np.asarray(prediction.label_ids)
            self.by_step[self.current_step] = (predictions, labels)
            return metric(predictions, labels)

        return compute


class _TrackStep(TrainerCallback):
    def __init__(self, memory: EvaluationMemory):
        self.memory = memory

    def on_step_end(self, args, state, control, **kwargs):
        self.memory.current_step = state.global_step


@dataclass
class TrainingPlan:
    """What a task pipeline hands the engine: everything task-specific about one training."""

    model: torch.nn.Module
    train_dataset: datasets.Dataset
    eval_dataset: datasets.Dataset
    finish: Callable[[Trainer, Path], dict[str, Any]]  # saves the model and returns eval.json's content
    data_collator: Callable | None = None
    processing_class: Any = None  # tokenizer or image processor: saved beside the model
    metric: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None
    preprocess_logits_for_metrics: Callable | None = None
    callbacks: list[TrainerCallback] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # shown on the Runs page: parameters, vocabulary…
    memory: EvaluationMemory = field(default_factory=EvaluationMemory)
    remove_unused_columns: bool = True
    group_by_length: bool = False  # batch training texts of similar length together, to pad less
    packed: bool = False  # examples laid end to end in one row, without padding (text generation)
    trim_eval_padding: bool = False  # check each batch's texts in parts of similar length (core.engine.eval_batches)
    class_weights: list[float] | None = None  # classification: one loss weight per class (core.engine.class_weights)


class RunTrainer(Trainer):
    """The Trainer, evaluating in the validation split's own order, and briefly after a stop.

    With `group_by_length` transformers also evaluates through its LengthGroupedSampler, which returns predictions
    shuffled against the rows: aggregates survive, but every report that pairs a prediction with its row (the
    mistakes the model was surest about, a regression's largest errors) would pair it with the wrong one. Several
    processes (a multi-GPU run) get no sampler: accelerate then shards the split in order and gathers it back.
    With a `stop_bound`, an evaluation after a stop measures only the first rows it has time for. With
    `trim_eval_padding`, each evaluation batch runs in parts of similar length, its rows kept in their places.
    """

    def __init__(self, *args, stop_bound: StopBound | None = None, trim_eval_padding: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop_bound = stop_bound
        self.trim_eval_padding = trim_eval_padding

    def _get_eval_sampler(self, eval_dataset):
        if eval_dataset is None or self.args.world_size > 1:
            return None
        return SequentialSampler(eval_dataset)

    def evaluation_loop(self, dataloader, *args, **kwargs):
        if self.stop_bound is not None:
            dataloader = self.stop_bound.batches(dataloader, self.state.global_step, self.args.device)
        return super().evaluation_loop(dataloader, *args, **kwargs)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        predict = super().prediction_step
        parts = length_sorted_parts(inputs) if self.trim_eval_padding else None
        if parts is None:
            return predict(model, inputs, prediction_loss_only, ignore_keys)
        return merged(parts, [predict(model, part.inputs, prediction_loss_only, ignore_keys) for part in parts])


# ---------------------------------------------------------------------------------------------------- trainer


def steps_per_epoch(train_rows: int, batch_size: int, devices: int = 1) -> int:
    return max(1, math.ceil(train_rows / (batch_size * max(devices, 1))))


def total_steps(config: TrainConfig, train_rows: int, devices: int = 1) -> int:
    if config.max_steps > 0:
        return config.max_steps
    return max(1, math.ceil(steps_per_epoch(train_rows, config.batch_size, devices) * config.epochs))


def _sampling_arguments(group_by_length: bool) -> dict[str, Any]:
    # transformers 5.18 replaced the `group_by_length` flag with `train_sampling_strategy`; accept both so the
    # GPU machines' older transformers train the same way.
    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
        return {"train_sampling_strategy": "group_by_length" if group_by_length else "random"}
    return {"group_by_length": group_by_length}


def training_arguments(config: TrainConfig, run_dir: Path, train_rows: int, device: DevicePlan,
                       show_progress_bar: bool, remove_unused_columns: bool = True,
                       group_by_length: bool = False) -> TrainingArguments:
    task = TASKS[config.task]
    steps = total_steps(config, train_rows)
    by_steps = config.eval_every > 0
    early_stopping = config.early_stopping_patience > 0
    # Checkpoints follow the evaluations unless the person asked for another interval; with early stopping they
    # must coincide, since the best evaluation's checkpoint is the one kept.
    save_steps = config.save_every if config.save_every > 0 and not early_stopping else None
    metric_name = "loss" if task.metric == "loss" else task.metric
    return TrainingArguments(
        output_dir=str(run_dir / CHECKPOINTS_DIR),
        num_train_epochs=config.epochs if config.max_steps <= 0 else 1,
        max_steps=config.max_steps if config.max_steps > 0 else -1,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=int(config.warmup_ratio * steps),
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm if config.max_grad_norm > 0 else 0.0,
        seed=config.seed,
        eval_strategy="steps" if by_steps else "epoch",
        eval_steps=config.eval_every if by_steps else None,
        save_strategy="steps" if (by_steps or save_steps) else "epoch",
        save_steps=save_steps or (config.eval_every if by_steps else None),
        save_total_limit=1,
        load_best_model_at_end=early_stopping,
        metric_for_best_model=metric_name if early_stopping else None,
        greater_is_better=task.greater_is_better if early_stopping else None,
        logging_steps=max(1, steps // LOSS_POINTS_PER_RUN),
        logging_first_step=True,
        # By default the Trainer logs a NaN/inf loss as the window's average, hiding it from MetricsCallback,
        # which must see it to stop the run and say why.
        logging_nan_inf_filter=False,
        report_to=[],
        use_cpu=device.use_cpu,
        disable_tqdm=not show_progress_bar,
        remove_unused_columns=remove_unused_columns,
        **_sampling_arguments(group_by_length),
        # Precision, TF32, fused AdamW, torch.compile, loader workers, check batch size: chosen per device.
        **speed_arguments(config, device),
    )


def build_trainer(config: TrainConfig, plan: TrainingPlan, run_dir: Path, device: DevicePlan, stop: StopSignal,
                  show_progress_bar: bool = False) -> tuple[RunTrainer, MetricsCallback]:
    metrics_callback = MetricsCallback(run_dir)
    callbacks: list[TrainerCallback] = [metrics_callback, _TrackStep(plan.memory), *plan.callbacks]
    if config.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    callbacks.append(NoFinalCheckpoint())
    callbacks.append(StopCallback(stop))  # last: it cancels any check the others asked for once a stop is asked
    trainer = RunTrainer(
        model=plan.model,
        args=training_arguments(config, run_dir, len(plan.train_dataset), device, show_progress_bar,
                                plan.remove_unused_columns, plan.group_by_length),
        train_dataset=plan.train_dataset,
        eval_dataset=plan.eval_dataset,
        data_collator=plan.data_collator,
        processing_class=plan.processing_class,
        compute_metrics=plan.memory.compute_metrics(plan.metric) if plan.metric else None,
        preprocess_logits_for_metrics=plan.preprocess_logits_for_metrics,
        compute_loss_func=weighted_cross_entropy(plan.class_weights) if plan.class_weights else None,
        callbacks=callbacks,
        stop_bound=StopBound(run_dir, stop),
        trim_eval_padding=plan.trim_eval_padding,
    )
    return trainer, metrics_callback


def latest_checkpoint(run_dir: Path) -> str | None:
    checkpoints = checkpoint_folders(run_dir)
    return str(checkpoints[-1]) if checkpoints else None


def kept_step(trainer: Trainer) -> int:
    """The step whose model the run keeps: the best check's with early stopping, else the last step's."""
    state = trainer.state
    if state.best_model_checkpoint and trainer.args.load_best_model_at_end:
        return int(Path(state.best_model_checkpoint).name.removeprefix(CHECKPOINT_PREFIX))
    return state.global_step


def epoch_at(trainer: Trainer, step: int) -> float | None:
    """The epoch the Trainer logged at a step (fractional: 2.0 is the end of the second epoch)."""
    epochs = [entry["epoch"] for entry in trainer.state.log_history if entry.get("step") == step and "epoch" in entry]
    return epochs[-1] if epochs else None


def final_predictions(trainer: Trainer, memory: EvaluationMemory) -> tuple[np.ndarray, np.ndarray]:
    """Validation predictions and gold labels of the model that is kept (the best one with early stopping), in
    the validation split's order."""
    kept = kept_step(trainer)
    if kept in memory.by_step:
        return memory.by_step[kept]
    output = trainer.predict(trainer.eval_dataset)
    predictions = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    return np.asarray(predictions, dtype=np.float32), np.asarray(output.label_ids)


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def save_trained_model(trainer: Trainer, folder: Path) -> None:
    """The final weights as safetensors plus config.json. Trainer also writes `training_args.bin`, a pickle:
    nothing here reads it, and a model folder someone downloads should hold no pickles, so it goes."""
    trainer.save_model(str(folder))
    (folder / "training_args.bin").unlink(missing_ok=True)
