"""Reading the raw cells of a table: one spelling per category, what counts as empty, numbers as people read them.

The boundary: single values and single columns, never a whole table's meaning. What a column is for lives in
`core.tasks.tabular.roles`; which columns a model uses, and reading them all at once (`prepare_frame`), in
`core.tasks.tabular.columns`. `TabularError`, the one error of the table modules, lives here at the bottom of them.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from core.messages import PlainError

# "Braund, Mr. Owen Harris" → "Mr": the Kaggle/CSV habit of "Surname, Title. Given names".
TITLE_PATTERN = re.compile(r",\s*([A-Za-z][A-Za-z ]{0,20}?)\.")


class TabularError(PlainError):
    """The table or the settings cannot be used as they are; the message says what to change."""


def is_whole(values: pd.Series) -> bool:
    """Every value is a finite whole number (ages, counts, class ids)."""
    numbers = values.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))


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


# Amounts as spreadsheets write them: "$1,200.50", "1,200", "45%", "3.5 €", "-£20". Only a currency sign, a
# percent sign and thousands commas in their usual places are taken off; "12 kg" or "1,2" stay text.
DECORATED_NUMBER = re.compile(r"[-+]?\s*[$€£¥]?\s*(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?\s*%?\s*[$€£¥]?")
DECORATIONS = re.compile(r"[\s$€£¥%,]")


def as_numbers(values: pd.Series) -> pd.Series:
    """The cells as float numbers, as a person reads them ("$1,200" is 1200, "45%" is 45); anything else, and an
    infinity, is NaN. Every reader of a number column (roles, training, the Playground, a table to predict) goes
    through here, so they all agree on what a cell holds."""
    numbers = pd.to_numeric(values, errors="coerce")
    unread = numbers.isna() & values.notna()
    if unread.any():
        text = values[unread].astype(str).str.strip()
        decorated = text.str.fullmatch(DECORATED_NUMBER) & text.str.contains(r"\d")
        numbers = numbers.astype("float64")
        numbers[text.index[decorated]] = pd.to_numeric(text[decorated].str.replace(DECORATIONS, "", regex=True),
                                                        errors="coerce")
    return numbers.astype("float64").replace([np.inf, -np.inf], np.nan)


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
