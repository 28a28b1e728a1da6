"""The small table network (a Hugging Face `PreTrainedModel`, saved as safetensors) and its predictions.

Separate from the preprocessing because it needs torch and transformers, which the Data page does not: it builds
on a fitted `core.tasks.tabular.preprocessor.TabularPreprocessor` and turns the model's numbers back into predictions a
person can read (a class with its probabilities, or an amount in the target's units), with a note for every odd row.
Importing it registers the network with transformers' Auto classes, so a saved model loads like any other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from core.engine.metrics import ranked_answers
from core.tasks.tabular.cells import TabularError, as_numbers, category_text, is_blank, number_text, require_columns
from core.tasks.tabular.columns import TABLE_TASKS
from core.tasks.tabular.preprocessor import TabularPreprocessor

# ---------------------------------------------------------------------------------------------------- the model


class TabularModelConfig(PretrainedConfig):
    """Settings of the small table network; stored as `config.json` beside the weights."""

    model_type = "aipg_tabular_mlp"

    def __init__(self, input_size: int = 1, hidden_sizes: list[int] | tuple[int, ...] = (64,), dropout: float = 0.1,
                 task: str = "classification", **kwargs):
        self.input_size = input_size
        self.hidden_sizes = list(hidden_sizes)
        self.dropout = dropout
        self.task = task
        if task == "regression":
            kwargs.setdefault("num_labels", 1)
            kwargs.setdefault("problem_type", "regression")
        super().__init__(**kwargs)


class TabularMLP(PreTrainedModel):
    """The classic SimpleNN: input → hidden (ReLU, dropout) → output, one hidden layer per entry of hidden_sizes."""

    config_class = TabularModelConfig
    base_model_prefix = "tabular"
    main_input_name = "features"

    def __init__(self, config: TabularModelConfig):
        if config.task not in TABLE_TASKS:
            raise TabularError(f"The task must be classification or regression, not '{config.task}'.")
        if any(int(h) < 1 for h in config.hidden_sizes) or not 0.0 <= config.dropout < 1.0:
            raise TabularError("Hidden sizes must be at least 1 and dropout at least 0 and below 1.")
        super().__init__(config)
        layers: list[nn.Module] = []
        width = config.input_size
        for hidden in config.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width, 1 if config.task == "regression" else config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's own default, which the classic recipes were tuned with (the library's std-0.02 normal is slower).
        if isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            bound = 1 / math.sqrt(module.in_features)
            init.uniform_(module.bias, -bound, bound)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None,
                **_: object) -> SequenceClassifierOutput:
        if features.dim() != 2 or features.shape[1] != self.config.input_size:
            raise TabularError(f"The model expects {self.config.input_size} numbers per row but got "
                               f"{tuple(features.shape[1:])}. Use the preprocessing saved with this model.")
        logits = self.output(self.hidden(features.to(self.output.weight.dtype)))
        loss = None
        if labels is not None:
            if self.config.task == "regression":
                loss = nn.functional.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
            else:
                loss = nn.functional.cross_entropy(logits, labels.long())
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(TabularModelConfig.model_type, TabularModelConfig, exist_ok=True)
AutoModelForSequenceClassification.register(TabularModelConfig, TabularMLP, exist_ok=True)


def build_tabular_model(preprocessor: TabularPreprocessor, hidden_sizes: tuple[int, ...] = (64,),
                        dropout: float = 0.1) -> TabularMLP:
    """A fresh network whose input width and outputs match the fitted preprocessing."""
    task = preprocessor.target.task
    kwargs: dict[str, Any] = {}
    if task == "classification":
        id2label = dict(enumerate(preprocessor.class_names))
        kwargs = {"num_labels": len(id2label), "id2label": id2label,
                  "label2id": {name: i for i, name in id2label.items()}}
    config = TabularModelConfig(input_size=len(preprocessor.feature_names), hidden_sizes=hidden_sizes,
                                dropout=dropout, task=task, **kwargs)
    return TabularMLP(config)


# ---------------------------------------------------------------------------------------------------- predictions


@dataclass
class TabularPrediction:
    prediction: str | float  # the class name, or the amount in the target's units
    probabilities: dict[str, float] | None = None  # classification: class → probability, most likely first


@torch.no_grad()
def _model_outputs(model: TabularMLP, preprocessor: TabularPreprocessor, frame: pd.DataFrame) -> np.ndarray:
    model.eval()
    features = torch.from_numpy(preprocessor.transform(frame)).to(model.device)
    logits = model(features).logits.float().cpu()
    if preprocessor.target.task == "regression":
        return preprocessor.decode_amounts(logits.squeeze(-1).numpy())
    return logits.softmax(-1).numpy()


def predict_frame(model: TabularMLP, preprocessor: TabularPreprocessor, frame: pd.DataFrame) -> pd.DataFrame:
    """Predictions for every row of an uploaded table: a `prediction` column, plus `probability <class>` columns
    for classification. Empty cells are filled the way training filled them."""
    outputs = _model_outputs(model, preprocessor, frame)
    if preprocessor.target.task == "regression":
        return pd.DataFrame({"prediction": outputs}, index=frame.index)
    classes = preprocessor.class_names
    result = pd.DataFrame({"prediction": [classes[i] for i in outputs.argmax(1)]}, index=frame.index)
    for i, name in enumerate(classes):
        result[f"probability {name}"] = outputs[:, i]
    return result


def predict_one(model: TabularMLP, preprocessor: TabularPreprocessor, values: dict[str, Any]) -> TabularPrediction:
    """A prediction from a form: column → value. Left-out or empty fields count as missing and are filled."""
    row: dict[str, Any] = {}
    for name in preprocessor.config.input_columns:
        value = values.get(name)
        if is_blank(value):
            row[name] = np.nan
        elif name in preprocessor.config.numeric_columns:
            number = as_numbers(pd.Series([value], dtype=object)).iloc[0]
            if pd.isna(number):
                raise TabularError(f"'{name}' must be a number, not '{value}'.")
            row[name] = float(number)
        else:
            row[name] = value
    outputs = _model_outputs(model, preprocessor, pd.DataFrame([row]))
    if preprocessor.target.task == "regression":
        return TabularPrediction(prediction=float(outputs[0]))
    ranked = ranked_answers(preprocessor.class_names, outputs[0])
    return TabularPrediction(prediction=next(iter(ranked)), probabilities=ranked)


def row_problems(preprocessor: TabularPreprocessor, frame: pd.DataFrame) -> list[str]:
    """What is odd about each row of an uploaded table, in plain words (one note per row, '' when fine).

    Predictions are still made for these rows: a number that is not a number and an empty cell are filled the way
    training filled gaps, and an unknown category counts as none of the known ones. The notes say so.
    """
    config = preprocessor.config
    require_columns(frame, config.input_columns)
    notes: list[list[str]] = [[] for _ in range(len(frame))]
    for column in preprocessor.numeric:
        cells = frame[column.column]
        numbers = as_numbers(cells)
        for i in np.flatnonzero(numbers.isna().to_numpy() & ~cells.map(is_blank).to_numpy()):
            notes[i].append(f"'{column.column}' is '{cells.iloc[i]}', not a number, so it was treated as empty "
                            f"and filled with {number_text(column.fill_value)}")
    for column in preprocessor.categorical:
        if column.column == config.title_column:
            continue
        known = set(column.categories) | {column.fill_value}
        for i, value in enumerate(frame[column.column]):
            text = category_text(value)
            if isinstance(text, str) and text not in known:
                notes[i].append(f"'{column.column}' is '{text}', a value the model never saw, so it counts as none "
                                "of the known values")
    empty = frame[config.input_columns].map(is_blank).all(axis=1).to_numpy()
    for i in np.flatnonzero(empty):
        notes[i].append("every input is empty, so this is the model's guess for a typical row")
    return ["; ".join(row) for row in notes]
