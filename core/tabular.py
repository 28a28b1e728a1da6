"""Tables (CSV rows and columns): column roles, a preprocessor saved as JSON, a small neural net, predictions.

The boundary: this module turns a pandas DataFrame into numbers a model can learn from, and a model's numbers
back into predictions a person can read. Scikit-learn fits the preprocessing (imputers, scaler, one-hot
encoder); what it learned (fill values, means, scales, categories) is then kept as plain JSON, never pickled, and
applied with numpy, so a saved model can be used without trusting any pickled object.

Regression targets are standardised for training (the net learns numbers near zero) and turned back into real
values for predictions.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import torch
from pandas.api import types as pdtypes
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

ROLE_NUMERIC = "numeric"
ROLE_CATEGORICAL = "categorical"
ROLE_ID = "id"
ROLE_TEXT = "free-text"
ROLE_CONSTANT = "constant"
FEATURE_ROLES = (ROLE_NUMERIC, ROLE_CATEGORICAL)
ROLE_NOUNS = {ROLE_ID: "an ID", ROLE_TEXT: "free text", ROLE_CONSTANT: "nothing to learn from"}

TASKS = ("classification", "regression")
NUMERIC_MISSING = ("median", "mean", "zero")
CATEGORICAL_MISSING = ("most_frequent", "own_category")
MISSING_CATEGORY = "(missing)"

# Whole-number columns with at most this many values read as categories (Pclass 1/2/3); more (SibSp 0–8) are
# counts, kept as numbers so an unseen count still means something.
FEW_WHOLE_NUMBERS = 5
# Text columns with at most this many values are categories even when most values are unique (tiny tables).
FEW_TEXT_VALUES = 10
# A whole-number target with at most this many values is a class label (0/1, 1–5 stars), not an amount.
MAX_CLASS_LIKE_INTEGERS = 20
MAX_CLASSES = 100
ID_NAME_TOKENS = {"id", "ids", "uuid", "guid"}
# "Braund, Mr. Owen Harris" → "Mr": the Kaggle/CSV habit of "Surname, Title. Given names".
TITLE_PATTERN = re.compile(r",\s*([A-Za-z][A-Za-z ]{0,20}?)\.")
TITLE_MIN_SHARE = 0.8
PREPROCESSOR_FILE = "tabular_preprocessor.json"
FORMAT_NAME = "ai-playground-tabular-preprocessor"
FORMAT_VERSION = 1


class TabularError(Exception):
    """The table or the settings cannot be used as they are; the message says what to change."""


# ---------------------------------------------------------------------------------------------------- roles


@dataclass(frozen=True)
class ColumnRole:
    column: str
    role: str  # one of ROLE_*
    reason: str  # a plain sentence the preview shows
    missing: int
    distinct: int


def _name_tokens(name: str) -> set[str]:
    """'PassengerId' → {'passenger', 'id'}; 'user_id' → {'user', 'id'}; 'Paid' stays {'paid'}."""
    return {t.lower() for t in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name))}


def _is_whole(values: pd.Series) -> bool:
    numbers = values.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))


def _examples(values: pd.Series, limit: int = 4) -> str:
    shown = [_category_text(v) for v in sorted(values.unique(), key=_sort_key)[:limit]]
    return ", ".join(shown) + ("…" if values.nunique() > limit else "")


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers before text, each in their natural order, so mixed columns still sort.
    return (0, float(value)) if isinstance(value, (int, float, np.number)) else (1, str(value))


def _id_reason(name: str, values: pd.Series) -> str | None:
    """Why a whole-number column is an ID (a row number or a key), or None when it is not one."""
    if values.nunique() != len(values):
        return None
    numbers = np.sort(values.to_numpy(dtype=float))
    if len(numbers) >= 10 and numbers[-1] - numbers[0] == len(numbers) - 1:
        return f"counts rows ({numbers[0]:,.0f} to {numbers[-1]:,.0f}), so it says nothing about the outcome"
    if _name_tokens(name) & ID_NAME_TOKENS:
        return "a different number on every row, which says nothing about the outcome"
    return None


def _numeric_role(name: str, values: pd.Series) -> tuple[str, str]:
    whole = _is_whole(values)
    if whole and (reason := _id_reason(name, values)):
        return ROLE_ID, reason
    distinct = values.nunique()
    if whole and distinct <= FEW_WHOLE_NUMBERS:
        return ROLE_CATEGORICAL, f"only {distinct} different whole numbers ({_examples(values)}), used as categories"
    return ROLE_NUMERIC, f"numbers from {_number_text(values.min())} to {_number_text(values.max())}"


def _text_role(name: str, values: pd.Series) -> tuple[str, str]:
    distinct, count = values.nunique(), len(values)
    if distinct <= FEW_TEXT_VALUES or distinct <= count / 2:
        return ROLE_CATEGORICAL, f"{distinct} different values ({_examples(values)})"
    text = values.astype(str)
    short_codes = text.str.len().median() <= 12 and text.str.contains(" ").mean() < 0.1
    if distinct == count and (short_codes or _name_tokens(name) & ID_NAME_TOKENS):
        return ROLE_ID, "a different code on every row, like a key, which says nothing about the outcome"
    return ROLE_TEXT, (f"{distinct:,} different values in {count:,} rows (names, codes or sentences): too many "
                       "to use as categories")


def column_role(name: str, series: pd.Series) -> ColumnRole:
    """The role of one column, with the reason in plain words."""
    values = series.dropna()
    missing, distinct = len(series) - len(values), int(values.nunique())
    if distinct == 0:
        role, reason = ROLE_CONSTANT, "is empty in every row"
    elif distinct == 1:
        role, reason = ROLE_CONSTANT, f"has the same value ({_category_text(values.iloc[0])}) in every row"
    elif pdtypes.is_bool_dtype(series):
        role, reason = ROLE_CATEGORICAL, "yes/no values"
    elif pdtypes.is_numeric_dtype(series):
        role, reason = _numeric_role(name, values)
    else:
        role, reason = _text_role(name, values)
    if missing and len(series) and missing / len(series) > 0.5:
        reason += f"; {missing / len(series):.0%} of it is empty"
    return ColumnRole(str(name), role, reason, missing, distinct)


def detect_column_roles(frame: pd.DataFrame) -> dict[str, ColumnRole]:
    """Every column's suggested role, in the table's order. The person can change any of them."""
    if frame.columns.duplicated().any():
        duplicated = frame.columns[frame.columns.duplicated()].tolist()
        raise TabularError(f"The column name(s) {duplicated} appear more than once. Rename them so each is unique.")
    return {str(name): column_role(str(name), frame[name]) for name in frame.columns}


@dataclass(frozen=True)
class TaskGuess:
    task: str
    reason: str


def infer_task(target: pd.Series) -> TaskGuess:
    """Classification when the target holds words or a few whole numbers; regression for amounts."""
    values = target.dropna()
    if values.empty:
        raise TabularError(f"The column '{target.name}' is empty, so it cannot be the thing to predict.")
    if pdtypes.is_bool_dtype(values) or not pdtypes.is_numeric_dtype(values):
        return TaskGuess("classification", f"'{target.name}' holds words or labels ({_examples(values)}).")
    distinct = values.nunique()
    if _is_whole(values) and distinct <= MAX_CLASS_LIKE_INTEGERS:
        return TaskGuess("classification",
                         f"'{target.name}' has only {distinct} different whole numbers ({_examples(values)}).")
    return TaskGuess("regression", f"'{target.name}' holds amounts ({distinct:,} different numbers).")


def title_share(series: pd.Series) -> float:
    """How many non-empty values look like 'Surname, Title. Given names'."""
    text = series.dropna().astype(str)
    return float(text.map(lambda t: TITLE_PATTERN.search(t) is not None).mean()) if len(text) else 0.0


# ---------------------------------------------------------------------------------------------------- config


def _knob(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field carrying its UI help text and, for numbers, the range the UI offers."""
    return field(default=default, metadata={"help": help, **limits})


@dataclass(frozen=True)
class TabularPreprocessConfig:
    target: str = _knob("", "The column the model learns to predict.")
    task: str = _knob("classification", "classification picks one of a few answers (survived or not); regression "
                                        "predicts an amount (a price, a score).")
    numeric_columns: tuple[str, ...] = _knob((), "Columns used as numbers: bigger and smaller mean something.")
    categorical_columns: tuple[str, ...] = _knob(
        (), "Columns used as categories: each value gets its own yes/no column (one-hot).")
    scale_numeric: bool = _knob(True, "Shift and stretch every number column to average 0 and spread 1, so large "
                                      "numbers (fares) do not drown out small ones (ages).")
    numeric_missing: str = _knob("median", "How empty number cells are filled: median (the middle value, robust to "
                                           "outliers), mean (the average) or zero.")
    categorical_missing: str = _knob(
        "most_frequent", "How empty category cells are filled: most_frequent (the commonest value) or own_category "
                         "(an extra '(missing)' value, for when being empty itself means something).")
    one_hot_max_categories: int = _knob(
        20, "At most this many values per category column get their own column; rarer ones count as none of them.",
        min=2, max=200)
    title_from: str = _knob("", "Optional: a names column written 'Surname, Title. Given' (like Titanic's Name). Its "
                                "title (Mr, Mrs, Miss…) becomes an extra category column.")

    def __post_init__(self) -> None:
        if not self.target:
            raise TabularError("Choose the column to predict (the target).")
        if self.task not in TASKS:
            raise TabularError(f"The task must be classification or regression, not '{self.task}'.")
        if self.numeric_missing not in NUMERIC_MISSING or self.categorical_missing not in CATEGORICAL_MISSING:
            raise TabularError(f"Missing values can be filled with {', '.join(NUMERIC_MISSING)} (numbers) or "
                               f"{', '.join(CATEGORICAL_MISSING)} (categories).")
        if self.one_hot_max_categories < 1:
            raise TabularError("Keep at least one value per category column.")
        features = list(self.numeric_columns) + list(self.categorical_columns)
        if self.target in features or self.target == self.title_from:
            raise TabularError(f"'{self.target}' is the target, so it cannot also be an input column. Untick it.")
        if len(set(features)) != len(features):
            raise TabularError("A column is marked both as numbers and as categories; choose one.")
        if not features and not self.title_from:
            raise TabularError("Choose at least one input column.")

    @property
    def title_column(self) -> str:
        return f"{self.title_from} title" if self.title_from else ""

    @property
    def input_columns(self) -> list[str]:
        """The raw columns a table must have for this preprocessing."""
        return list(self.numeric_columns) + list(self.categorical_columns) + ([self.title_from] if self.title_from
                                                                              else [])

    @property
    def encoded_categorical_columns(self) -> list[str]:
        return list(self.categorical_columns) + ([self.title_column] if self.title_from else [])

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TabularPreprocessConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})


def suggest_preprocess_config(frame: pd.DataFrame, target: str, task: str | None = None) -> TabularPreprocessConfig:
    """Numbers and categories as detected, IDs/free text/constant columns left out, the task inferred."""
    if target not in frame.columns:
        raise TabularError(f"There is no column called '{target}'. Pick one of: {', '.join(map(str, frame.columns))}.")
    roles = detect_column_roles(frame)
    inputs = {name: role for name, role in roles.items() if name != target}
    title_from = next((name for name, role in inputs.items()
                       if role.role == ROLE_TEXT and title_share(frame[name]) >= TITLE_MIN_SHARE), "")
    return TabularPreprocessConfig(
        target=target, task=task or infer_task(frame[target]).task,
        numeric_columns=tuple(n for n, r in inputs.items() if r.role == ROLE_NUMERIC),
        categorical_columns=tuple(n for n, r in inputs.items() if r.role == ROLE_CATEGORICAL),
        title_from=title_from)


# ---------------------------------------------------------------------------------------------------- preparing


def _category_text(value: Any) -> Any:
    """One spelling per category, so 3, 3.0 and '3' (CSV, form, JSON) are the same value; missing → NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return np.nan
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    return text if text else np.nan


def extract_title(value: Any) -> Any:
    match = TITLE_PATTERN.search(str(value)) if isinstance(value, str) else None
    return match.group(1).strip() if match else np.nan


def _require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TabularError(f"The table has no column {', '.join(repr(c) for c in missing)}. Add it with the same "
                           "name as in the training data (empty cells are fine).")


def prepare_frame(frame: pd.DataFrame, config: TabularPreprocessConfig) -> pd.DataFrame:
    """Only the input columns, numbers as floats (text that is no number → missing), categories as text.

    Both the scikit-learn fit and the JSON transform start from this, so they see exactly the same values.
    """
    _require_columns(frame, config.input_columns)
    # Infinities would pass the imputer and poison every prediction, so they count as missing too.
    prepared = {name: pd.to_numeric(frame[name], errors="coerce").astype("float64").replace([np.inf, -np.inf], np.nan)
                for name in config.numeric_columns}
    for name in config.categorical_columns:
        prepared[name] = pd.Series([_category_text(v) for v in frame[name]], index=frame.index, dtype=object)
    if config.title_from:
        prepared[config.title_column] = pd.Series([extract_title(v) for v in frame[config.title_from]],
                                                  index=frame.index, dtype=object)
    return pd.DataFrame(prepared, index=frame.index)


def build_sklearn_transformer(config: TabularPreprocessConfig, categories: dict[str, list[str]]):
    """The ColumnTransformer that learns fill values and scales; categories are chosen beforehand (most common)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_imputer = (SimpleImputer(strategy="constant", fill_value=0.0) if config.numeric_missing == "zero"
                       else SimpleImputer(strategy=config.numeric_missing))
    numeric_steps = [("impute", numeric_imputer)] + ([("scale", StandardScaler())] if config.scale_numeric else [])
    categorical_imputer = (SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)
                           if config.categorical_missing == "own_category"
                           else SimpleImputer(strategy="most_frequent"))
    parts = []
    if config.numeric_columns:
        parts.append(("numeric", Pipeline(numeric_steps), list(config.numeric_columns)))
    for name in config.encoded_categorical_columns:
        encoder = OneHotEncoder(categories=[categories[name]], handle_unknown="ignore", sparse_output=False)
        parts.append((f"category:{name}", Pipeline([("impute", categorical_imputer), ("one_hot", encoder)]), [name]))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def _kept_categories(column: pd.Series, config: TabularPreprocessConfig) -> list[str]:
    """The most common values (ties alphabetical), then sorted, so the one-hot columns read in a stable order."""
    counts = column.value_counts(dropna=True)
    missing = int(column.isna().sum())
    if missing and config.categorical_missing == "own_category":
        counts[MISSING_CATEGORY] = counts.get(MISSING_CATEGORY, 0) + missing
    if missing and config.categorical_missing == "most_frequent" and counts.empty:
        raise TabularError(f"The column '{column.name}' is empty; untick it.")
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], str(pair[0])))
    return sorted(str(value) for value, _ in ranked[: config.one_hot_max_categories])


# ---------------------------------------------------------------------------------------------------- the fit


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
            texts = [_category_text(v) for v in values]
            unknown = sorted({t for t in texts if t not in index}, key=str)
            if unknown:
                raise TabularError(f"'{self.target.column}' has value(s) the model does not know: {unknown[:5]}. "
                                   "Remove those rows.")
            return np.array([index[t] for t in texts], dtype=np.int64)
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
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
            rows = rows[rows[self.target.column].map(lambda v: _category_text(v) in known)]
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


def _number_text(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.4g}"


def _target_sentence(target: TargetInfo) -> str:
    dropped = f" {target.dropped_rows} row(s) without a value were left out." if target.dropped_rows else ""
    if target.task == "classification":
        shown = ", ".join(target.classes[:8]) + ("…" if len(target.classes) > 8 else "")
        return f"The thing to predict: one of {len(target.classes)} classes ({shown}).{dropped}"
    return (f"The amount to predict. Standardised for training (average {_number_text(target.mean)}, spread "
            f"{_number_text(target.std)}); predictions are turned back into real values.{dropped}")


def _numeric_sentence(column: NumericColumn, config: TabularPreprocessConfig) -> str:
    fill = {"median": "the median", "mean": "the mean", "zero": "zero"}[config.numeric_missing]
    steps = []
    if column.missing:
        steps.append(f"{column.missing:,} missing values filled with {fill} {_number_text(column.fill_value)}")
    if config.scale_numeric:
        steps.append(f"scaled (average {_number_text(column.mean)}, spread {_number_text(column.scale)} → 0 and 1)")
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
        sentence += f"; {column.dropped} rarer value(s) count as none of them"
    return sentence[0].upper() + sentence[1:] + "."


def _target_info(frame: pd.DataFrame, config: TabularPreprocessConfig) -> TargetInfo:
    values = frame[config.target]
    present = values.dropna()
    dropped = len(values) - len(present)
    if config.task == "classification":
        classes = sorted({_category_text(v) for v in present}, key=_sort_key_text)
        if len(classes) < 2:
            raise TabularError(f"'{config.target}' has only one value, so there is nothing to choose between. "
                               "Pick another target.")
        if len(classes) > MAX_CLASSES:
            raise TabularError(f"'{config.target}' has {len(classes):,} different values: too many classes. If it "
                               "is an amount, choose regression instead.")
        return TargetInfo(config.target, config.task, classes=classes, dropped_rows=dropped)
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        raise TabularError(f"'{config.target}' holds text such as '{present[numbers.isna()].iloc[0]}', so it cannot "
                           "be predicted as an amount. Choose classification instead.")
    std = float(numbers.std(ddof=0))
    if not std > 0:
        raise TabularError(f"'{config.target}' has the same value in every row; pick another target.")
    return TargetInfo(config.target, config.task, mean=float(numbers.mean()), std=std, dropped_rows=dropped)


def _sort_key_text(text: str) -> tuple[int, Any]:
    """'2' before '10' when every class is a number; alphabetical otherwise."""
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def fit_preprocessor(frame: pd.DataFrame, config: TabularPreprocessConfig) -> TabularPreprocessor:
    """Learn fill values, scales and categories from the training rows (scikit-learn), kept as plain numbers."""
    _require_columns(frame, [config.target])
    target = _target_info(frame, config)
    training = frame[frame[config.target].notna()]
    if training.empty:
        raise TabularError("No rows are left to learn from.")
    prepared = prepare_frame(training, config)
    for name in config.numeric_columns:
        if prepared[name].isna().all():
            raise TabularError(f"The column '{name}' has no numbers in it. Mark it as a category or untick it.")
    categories = {name: _kept_categories(prepared[name], config) for name in config.encoded_categorical_columns}
    transformer = build_sklearn_transformer(config, categories)
    transformer.fit(prepared)
    numeric = _fitted_numeric(transformer, prepared, config)
    categorical = _fitted_categorical(transformer, prepared, config, categories)
    roles = detect_column_roles(frame)
    used = set(config.input_columns) - ({config.title_from} if config.title_from else set())
    excluded = {name: f"{ROLE_NOUNS.get(role.role, 'not ticked')}: {role.reason}"
                for name, role in roles.items() if name not in used and name != config.target
                and name != config.title_from}
    return TabularPreprocessor(config, numeric, categorical, target, excluded, len(training), transformer)


def _fitted_numeric(transformer, prepared: pd.DataFrame, config: TabularPreprocessConfig) -> list[NumericColumn]:
    if not config.numeric_columns:
        return []
    pipeline = transformer.named_transformers_["numeric"]
    fills = pipeline.named_steps["impute"].statistics_
    scaler = pipeline.named_steps.get("scale")
    columns = []
    for i, name in enumerate(config.numeric_columns):
        values = prepared[name]
        columns.append(NumericColumn(
            column=name, fill_value=float(fills[i]), missing=int(values.isna().sum()),
            mean=float(scaler.mean_[i]) if scaler else 0.0, scale=float(scaler.scale_[i]) if scaler else 1.0,
            minimum=float(values.min()), maximum=float(values.max()), whole=_is_whole(values.dropna())))
    return columns


def _fitted_categorical(transformer, prepared: pd.DataFrame, config: TabularPreprocessConfig,
                        categories: dict[str, list[str]]) -> list[CategoricalColumn]:
    columns = []
    for name in config.encoded_categorical_columns:
        pipeline = transformer.named_transformers_[f"category:{name}"]
        fill = str(pipeline.named_steps["impute"].statistics_[0])
        distinct = set(prepared[name].dropna()) | ({fill} if prepared[name].isna().any() else set())
        columns.append(CategoricalColumn(column=name, fill_value=fill, missing=int(prepared[name].isna().sum()),
                                         categories=categories[name],
                                         dropped=len(distinct - set(categories[name]))))
    return columns


def arrays_to_hf_dataset(features: np.ndarray, targets: np.ndarray) -> datasets.Dataset:
    """A `datasets.Dataset` of `features` (float32 lists) and `labels`, formatted as torch tensors for `Trainer`."""
    label_type = "int64" if np.issubdtype(targets.dtype, np.integer) else "float32"
    schema = datasets.Features({"features": datasets.List(datasets.Value("float32")),
                                "labels": datasets.Value(label_type)})
    dataset = datasets.Dataset.from_dict({"features": features.tolist(), "labels": targets.tolist()}, features=schema)
    return dataset.with_format("torch")


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
        if config.task not in TASKS:
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


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------------- predictions


@dataclass
class TabularPrediction:
    prediction: str | float  # the class name, or the amount in the target's units
    probabilities: dict[str, float] | None = None  # classification: class → probability, most likely first


def _is_blank(value: Any) -> bool:
    """None, NaN, pd.NA or an empty text box all mean 'not given'."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


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
        if _is_blank(value):
            row[name] = np.nan
        elif name in preprocessor.config.numeric_columns:
            number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
            if pd.isna(number):
                raise TabularError(f"'{name}' must be a number, not '{value}'.")
            row[name] = float(number)
        else:
            row[name] = value
    outputs = _model_outputs(model, preprocessor, pd.DataFrame([row]))
    if preprocessor.target.task == "regression":
        return TabularPrediction(prediction=float(outputs[0]))
    ranked = sorted(zip(preprocessor.class_names, outputs[0].tolist()), key=lambda pair: -pair[1])
    return TabularPrediction(prediction=ranked[0][0], probabilities=dict(ranked))


def row_problems(preprocessor: TabularPreprocessor, frame: pd.DataFrame) -> list[str]:
    """What is odd about each row of an uploaded table, in plain words (one note per row, '' when fine).

    Predictions are still made for these rows: a number that is not a number and an empty cell are filled the way
    training filled gaps, and an unknown category counts as none of the known ones. The notes say so.
    """
    config = preprocessor.config
    _require_columns(frame, config.input_columns)
    notes: list[list[str]] = [[] for _ in range(len(frame))]
    for column in preprocessor.numeric:
        cells = frame[column.column]
        numbers = pd.to_numeric(cells, errors="coerce").replace([np.inf, -np.inf], np.nan)
        for i in np.flatnonzero(numbers.isna().to_numpy() & ~cells.map(_is_blank).to_numpy()):
            notes[i].append(f"'{column.column}' is '{cells.iloc[i]}', not a number, so it was treated as empty "
                            f"and filled with {_number_text(column.fill_value)}")
    for column in preprocessor.categorical:
        if column.column == config.title_column:
            continue
        known = set(column.categories) | {column.fill_value}
        for i, value in enumerate(frame[column.column]):
            text = _category_text(value)
            if isinstance(text, str) and text not in known:
                notes[i].append(f"'{column.column}' is '{text}', a value the model never saw, so it counts as none "
                                "of the known values")
    empty = frame[config.input_columns].map(_is_blank).all(axis=1).to_numpy()
    for i in np.flatnonzero(empty):
        notes[i].append("every input is empty, so this is the model's guess for a typical row")
    return ["; ".join(row) for row in notes]


# ---------------------------------------------------------------------------------------------------- samples

TASK_KEYS = {"classification": "tabular-classification", "regression": "tabular-regression"}


@dataclass(frozen=True)
class SampleTable:
    key: str
    title: str
    target: str
    description: str


SAMPLE_TABLES = {sample.key: sample for sample in (
    SampleTable("diabetes", "Diabetes progression (predict a number)", "progression",
                "442 patients: age, sex, body-mass index, blood pressure and six blood measurements; the target is "
                "how far the disease progressed one year later (scikit-learn's diabetes set)."),
    SampleTable("wine", "Wine cultivars (predict one of 3 classes)", "cultivar",
                "178 Italian wines: 13 chemical measurements; the target is which of three cultivars the grapes "
                "came from (scikit-learn's wine set)."),
    SampleTable("breast-cancer", "Breast tumours (predict one of 2 classes)", "diagnosis",
                "569 tumour scans: 30 measurements of the cell nuclei; the target is malignant or benign "
                "(scikit-learn's breast cancer set)."),
)}

# Scikit-learn names the diabetes blood measurements s1…s6; these are what they measure (its documentation).
_DIABETES_NAMES = {"bp": "blood_pressure", "s1": "total_cholesterol", "s2": "ldl", "s3": "hdl",
                   "s4": "cholesterol_hdl_ratio", "s5": "triglycerides_log", "s6": "blood_sugar",
                   "target": "progression"}


def sample_table(key: str) -> pd.DataFrame:
    """A built-in table from the sets scikit-learn ships with (no download), in real units and readable names."""
    from sklearn import datasets as sklearn_datasets

    if key == "diabetes":
        frame = sklearn_datasets.load_diabetes(as_frame=True, scaled=False).frame.rename(columns=_DIABETES_NAMES)
        return frame.astype({"age": int, "sex": int})
    loader = {"wine": sklearn_datasets.load_wine, "breast-cancer": sklearn_datasets.load_breast_cancer}.get(key)
    if loader is None:
        raise TabularError(f"There is no built-in table called '{key}'; choose one of {', '.join(SAMPLE_TABLES)}.")
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns={"target": SAMPLE_TABLES[key].target})
    names = [f"cultivar {i + 1}" for i in range(3)] if key == "wine" else list(bunch.target_names)
    frame[SAMPLE_TABLES[key].target] = [names[i] for i in bunch.target]
    return frame


# ---------------------------------------------------------------------------------------------------- datasets

TARGET_NAME_HINTS = {"target", "label", "class", "outcome", "survived", "price", "y", "churn", "result", "score",
                     "diagnosis", "progression", "species", "quality", "default"}


def guess_target(frame: pd.DataFrame) -> str:
    """A column whose name sounds like the thing to predict, else the last column (where tables usually keep it)."""
    for name in frame.columns:
        if _name_tokens(str(name)) & TARGET_NAME_HINTS or str(name).lower() in TARGET_NAME_HINTS:
            return str(name)
    return str(frame.columns[-1])


@dataclass
class TableSplit:
    train: pd.DataFrame
    validation: pd.DataFrame
    notes: list[tuple[str, str]]  # (level, message): what was dropped and how the split was made
    stratified: bool


def split_table(frame: pd.DataFrame, target: str, task: str, validation_share: float, seed: int = 42) -> TableSplit:
    """Rows without a target are left out; classification keeps each class's share in both parts (stratified),
    regression splits at random. Classes with a single row are left out: they cannot be both learned and checked."""
    from sklearn.model_selection import train_test_split

    if not 0.05 <= validation_share <= 0.5:
        raise TabularError("The validation share must be between 5% and 50%.")
    notes: list[tuple[str, str]] = []
    rows = frame[frame[target].map(lambda v: not _is_blank(v))]
    if len(rows) < len(frame):
        notes.append(("warning", f"{len(frame) - len(rows):,} row(s) have no '{target}' value and were left out."))
    stratify = None
    if task == "classification":
        labels = rows[target].map(_category_text)
        counts = labels.value_counts()
        single = counts[counts < 2].index.tolist()
        if single:
            notes.append(("warning", f"{len(single)} class(es) have a single row ({', '.join(map(str, single[:5]))}) "
                                     "and were left out: the model cannot both learn them and be checked on them."))
            keep = ~labels.isin(single)
            rows, labels = rows[keep], labels[keep]
        stratify = labels
    if len(rows) < 10:
        raise TabularError(f"Only {len(rows)} usable row(s): add more rows (a few dozen at the very least).")
    size = max(int(round(len(rows) * validation_share)), 1)
    if stratify is not None:
        classes = stratify.nunique()
        if classes < 2:
            raise TabularError(f"'{target}' has only one class left, so there is nothing to choose between.")
        size = max(size, classes)
        if len(rows) - size < classes:
            raise TabularError(f"{len(rows)} rows are too few to split across {classes} classes. Add more rows.")
    train, validation = train_test_split(rows, test_size=size, random_state=seed, stratify=stratify)
    return TableSplit(train.reset_index(drop=True), validation.reset_index(drop=True), notes, stratify is not None)


def parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns Parquet can store: a text column with some numbers in it (mixed types) becomes all text."""
    result = frame.copy()
    for name in result.columns:
        column = result[name]
        if column.dtype == object:
            kinds = {type(v) for v in column.dropna()}
            if len(kinds) > 1:
                result[name] = column.map(lambda v: v if _is_blank(v) else str(v))
    return result


def save_table_dataset(workspace, name: str, split: TableSplit, config: TabularPreprocessConfig, *, source: str,
                       checks: list[dict] | None = None):
    """The person's own columns as train/validation Parquet, the preprocessing settings in `details`."""
    from core.dataset_store import save_dataset

    preprocessor = fit_preprocessor(split.train, config)  # fails here, with a plain message, rather than in a run
    return save_dataset(workspace, name, TASK_KEYS[config.task], parquet_ready(split.train),
                        parquet_ready(split.validation), source=source, labels=preprocessor.class_names,
                        checks=list(checks or []),
                        details={"preprocess": config.to_dict(), "summary": preprocessor.summary()})
