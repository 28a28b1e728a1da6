"""Which columns of a table a model uses, and how: the preprocessing settings and the one reading of raw cells.

The boundary: `TabularPreprocessConfig` says which columns are numbers, which are categories, what predicts what and
how gaps are filled; `suggest_preprocess_config` proposes one from the detected roles (`core.tasks.tabular.roles`);
`prepare_frame` reads a table's cells (`core.tasks.tabular.cells`) as those settings say. Nothing here learns from
the rows: fitting the settings to training rows lives in `core.tasks.tabular.fitting`, the fitted result and its
JSON file in `core.tasks.tabular.preprocessor`, the split and the save in `core.tasks.tabular.dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.config.knobs import check_limits, from_plain, knob, to_plain
from core.tasks.tabular.cells import TabularError, as_numbers, category_text, extract_title, require_columns
from core.tasks.tabular.roles import (
    ROLE_CATEGORICAL,
    ROLE_NOUNS,
    ROLE_NUMERIC,
    ROLE_TEXT,
    detect_column_roles,
    infer_task,
    title_share,
)

TABLE_TASKS = ("classification", "regression")  # what a table model does with its target
NUMERIC_MISSING = ("median", "mean", "zero")
CATEGORICAL_MISSING = ("most_frequent", "own_category")
MISSING_CATEGORY = "(missing)"
# A text column where this share of values reads 'Surname, Title. Given names' is suggested as the title source.
TITLE_MIN_SHARE = 0.8


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
        if self.task not in TABLE_TASKS:
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
    if not title_from and not any(role.role in (ROLE_NUMERIC, ROLE_CATEGORICAL) for role in inputs.values()):
        left_out = "; ".join(f"'{name}' ({ROLE_NOUNS.get(role.role, role.role)})" for name, role in inputs.items())
        raise TabularError(f"Nothing is left to learn '{target}' from: every other column was left out ({left_out}). "
                           "Pick another column to predict, or add columns that describe each row.")
    return TabularPreprocessConfig(
        target=target, task=task or infer_task(frame[target]).task,
        numeric_columns=tuple(n for n, r in inputs.items() if r.role == ROLE_NUMERIC),
        categorical_columns=tuple(n for n, r in inputs.items() if r.role == ROLE_CATEGORICAL),
        title_from=title_from)


def prepare_frame(frame: pd.DataFrame, config: TabularPreprocessConfig) -> pd.DataFrame:
    """Only the input columns, numbers as floats (text that is no number → missing), categories as text.

    Both the scikit-learn fit and the JSON transform start from this, so they see exactly the same values.
    """
    require_columns(frame, config.input_columns)
    # Infinities would pass the imputer and poison every prediction, so they count as missing too.
    prepared = {name: as_numbers(frame[name]) for name in config.numeric_columns}
    for name in config.categorical_columns:
        prepared[name] = pd.Series([category_text(v) for v in frame[name]], index=frame.index, dtype=object)
    if config.title_from:
        prepared[config.title_column] = pd.Series([extract_title(v) for v in frame[config.title_from]],
                                                  index=frame.index, dtype=object)
    return pd.DataFrame(prepared, index=frame.index)
