"""Tables (CSV rows and columns): column roles, the preprocessing settings, and the one preparation of raw cells.

The boundary: this module knows what each column of a pandas DataFrame is (a number, a category, an ID…), which
settings turn it into model inputs (`TabularPreprocessConfig`) and how raw cells are read (`prepare_frame`); it
learns nothing from the rows. Fitting those settings to training rows and the JSON file they are saved as live in
`core.tasks.tabular.preprocessor`; the network and its predictions in `core.tasks.tabular.model`; built-in sample
tables and
the train/validation split in `core.tasks.tabular.dataset`. They all build on this module, never the other way round.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdtypes

from core.config.knobs import check_limits, from_plain, knob, to_plain
from core.messages import PlainError, agree

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
ID_NAME_TOKENS = {"id", "ids", "uuid", "guid"}
# "Braund, Mr. Owen Harris" → "Mr": the Kaggle/CSV habit of "Surname, Title. Given names".
TITLE_PATTERN = re.compile(r",\s*([A-Za-z][A-Za-z ]{0,20}?)\.")
TITLE_MIN_SHARE = 0.8


class TabularError(PlainError):
    """The table or the settings cannot be used as they are; the message says what to change."""


# ---------------------------------------------------------------------------------------------------- roles


@dataclass(frozen=True)
class ColumnRole:
    column: str
    role: str  # one of ROLE_*
    reason: str  # a plain sentence the preview shows
    missing: int
    distinct: int


def name_tokens(name: str) -> set[str]:
    """'PassengerId' → {'passenger', 'id'}; 'user_id' → {'user', 'id'}; 'Paid' stays {'paid'}."""
    return {t.lower() for t in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name))}


def is_whole(values: pd.Series) -> bool:
    """Every value is a finite whole number (ages, counts, class ids)."""
    numbers = values.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))


def _examples(values: pd.Series, limit: int = 4) -> str:
    shown = [category_text(v) for v in sorted(values.unique(), key=_sort_key)[:limit]]
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
    if name_tokens(name) & ID_NAME_TOKENS:
        return "a different number on every row, which says nothing about the outcome"
    return None


def _numeric_role(name: str, values: pd.Series) -> tuple[str, str]:
    whole = is_whole(values)
    if whole and (reason := _id_reason(name, values)):
        return ROLE_ID, reason
    distinct = values.nunique()
    if whole and distinct <= FEW_WHOLE_NUMBERS:
        return ROLE_CATEGORICAL, f"only {distinct} different whole numbers ({_examples(values)}), used as categories"
    return ROLE_NUMERIC, f"numbers from {number_text(values.min())} to {number_text(values.max())}"


def _text_role(name: str, values: pd.Series) -> tuple[str, str]:
    distinct, count = values.nunique(), len(values)
    if distinct <= FEW_TEXT_VALUES or distinct <= count / 2:
        return ROLE_CATEGORICAL, f"{distinct} different values ({_examples(values)})"
    text = values.astype(str)
    short_codes = text.str.len().median() <= 12 and text.str.contains(" ").mean() < 0.1
    if distinct == count and (short_codes or name_tokens(name) & ID_NAME_TOKENS):
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
        role, reason = ROLE_CONSTANT, f"has the same value ({category_text(values.iloc[0])}) in every row"
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
        raise TabularError(f"The column {agree(len(duplicated), 'name', 'names')} {duplicated} "
                           f"{agree(len(duplicated), 'appears', 'appear')} more than once. Rename the columns so "
                           "each name is used once.")
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
    if is_whole(values) and distinct <= MAX_CLASS_LIKE_INTEGERS:
        return TaskGuess("classification",
                         f"'{target.name}' has only {distinct} different whole numbers ({_examples(values)}).")
    return TaskGuess("regression", f"'{target.name}' holds amounts ({distinct:,} different numbers).")


def title_share(series: pd.Series) -> float:
    """How many non-empty values look like 'Surname, Title. Given names'."""
    text = series.dropna().astype(str)
    return float(text.map(lambda t: TITLE_PATTERN.search(t) is not None).mean()) if len(text) else 0.0


# ---------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TabularPreprocessConfig:
    target: str = knob("", "The column the model learns to predict.")
    task: str = knob("classification", "classification picks one of a few answers (survived or not); regression "
                                       "predicts an amount (a price, a score).")
    numeric_columns: tuple[str, ...] = knob((), "Columns used as numbers: bigger and smaller mean something.")
    categorical_columns: tuple[str, ...] = knob(
        (), "Columns used as categories: each value gets its own yes/no column (one-hot).")
    scale_numeric: bool = knob(True, "Shift and stretch every number column to average 0 and spread 1, so large "
                                     "numbers (fares) do not drown out small ones (ages).")
    numeric_missing: str = knob("median", "How empty number cells are filled: median (the middle value, robust to "
                                          "outliers), mean (the average) or zero.")
    categorical_missing: str = knob(
        "most_frequent", "How empty category cells are filled: most_frequent (the commonest value) or own_category "
                         "(an extra '(missing)' value, for when being empty itself means something).")
    one_hot_max_categories: int = knob(
        20, "At most this many values per category column get their own column; rarer ones count as none of them.",
        min=2, max=200)
    title_from: str = knob("", "Optional: a names column written 'Surname, Title. Given' (like Titanic's Name). Its "
                               "title (Mr, Mrs, Miss…) becomes an extra category column.")

    def __post_init__(self) -> None:
        check_limits(self)
        if not self.target:
            raise TabularError("Choose the column to predict (the target).")
        if self.task not in TASKS:
            raise TabularError(f"The task must be classification or regression, not '{self.task}'.")
        if self.numeric_missing not in NUMERIC_MISSING or self.categorical_missing not in CATEGORICAL_MISSING:
            raise TabularError(f"Missing values can be filled with {', '.join(NUMERIC_MISSING)} (numbers) or "
                               f"{', '.join(CATEGORICAL_MISSING)} (categories).")
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
        return to_plain(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TabularPreprocessConfig:
        return from_plain(cls, values)


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


def category_text(value: Any) -> Any:
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


def is_blank(value: Any) -> bool:
    """None, NaN, pd.NA or an empty text box all mean 'not given'."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def number_text(value: float) -> str:
    """A number as the previews and notes show it: 28.0, 1,234, 0.0123."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.4g}"


def extract_title(value: Any) -> Any:
    match = TITLE_PATTERN.search(str(value)) if isinstance(value, str) else None
    return match.group(1).strip() if match else np.nan


def require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    """A plain message naming every column the table lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TabularError(f"The table has no column {', '.join(repr(c) for c in missing)}. Add it with the same "
                           "name as in the training data (empty cells are fine).")


def prepare_frame(frame: pd.DataFrame, config: TabularPreprocessConfig) -> pd.DataFrame:
    """Only the input columns, numbers as floats (text that is no number → missing), categories as text.

    Both the scikit-learn fit and the JSON transform start from this, so they see exactly the same values.
    """
    require_columns(frame, config.input_columns)
    # Infinities would pass the imputer and poison every prediction, so they count as missing too.
    prepared = {name: pd.to_numeric(frame[name], errors="coerce").astype("float64").replace([np.inf, -np.inf], np.nan)
                for name in config.numeric_columns}
    for name in config.categorical_columns:
        prepared[name] = pd.Series([category_text(v) for v in frame[name]], index=frame.index, dtype=object)
    if config.title_from:
        prepared[config.title_column] = pd.Series([extract_title(v) for v in frame[config.title_from]],
                                                  index=frame.index, dtype=object)
    return pd.DataFrame(prepared, index=frame.index)
