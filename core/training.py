"""Text-classification training with `transformers.Trainer`: data → tokens → model → Trainer → run folder.

The boundary: this module knows the run folder's files (through `core.runs`) and the Trainer; it knows nothing of
processes or signals (that is `core.worker`) nor of any UI. `MetricsCallback` is the seam the live charts read.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from core.config import TrainConfig
from core.data import PreparedDataset
from core.metrics import accuracy_and_f1, classification_report, softmax
from core.runs import append_metrics, update_status, write_json_atomic
from core.text_models import build_classifier, load_tokenizer, train_wordpiece_tokenizer

WORST_MISTAKES_SHOWN = 20


class TrainingError(Exception):
    """Training cannot go on; the message says why in plain words and what to change."""


# ---------------------------------------------------------------------------------------------------- device


@dataclass(frozen=True)
class DevicePlan:
    use_cpu: bool
    bf16: bool
    description: str


def plan_device(requested: str) -> DevicePlan:
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise TrainingError("A GPU was asked for, but none is available on this machine. Choose 'auto' or 'cpu'.")
    if requested == "cpu" or not has_cuda:
        return DevicePlan(True, False, f"CPU ({torch.get_num_threads()} threads)")
    bf16 = torch.cuda.is_bf16_supported()
    name = torch.cuda.get_device_name(0)
    return DevicePlan(False, bf16, f"GPU: {name}" + (" (bf16)" if bf16 else " (fp32)"))


# ---------------------------------------------------------------------------------------------------- data


def load_splits(prepared: PreparedDataset, cache_dir: Path) -> datasets.DatasetDict:
    files = {"train": str(prepared.train_path), "validation": str(prepared.validation_path)}
    splits = datasets.load_dataset("json", data_files=files, cache_dir=str(cache_dir))
    # JSON readers turn label "1" into the integer 1: labels are class names, so keep them as text.
    return splits.cast_column("label", datasets.Value("string"))


def make_tokenizer(config: TrainConfig, train_texts: list[str]):
    spec = config.model
    if spec.source == "pretrained":
        return load_tokenizer(spec.name)
    if spec.tokenizer == "train":
        return train_wordpiece_tokenizer(train_texts, spec.vocab_size)
    return load_tokenizer(spec.tokenizer)


def tokenize_splits(splits: datasets.DatasetDict, tokenizer, labels: list[str], max_length: int
                    ) -> datasets.DatasetDict:
    label2id = {label: i for i, label in enumerate(labels)}

    def encode(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
        encoded["labels"] = [label2id[label] for label in batch["label"]]
        return encoded

    return splits.map(encode, batched=True, remove_columns=splits["train"].column_names,
                      desc="Tokenizing", load_from_cache_file=False)


# ---------------------------------------------------------------------------------------------------- callback


@dataclass
class StopSignal:
    """Set from a signal handler; read by the callback at the end of each step."""

    event: threading.Event = field(default_factory=threading.Event)

    def request(self) -> None:
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()


class MetricsCallback(TrainerCallback):
    """Appends every log to metrics.jsonl, keeps status.json's progress fresh, and turns a stop request or a
    diverging loss into a clean stop."""

    STATUS_EVERY_SECONDS = 1.0

    def __init__(self, run_dir: Path, stop: StopSignal):
        self.run_dir = run_dir
        self.stop = stop
        self.started = time.time()
        self.last_status = 0.0
        self.diverged = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.time()
        update_status(self.run_dir, state="running", max_steps=state.max_steps, step=state.global_step,
                      message="Training.")

    def on_step_end(self, args, state, control, **kwargs):
        now = time.time()
        if now - self.last_status >= self.STATUS_EVERY_SECONDS or state.global_step == state.max_steps:
            self.last_status = now
            self._write_progress(state, now)
        if self.stop.requested:
            # Save a checkpoint on the way out so "Resume" continues exactly from here.
            control.should_training_stop = True
            control.should_save = True
        return control

    def _write_progress(self, state, now: float) -> None:
        elapsed = now - self.started
        done = max(state.global_step, 1)
        remaining = max(state.max_steps - state.global_step, 0)
        update_status(self.run_dir, step=state.global_step, max_steps=state.max_steps, epoch=state.epoch,
                      elapsed_seconds=elapsed, eta_seconds=elapsed / done * remaining)

    def on_log(self, args, state, control, logs=None, **kwargs):
        record = {"step": state.global_step, "epoch": state.epoch, "time": time.time() - self.started}
        record.update({k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))})
        append_metrics(self.run_dir, record)
        loss = record.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.diverged = True
            control.should_training_stop = True
        return control


# ---------------------------------------------------------------------------------------------------- trainer


def steps_per_epoch(train_rows: int, batch_size: int) -> int:
    return max(1, math.ceil(train_rows / batch_size))


def training_arguments(config: TrainConfig, run_dir: Path, train_rows: int, device: DevicePlan,
                       show_progress_bar: bool) -> TrainingArguments:
    total_steps = math.ceil(steps_per_epoch(train_rows, config.batch_size) * config.epochs)
    by_steps = config.eval_every > 0
    early_stopping = config.early_stopping_patience > 0
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size * 2,
        learning_rate=config.learning_rate,
        warmup_steps=int(config.warmup_ratio * total_steps),
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm if config.max_grad_norm > 0 else None,
        seed=config.seed,
        eval_strategy="steps" if by_steps else "epoch",
        eval_steps=config.eval_every if by_steps else None,
        save_strategy="steps" if by_steps else "epoch",
        save_steps=config.eval_every if by_steps else None,
        save_total_limit=1,
        save_only_model=False,
        load_best_model_at_end=early_stopping,
        metric_for_best_model="accuracy" if early_stopping else None,
        # About 200 points on the loss chart, whatever the run's length.
        logging_steps=max(1, total_steps // 200),
        logging_first_step=True,
        report_to=[],
        use_cpu=device.use_cpu,
        bf16=device.bf16,
        disable_tqdm=not show_progress_bar,
        dataloader_num_workers=0,
    )


class EvaluationMemory:
    """`compute_metrics` that also remembers each evaluation's predictions, so the final report can reuse the
    pass that produced the kept model instead of reading the validation set once more."""

    def __init__(self):
        self.by_step: dict[int, np.ndarray] = {}
        self.current_step = 0

    def __call__(self, prediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        self.by_step[self.current_step] = np.asarray(logits, dtype=np.float32)
        return accuracy_and_f1(prediction.label_ids, logits.argmax(-1))


class _TrackStep(TrainerCallback):
    def __init__(self, memory: EvaluationMemory):
        self.memory = memory

    def on_step_end(self, args, state, control, **kwargs):
        self.memory.current_step = state.global_step


def build_trainer(config: TrainConfig, run_dir: Path, splits: datasets.DatasetDict, tokenizer, labels: list[str],
                  device: DevicePlan, stop: StopSignal, show_progress_bar: bool = False
                  ) -> tuple[Trainer, MetricsCallback, EvaluationMemory]:
    model = build_classifier(config.model, labels, tokenizer, config.max_length)
    memory = EvaluationMemory()
    metrics_callback = MetricsCallback(run_dir, stop)
    callbacks: list[TrainerCallback] = [metrics_callback, _TrackStep(memory)]
    if config.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=training_arguments(config, run_dir, len(splits["train"]), device, show_progress_bar),
        train_dataset=splits["train"],
        eval_dataset=splits["validation"],
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=memory,
        callbacks=callbacks,
    )
    return trainer, metrics_callback, memory


def latest_checkpoint(run_dir: Path) -> str | None:
    checkpoints = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(checkpoints[-1]) if checkpoints else None


# ---------------------------------------------------------------------------------------------------- results


def final_logits(trainer: Trainer, memory: EvaluationMemory, validation: datasets.Dataset) -> np.ndarray:
    state = trainer.state
    if state.best_model_checkpoint and trainer.args.load_best_model_at_end:
        kept_step = int(state.best_model_checkpoint.rstrip("/").split("-")[-1])
    else:
        kept_step = state.global_step
    if kept_step in memory.by_step:
        return memory.by_step[kept_step]
    return np.asarray(trainer.predict(validation).predictions, dtype=np.float32)


def evaluation_report(logits: np.ndarray, gold: list[int], texts: list[str], labels: list[str]) -> dict[str, Any]:
    probabilities = softmax(logits)
    predicted = probabilities.argmax(-1)
    report = classification_report(gold, predicted, labels)
    report["validation_rows"] = len(gold)
    report["worst_mistakes"] = worst_mistakes(probabilities, predicted, gold, texts, labels)
    return report


def worst_mistakes(probabilities: np.ndarray, predicted: np.ndarray, gold: list[int], texts: list[str],
                   labels: list[str]) -> list[dict[str, Any]]:
    """The wrong predictions the model was most sure of: where to look first for label errors or blind spots."""
    wrong = [i for i in range(len(gold)) if predicted[i] != gold[i]]
    wrong.sort(key=lambda i: -probabilities[i, predicted[i]])
    return [{"text": texts[i], "gold": labels[gold[i]], "predicted": labels[predicted[i]],
             "confidence": float(probabilities[i, predicted[i]])} for i in wrong[:WORST_MISTAKES_SHOWN]]


def save_results(trainer: Trainer, tokenizer, run_dir: Path, report: dict[str, Any]) -> None:
    trainer.save_model(str(run_dir / "model"))  # safetensors + config with the class names
    tokenizer.save_pretrained(str(run_dir / "model"))
    write_json_atomic(run_dir / "eval.json", report)
