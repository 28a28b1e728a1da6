"""Tables, for both tabular tasks: the person's own columns → a preprocessor fitted on the training split → the MLP.

The prepared dataset holds the raw columns (`train.parquet`, `validation.parquet`) and the preprocessing settings
(`details["preprocess"]`, a `TabularPreprocessConfig`). The preprocessor is fitted here on the training rows only,
so nothing about the validation rows leaks into fill values or scales, and it is saved as JSON beside the
safetensors weights in `run_dir/model`. Classification learns with cross-entropy; regression with mean squared
error on the standardised target, while every number it logs (MAE, RMSE, R²) is in the target's own units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
from transformers import AutoModelForSequenceClassification, Trainer

from core.config.train_config import TrainConfig
from core.data.dataset_store import PreparedDataset
from core.engine.class_weights import balanced_weights
from core.engine.metrics import (
    accuracy_and_f1,
    classification_evaluation,
    largest_errors,
    regression_metrics,
    regression_report,
)
from core.engine.run_folder import EVAL_FILE, MODEL_DIR, write_json_atomic
from core.engine.training import (
    DevicePlan,
    EvaluationMemory,
    TrainingError,
    TrainingPlan,
    count_parameters,
    final_predictions,
    save_trained_model,
)
from core.tasks.tabular.cells import TabularError
from core.tasks.tabular.columns import TabularPreprocessConfig
from core.tasks.tabular.dataset import TASK_KEYS
from core.tasks.tabular.fitting import fit_preprocessor
from core.tasks.tabular.model import TabularPrediction, build_tabular_model, predict_frame, predict_one, row_problems
from core.tasks.tabular.preprocessor import TabularPreprocessor

# The mistakes table on the Runs page reads best with the verdict first and the row's own columns after it.
VERDICT_KEYS = ("gold", "predicted", "confidence")


# ---------------------------------------------------------------------------------------------------- data


def preprocess_config(dataset: PreparedDataset) -> TabularPreprocessConfig:
    """The table settings the Data page saved with the dataset, checked against the dataset's task."""
    settings = dataset.info.details.get("preprocess")
    if not settings:
        raise TrainingError(f"The dataset '{dataset.name}' has no table settings. Prepare it again on the Data page "
                            "under “A table (predict a column)”.")
    try:
        config = TabularPreprocessConfig.from_dict(settings)
    except (TabularError, TypeError) as error:
        raise TrainingError(f"The table settings of '{dataset.name}' cannot be used ({error}). Prepare the dataset "
                            "again on the Data page.") from error
    if TASK_KEYS[config.task] != dataset.info.task:
        raise TrainingError(f"The dataset '{dataset.name}' is marked {dataset.info.task} but its settings say "
                            f"{config.task}. Prepare it again on the Data page.")
    return config


@dataclass
class PreparedTable:
    """The splits as the network sees them, plus the raw validation rows for the mistakes table."""

    preprocessor: TabularPreprocessor
    train_features: np.ndarray
    train_targets: np.ndarray
    validation_features: np.ndarray
    validation_targets: np.ndarray
    validation_rows: list[dict[str, Any]]


def usable_validation(validation: pd.DataFrame, preprocessor: TabularPreprocessor) -> pd.DataFrame:
    """Validation rows with a target the model can be checked on (a class it never saw cannot be predicted)."""
    rows = preprocessor.checkable_rows(validation)
    if rows.empty:
        raise TrainingError("No validation row is left to measure the model on (each needs a value the training "
                            "rows also have). Prepare the dataset again with a larger validation share.")
    return rows


def prepare_table(dataset: PreparedDataset) -> PreparedTable:
    config = preprocess_config(dataset)
    train, validation = dataset.frames()
    try:
        preprocessor = fit_preprocessor(train, config)
        train_features, train_targets = preprocessor.training_arrays(train)
        validation = usable_validation(validation, preprocessor)
        validation_features, validation_targets = preprocessor.training_arrays(validation)
    except TabularError as error:
        raise TrainingError(str(error)) from error
    shown = [c for c in validation.columns if c != config.target]
    rows = [{name: _plain(row[name]) for name in shown} for row in validation.to_dict("records")]
    return PreparedTable(preprocessor, train_features, train_targets, validation_features, validation_targets, rows)


def arrays_to_hf_dataset(features: np.ndarray, targets: np.ndarray) -> datasets.Dataset:
    """A `datasets.Dataset` of `features` (float32 lists) and `labels`, formatted as torch tensors for `Trainer`."""
    label_type = "int64" if np.issubdtype(targets.dtype, np.integer) else "float32"
    schema = datasets.Features({"features": datasets.List(datasets.Value("float32")),
                                "labels": datasets.Value(label_type)})
    dataset = datasets.Dataset.from_dict({"features": features.tolist(), "labels": targets.tolist()}, features=schema)
    return dataset.with_format("torch")


def _plain(value: Any) -> Any:
    """A cell as JSON can hold it: numpy numbers become Python ones, empty cells None."""
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value if isinstance(value, (str, int, bool)) else str(value)


# ---------------------------------------------------------------------------------------------------- plan


def build_plan(config: TrainConfig, dataset: PreparedDataset, run_dir: Path, device: DevicePlan) -> TrainingPlan:
    table = prepare_table(dataset)
    preprocessor = table.preprocessor
    try:
        model = build_tabular_model(preprocessor, config.model.hidden_sizes, config.model.dropout)
    except TabularError as error:
        raise TrainingError(str(error)) from error
    memory = EvaluationMemory()

    def finish(trainer: Trainer, run_dir: Path) -> dict[str, Any]:
        outputs, gold = final_predictions(trainer, memory)
        report = evaluation_report(preprocessor, outputs, gold, table.validation_rows)
        save_model(trainer, preprocessor, run_dir / MODEL_DIR)
        write_json_atomic(run_dir / EVAL_FILE, report)
        return report

    summary: dict[str, Any] = {"parameters": count_parameters(model), "inputs": len(preprocessor.feature_names),
                               "target": preprocessor.target.column}
    if preprocessor.target.task == "classification":
        summary["classes"] = preprocessor.class_names
    weights = (balanced_weights(table.train_targets, len(preprocessor.class_names))
               if config.class_weights and preprocessor.target.task == "classification" else None)
    return TrainingPlan(
        model=model,
        train_dataset=arrays_to_hf_dataset(table.train_features, table.train_targets),
        eval_dataset=arrays_to_hf_dataset(table.validation_features, table.validation_targets),
        metric=metric_function(preprocessor),
        summary=summary,
        finish=finish,
        class_weights=weights,
        memory=memory,
    )


def metric_function(preprocessor: TabularPreprocessor):
    """What every evaluation logs: accuracy and macro-F1, or MAE, RMSE and R² in the target's own units."""
    if preprocessor.target.task == "classification":
        return lambda logits, gold: accuracy_and_f1(gold, logits.argmax(-1))
    return lambda outputs, gold: regression_metrics(preprocessor.decode_amounts(gold),
                                                    preprocessor.decode_amounts(outputs.reshape(-1)))


def evaluation_report(preprocessor: TabularPreprocessor, outputs: np.ndarray, gold: np.ndarray,
                      rows: list[dict[str, Any]]) -> dict[str, Any]:
    """eval.json: the confusion matrix and the surest mistakes, or the regression report and its largest errors;
    each mistake comes with its row as uploaded."""
    if preprocessor.target.task == "classification":
        report = classification_evaluation(outputs, gold, preprocessor.class_names, rows)
        report["worst_mistakes"] = [{**{k: m[k] for k in VERDICT_KEYS}, **{k: v for k, v in m.items()
                                                                           if k not in VERDICT_KEYS}}
                                    for m in report["worst_mistakes"]]
        return report
    actual, predicted = preprocessor.decode_amounts(gold), preprocessor.decode_amounts(outputs.reshape(-1))
    report = regression_report(actual, predicted)
    report["largest_errors"] = largest_errors(actual, predicted, rows)
    report["validation_rows"] = int(len(gold))
    report["target"] = preprocessor.target.column
    return report


def save_model(trainer: Trainer, preprocessor: TabularPreprocessor, folder: Path) -> None:
    save_trained_model(trainer, folder)  # model.safetensors + config.json (sizes, class names)
    preprocessor.save(folder)  # tabular_preprocessor.json: fill values, scales, categories — plain JSON


def estimate_parameters(config: TrainConfig, dataset: PreparedDataset) -> int | None:
    """The network's size: the input width comes from fitting the preprocessing on the training rows."""
    preprocessor = fit_preprocessor(pd.read_parquet(dataset.train_path), preprocess_config(dataset))
    outputs = 1 if preprocessor.target.task == "regression" else len(preprocessor.class_names)
    widths = [len(preprocessor.feature_names), *config.model.hidden_sizes, outputs]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


# ---------------------------------------------------------------------------------------------------- predictor


class TabularPredictor:
    """A finished run's table model: a form's values or a whole table in, predictions a person can read out."""

    def __init__(self, model_dir: Path):
        self.preprocessor = TabularPreprocessor.load(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), use_safetensors=True, trust_remote_code=False).eval()

    @property
    def task(self) -> str:
        return self.preprocessor.target.task

    @property
    def target(self) -> str:
        return self.preprocessor.target.column

    @property
    def class_names(self) -> list[str]:
        return self.preprocessor.class_names

    @property
    def input_columns(self) -> list[dict[str, Any]]:
        """One entry per column the form asks for: its kind (number, choice or text), default and options."""
        return self.preprocessor.form_fields()

    def predict_one(self, values: dict[str, Any]) -> TabularPrediction:
        return predict_one(self.model, self.preprocessor, values)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return predict_frame(self.model, self.preprocessor, frame)

    def predict_table(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The uploaded table with the predictions appended, and a `problem` column saying what was odd in a row."""
        frame = frame.reset_index(drop=True)
        # A table that went through here before already has these columns: replace them rather than repeat them.
        previous = [c for c in frame.columns if (c in ("prediction", "problem") or str(c).startswith("probability "))
                    and c not in self.preprocessor.config.input_columns]
        frame = frame.drop(columns=previous)
        problems = row_problems(self.preprocessor, frame)
        result = pd.concat([frame, self.predict_frame(frame)], axis=1)
        result["problem"] = problems
        return result


def load_predictor(model_dir: Path) -> TabularPredictor:
    return TabularPredictor(model_dir)
