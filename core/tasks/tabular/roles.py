"""What each column of a table is for: a number, a category, an ID, free text or a constant, and the task a target
suggests.

The boundary: this module looks at a pandas DataFrame and suggests, with a plain reason for each, what every column
is (`detect_column_roles`) and whether a target is a class or an amount (`infer_task`); the person can change any of
it. It decides nothing about preprocessing: the settings built from these roles live in `core.tasks.tabular.columns`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdtypes

from core.messages import agree, counted
from core.tasks.tabular.cells import (
    TITLE_PATTERN,
    TabularError,
    as_numbers,
    category_text,
    is_whole,
    number_text,
)

ROLE_NUMERIC = "numeric"
ROLE_CATEGORICAL = "categorical"
ROLE_ID = "id"
ROLE_TEXT = "free-text"
ROLE_CONSTANT = "constant"
ROLE_NOUNS = {ROLE_ID: "an ID", ROLE_TEXT: "free text", ROLE_CONSTANT: "nothing to learn from"}

# Whole-number columns with at most this many values read as categories (Pclass 1/2/3); more (SibSp 0–8) are
# counts, kept as numbers so an unseen count still means something.
FEW_WHOLE_NUMBERS = 5
# Text columns with at most this many values are categories even when most values are unique (tiny tables).
FEW_TEXT_VALUES = 10
# A whole-number target with at most this many values is a class label (0/1, 1–5 stars), not an amount.
MAX_CLASS_LIKE_INTEGERS = 20
ID_NAME_TOKENS = {"id", "ids", "uuid", "guid"}
# A column of numbers in which a few cells hold a mark for "not known" ("?" in UCI's Auto MPG horsepower, "-",
# "n/a"): read as numbers with those cells empty, as `prepare_frame` reads them, instead of as 90 categories.
PLACEHOLDER_SHARE = 0.1  # at most this share of the non-empty cells may be marks
MAX_PLACEHOLDERS = 3  # different marks
MAX_PLACEHOLDER_LENGTH = 12


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


def placeholder_marks(series: pd.Series, numbers: pd.Series) -> list[str] | None:
    """For a column of numbers written as text (`numbers`: its cells read by `as_numbers`, so "$1,200" and "45%"
    count): the marks for "not known" among them ("?", "-", "n/a"), most common first; None when the column is
    not numbers with at most a few such marks."""
    given = series.notna()
    marks = series[numbers.isna() & given].astype(str).str.strip()
    if not given.any() or len(marks) > PLACEHOLDER_SHARE * given.sum() or marks.nunique() > MAX_PLACEHOLDERS:
        return None
    if any(len(mark) > MAX_PLACEHOLDER_LENGTH or re.search(r"\d", mark) for mark in marks.unique()):
        return None  # "12 kg", "A3": units or codes, not a mark for a gap
    return marks.value_counts().index.tolist()


def column_role(name: str, series: pd.Series) -> ColumnRole:
    """The role of one column, with the reason in plain words."""
    if pdtypes.is_numeric_dtype(series) or pdtypes.is_bool_dtype(series):
        return _role(name, series)
    numbers = as_numbers(series)
    marks = placeholder_marks(series, numbers)
    if marks is None:
        return _role(name, series)
    role = _role(name, numbers)
    if role.role != ROLE_NUMERIC:  # a few whole numbers are categories, read as the text they are
        return _role(name, series)
    # As `prepare_frame` reads it: the marks become empty cells, filled later.
    notes = [role.reason]
    if (pd.to_numeric(series, errors="coerce").isna() & numbers.notna()).any():
        notes.append("written with currency or percent signs or thousands commas, read as plain numbers")
    if marks:
        shown = " and ".join(f"“{mark}”" for mark in marks)
        marked = int(numbers.isna().sum() - series.isna().sum())
        notes.append(f"{shown} read as empty ({counted(marked, 'cell')})")
    return replace(role, reason="; ".join(notes))


def _role(name: str, series: pd.Series) -> ColumnRole:
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
    if not pdtypes.is_numeric_dtype(values) and (amounts := as_numbers(values)).notna().all():
        values = amounts  # "$1,200", "45%": amounts written as a spreadsheet shows them
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
