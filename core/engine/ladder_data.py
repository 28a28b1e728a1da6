"""The rows each task's baseline ladder is measured on, read from the run's prepared dataset.

The boundary: this module reads a `PreparedDataset` the way the task's own pipeline reads it (the same training and
validation rows, the same table preprocessing, the same image files) and hands them to `core.engine.baselines`,
whose functions are pure. The worker calls `add_ladder` once training is over, which stores the ladder in eval.json;
a ladder that cannot be measured is left out with a line in the log, never a failed run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.config.catalog import TASKS
from core.data.dataset_store import PreparedDataset
from core.engine import baselines
from core.engine.baselines import LADDER_KEY, Rung
from core.engine.run_folder import EVAL_FILE, read_status, update_status, write_json_atomic
from core.messages import PlainError

IMAGE_SIDE = 16  # images are shrunk to 16×16 colour dots: 768 numbers, enough for MNIST-like sets (0.78 on 500)


def ladder_for_run(task: str, dataset: PreparedDataset, report: dict[str, Any],
                   model_seconds: float | None = None) -> dict[str, Any] | None:
    """The ladder for a finished run's eval.json, with the model's own rung; None for text generation (no ladder
    yet) or when the baselines cannot be measured (why is printed to the run's log)."""
    metric = TASKS[task].metric
    score = report.get(metric)
    if metric not in ("accuracy", "r2") or not isinstance(score, (int, float)):
        return None
    try:
        rungs, train_rows, validation_rows = baseline_rungs(task, dataset)
    except (ValueError, OSError, MemoryError, PlainError) as error:
        print(f"The baselines could not be measured ({type(error).__name__}: {error}); the evaluation shows the "
              "model's own numbers only.", flush=True)
        return None
    rungs.append(baselines.model_rung(float(score), model_seconds, metric))
    return baselines.ladder(metric, rungs, train_rows, validation_rows)


def add_ladder(run_dir: Path, task: str, dataset: PreparedDataset, report: dict[str, Any]) -> None:
    """Measure the baselines and keep them in the run's eval.json beside the model's own numbers."""
    if TASKS[task].metric not in ("accuracy", "r2"):
        return
    update_status(run_dir, message="Measuring simple baselines on the same validation rows…")
    stored = ladder_for_run(task, dataset, report, read_status(run_dir).elapsed_seconds)
    if stored is not None:
        write_json_atomic(run_dir / EVAL_FILE, {**report, LADDER_KEY: stored})


def baseline_rungs(task: str, dataset: PreparedDataset) -> tuple[list[Rung], int, int]:
    """(the rungs below the model, training rows, validation rows) for a task's prepared dataset."""
    if task == "text-classification":
        return text_rungs(dataset)
    if task == "image-classification":
        return image_rungs(dataset)
    return table_rungs(dataset)


def classification_floors(classes: list[str], train_labels: list[str], validation_labels: list[str]) -> list[Rung]:
    return [baselines.chance_rung(classes), baselines.majority_rung(train_labels, validation_labels)]


def text_rungs(dataset: PreparedDataset) -> tuple[list[Rung], int, int]:
    train, validation = dataset.frames()
    train_labels, validation_labels = train["label"].astype(str).tolist(), validation["label"].astype(str).tolist()
    classes = list(dataset.info.labels) or sorted(set(train_labels))
    rungs = classification_floors(classes, train_labels, validation_labels)
    rungs.append(baselines.text_rung(train["text"].astype(str).tolist(), train_labels,
                                     validation["text"].astype(str).tolist(), validation_labels))
    return rungs, len(train), len(validation)


def table_rungs(dataset: PreparedDataset) -> tuple[list[Rung], int, int]:
    from core.tasks.tabular.pipeline import prepare_table  # the same preprocessing, fitted on the same rows

    table = prepare_table(dataset)
    rows = (len(table.train_targets), len(table.validation_targets))
    if table.preprocessor.target.task == "regression":
        decode = table.preprocessor.decode_amounts  # the average is shown in the target's own units
        return baselines.regression_rungs(table.train_features, decode(table.train_targets),
                                          table.validation_features, decode(table.validation_targets)), *rows
    names = table.preprocessor.class_names
    train_labels = [names[int(i)] for i in table.train_targets]
    validation_labels = [names[int(i)] for i in table.validation_targets]
    rungs = classification_floors(names, train_labels, validation_labels)
    rungs.append(baselines.table_rung(table.train_features, np.asarray(table.train_targets),
                                      table.validation_features, np.asarray(table.validation_targets)))
    return rungs, *rows


def image_rungs(dataset: PreparedDataset) -> tuple[list[Rung], int, int]:
    from core.tasks.image_classification.training_images import resolved_split  # the files the model saw

    classes = list(dataset.info.labels)
    train_paths, train_ids = resolved_split(dataset, "train")
    validation_paths, validation_ids = resolved_split(dataset, "validation")
    keep = baselines.sampled(len(train_paths))  # only the sampled images are read: a big set stays quick
    train_labels = [classes[i] for i in train_ids]
    validation_labels = [classes[i] for i in validation_ids]
    rungs = classification_floors(classes, train_labels, validation_labels)
    rungs.append(baselines.image_rung(shrunk([train_paths[i] for i in keep]), np.asarray(train_ids)[keep],
                                      shrunk(validation_paths), np.asarray(validation_ids), IMAGE_SIDE,
                                      of_rows=len(train_paths)))
    return rungs, len(train_paths), len(validation_paths)


def shrunk(paths: list[str], side: int = IMAGE_SIDE) -> np.ndarray:
    """Each image as side×side colour dots between 0 and 1, one row per image."""
    from PIL import Image

    rows = np.empty((len(paths), side * side * 3), dtype=np.float32)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            small = image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
        rows[i] = np.asarray(small, dtype=np.float32).reshape(-1) / 255.0
    return rows
