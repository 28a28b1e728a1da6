"""What the preprocessing of a table learned from its training rows, applied with numpy and saved as plain JSON.

What was learned (fill values, means, scales, categories) is kept as plain numbers, never pickled, so a saved model
can be used without trusting any pickled object. Regression targets are standardised for training (the net learns
numbers near zero) and turned back into real values for predictions.

The boundary: `TabularPreprocessor` is the fitted state with its transform, its JSON file and its explanations in
plain words. Learning it from rows is `core.tasks.tabular.fitting`'s job; the settings it follows are
`core.tasks.tabular.columns.TabularPreprocessConfig`, which the Data page needs before anything is fitted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.messages import agree, counted
from core.tasks.tabular.cells import TabularError, as_numbers, category_text, number_text
from core.tasks.tabular.columns import MISSING_CATEGORY, TabularPreprocessConfig, prepare_frame

PREPROCESSOR_FILE = "tabular_preprocessor.json"
FORMAT_NAME = "ai-playground-tabular-preprocessor"
FORMAT_VERSION = 1


@dataclass
class NumericColumn:
    column: str
    fill_value: float
    missing: int
    mean: float  # 0 and 1 when scaling is off, so the transform is the same formula
    scale: float
    minimum: float
    maximum: float
    whole: bool = False  # every value seen was a whole number (ages, counts): the form steps by 1


@dataclass
class CategoricalColumn:
    column: str
    fill_value: str
    missing: int
    categories: list[str]
    dropped: int  # how many rarer values became 'none of the columns'


@dataclass
class TargetInfo:
    column: str
    task: str
    classes: list[str] = field(default_factory=list)  # classification: class names, index = class id
    mean: float = 0.0  # regression: standardisation of the target
    std: float = 1.0
    dropped_rows: int = 0  # training rows without a target value


@dataclass
class TabularPreprocessor:
    """What the preprocessing learned from the training rows; saved as JSON and applied with numpy."""

    config: TabularPreprocessConfig
    numeric: list[NumericColumn]
    categorical: list[CategoricalColumn]
    target: TargetInfo
    excluded: dict[str, str]  # column → why it is not used
    rows: int
    sklearn_transformer: Any = field(default=None, repr=False, compare=False)  # only after fitting, never saved

    # ------------------------------------------------------------------ transform

    @property
    def feature_names(self) -> list[str]:
        names = [c.column for c in self.numeric]
        for column in self.categorical:
            names += [f"{column.column}={value}" for value in column.categories]
        return names

    @property
    def class_names(self) -> list[str]:
        return list(self.target.classes)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows, features) float32: the same numbers the fitted scikit-learn transformer gives."""
        prepared = prepare_frame(frame, self.config)
        blocks = []
        if self.numeric:
            values = prepared[[c.column for c in self.numeric]].to_numpy(dtype=np.float64)
            fill = np.array([c.fill_value for c in self.numeric])
            values = np.where(np.isnan(values), fill, values)
            mean = np.array([c.mean for c in self.numeric])
            scale = np.array([c.scale for c in self.numeric])
            blocks.append((values - mean) / scale)
        for column in self.categorical:
            cells = prepared[column.column].where(prepared[column.column].notna(), column.fill_value).astype(str)
            blocks.append((cells.to_numpy()[:, None] == np.array(column.categories, dtype=object)[None, :])
                          .astype(np.float64))
        return np.concatenate(blocks, axis=1).astype(np.float32) if blocks else np.zeros((len(frame), 0), np.float32)

    def encode_target(self, values: pd.Series) -> np.ndarray:
        """Class ids (int64) or standardised amounts (float32). Raises on a class the model never saw."""
        if self.target.task == "classification":
            index = {name: i for i, name in enumerate(self.target.classes)}
            texts = [category_text(v) for v in values]
            unknown = sorted({t for t in texts if t not in index}, key=str)
            if unknown:
                values = agree(len(unknown), "a value", "values")
                raise TabularError(f"'{self.target.column}' has {values} the model does not know: {unknown[:5]}. "
                                   "Remove those rows.")
            return np.array([index[t] for t in texts], dtype=np.int64)
        numbers = as_numbers(pd.Series(values)).to_numpy(dtype=np.float64)
        if np.isnan(numbers).any():
            raise TabularError(f"'{self.target.column}' must hold only numbers for regression.")
        return ((numbers - self.target.mean) / self.target.std).astype(np.float32)

    def decode_amounts(self, standardised: np.ndarray) -> np.ndarray:
        """Model outputs for regression, back in the target's own units."""
        return np.asarray(standardised, dtype=np.float64) * self.target.std + self.target.mean

    def checkable_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows with a target the model can be measured on: not empty and, for classes, one it was trained on."""
        rows = frame[frame[self.target.column].notna()]
        if self.target.task == "classification":
            known = set(self.target.classes)
            rows = rows[rows[self.target.column].map(lambda v: category_text(v) in known)]
        return rows

    def training_arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(features, targets) for rows that have a target value."""
        labelled = frame[frame[self.target.column].notna()]
        return self.transform(labelled), self.encode_target(labelled[self.target.column])

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": self.config.to_dict(),
                "numeric": [asdict(c) for c in self.numeric], "categorical": [asdict(c) for c in self.categorical],
                "target": asdict(self.target), "excluded": self.excluded, "rows": self.rows}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TabularPreprocessor:
        if values.get("format") != FORMAT_NAME or values.get("version", 0) > FORMAT_VERSION:
            raise TabularError("This file is not a preprocessing file saved by this version of AI Playground. "
                               "Train the model again.")
        try:
            return cls(config=TabularPreprocessConfig.from_dict(values["config"]),
                       numeric=[NumericColumn(**c) for c in values["numeric"]],
                       categorical=[CategoricalColumn(**c) for c in values["categorical"]],
                       target=TargetInfo(**values["target"]), excluded=dict(values["excluded"]),
                       rows=int(values["rows"]))
        except (KeyError, TypeError, ValueError) as error:
            raise TabularError(f"The preprocessing file is damaged ({error}). Train the model again.") from error

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> TabularPreprocessor:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise TabularError(f"The preprocessing file is not valid JSON ({error}). Train the model again.") from error
        if not isinstance(values, dict):
            raise TabularError("The preprocessing file is damaged. Train the model again.")
        return cls.from_dict(values)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / PREPROCESSOR_FILE
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> TabularPreprocessor:
        path = Path(folder) / PREPROCESSOR_FILE
        if not path.is_file():
            raise TabularError(f"{path} is missing; this model was not trained on a table, or its folder is "
                               "incomplete.")
        return cls.from_json(path.read_text(encoding="utf-8"))

    # ------------------------------------------------------------------ explanations

    def summary_table(self) -> list[dict[str, str]]:
        """One row per column of the original table: column, how it is used, what was done to it."""
        rows = [{"column": self.target.column, "used as": "target", "what was done": _target_sentence(self.target)}]
        for column in self.numeric:
            rows.append({"column": column.column, "used as": "number",
                         "what was done": _numeric_sentence(column, self.config)})
        for column in self.categorical:
            source = self.config.title_from if column.column == self.config.title_column else column.column
            rows.append({"column": source, "used as": "category",
                         "what was done": _categorical_sentence(column, self.config, source != column.column)})
        for name, reason in self.excluded.items():
            rows.append({"column": name, "used as": "left out", "what was done": f"Left out ({reason})."})
        return rows

    def summary(self) -> list[str]:
        """The same as plain sentences: 'Age: 177 missing values filled with the median 28.0, then scaled.'"""
        return [f"{row['column']}: {row['what was done']}" for row in self.summary_table()]

    def form_fields(self) -> list[dict[str, Any]]:
        """What a prediction form asks for: a number box (with the range seen) or a choice of the known values."""
        items: list[dict[str, Any]] = []
        for column in self.numeric:
            items.append({"column": column.column, "kind": "number", "default": column.fill_value,
                          "min": column.minimum, "max": column.maximum, "whole": column.whole})
        for column in self.categorical:
            if column.column == self.config.title_column:
                items.append({"column": self.config.title_from, "kind": "text", "default": "", "options": []})
            else:
                items.append({"column": column.column, "kind": "choice", "default": column.fill_value,
                              "options": [c for c in column.categories if c != MISSING_CATEGORY]})
        return items


def _target_sentence(target: TargetInfo) -> str:
    left_out = target.dropped_rows
    dropped = (f" {counted(left_out, 'row')} without a value {agree(left_out, 'was', 'were')} left out."
               if left_out else "")
    if target.task == "classification":
        shown = ", ".join(target.classes[:8]) + ("…" if len(target.classes) > 8 else "")
        return f"The thing to predict: one of {len(target.classes)} classes ({shown}).{dropped}"
    return (f"The amount to predict. Standardised for training (average {number_text(target.mean)}, spread "
            f"{number_text(target.std)}); predictions are turned back into real values.{dropped}")


def _numeric_sentence(column: NumericColumn, config: TabularPreprocessConfig) -> str:
    fill = {"median": "the median", "mean": "the mean", "zero": "zero"}[config.numeric_missing]
    steps = []
    if column.missing:
        steps.append(f"{column.missing:,} missing values filled with {fill} {number_text(column.fill_value)}")
    if config.scale_numeric:
        steps.append(f"scaled (average {number_text(column.mean)}, spread {number_text(column.scale)} → 0 and 1)")
    return (", then ".join(steps) or "used as it is") + "."


def _categorical_sentence(column: CategoricalColumn, config: TabularPreprocessConfig, is_title: bool) -> str:
    shown = ", ".join(column.categories[:8]) + ("…" if len(column.categories) > 8 else "")
    steps = []
    if is_title:
        steps.append(f"its title ({shown}) was taken out as a new category column '{column.column}'")
    if column.missing:
        how = ("the most common value" if config.categorical_missing == "most_frequent" else "their own value")
        steps.append(f"{column.missing:,} missing values filled with {how} '{column.fill_value}'")
    steps.append(f"turned into {len(column.categories)} yes/no columns ({shown})")
    sentence = ", then ".join(steps)
    if column.dropped:
        sentence += (f"; {counted(column.dropped, 'rarer value')} {agree(column.dropped, 'counts', 'count')} as none "
                     "of them")
    return sentence[0].upper() + sentence[1:] + "."
