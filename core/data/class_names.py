"""Names for classes stored as numbers: AG News labels its news 1 to 4, and ships `classes.txt` (World, Sports,
Business, Sci/Tech, one per line, in label order).

Naming maps the label values to the names before a dataset is saved, so every later view (charts, confusion matrix,
Playground, Prompt lab and its label words, the exported model's `id2label`) shows the names with no change of its
own; the dataset keeps the mapping in its details, so the original values stay visible. Classes keep the order a
person expects: numbers by value (1, 2, 10, not 1, 10, 2), so the first name goes to the smallest value.

The boundary: label values and names in, a checked mapping (or a `DataError` that says what to fix) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from core.data.loaded import DataError
from core.data.sniffing import is_number
from core.data.uploads import decode_text
from core.messages import counted

MAX_NAME_CHARACTERS = 100
MAX_NAMES = 1_000


def natural_order(values: Iterable[str]) -> list[str]:
    """Numbers by their value, then words alphabetically (case aside): 1, 2, 10, then “ham”, “Spam”."""
    def key(value: str) -> tuple:
        return (0, float(value.replace(",", "")), value) if is_number(value) else (1, 0.0, value.casefold(), value)
    return sorted({str(value) for value in values}, key=key)


def read_class_names(raw: bytes) -> list[str]:
    """The names of a classes file: one a line, blank lines skipped."""
    if len(raw) > MAX_NAMES * (MAX_NAME_CHARACTERS + 2):
        raise DataError(f"A classes file holds one name a line; this one is {len(raw):,} bytes, too big for that. "
                        "Choose the file that lists the class names.")
    names = [line.strip() for line in decode_text(raw)[0].splitlines() if line.strip()] if raw.strip() else []
    if not names:
        raise DataError("The classes file holds no names. Write one class name a line, in the order of the labels.")
    return names


def names_in_order(names: list[str], values: list[str]) -> dict[str, str]:
    """{value: name}: the first name for the first value in `values` (in natural order), the second for the second…"""
    if len(names) != len(values):
        shown = ", ".join(values[:8]) + (" …" if len(values) > 8 else "")
        raise DataError(f"The classes file has {counted(len(names), 'name')} but the labels have "
                        f"{counted(len(values), 'value')} ({shown}). Give one name a line, in the order of the "
                        f"values: the first line names “{values[0]}”, the last “{values[-1]}”.")
    return dict(zip(values, names, strict=True))


def checked_names(mapping: Mapping[str, str]) -> dict[str, str]:
    """{value: name} with blank names keeping their value; a `DataError` for a name used twice or too long."""
    named = {str(value): (str(name).strip() if isinstance(name, str) else "") or str(value)
             for value, name in mapping.items()}
    long = [name for name in named.values() if len(name) > MAX_NAME_CHARACTERS]
    if long:
        raise DataError(f"The class name “{long[0][:40]}…” is {len(long[0])} characters long; keep names under "
                        f"{MAX_NAME_CHARACTERS}.")
    seen: dict[str, str] = {}
    for value, name in named.items():
        if name in seen:
            raise DataError(f"“{name}” names two classes ({seen[name]} and {value}). Give each class its own name: "
                            "two values with one name would be two classes the model cannot tell apart.")
        seen[name] = value
    return named


def named_order(labels: Iterable[str], mapping: Mapping[str, str]) -> list[str]:
    """The classes in their values' order, each by its name: the order the model numbers them in."""
    return [mapping.get(value, value) for value in natural_order(labels)]


def renamed(labels: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """The labels with each value replaced by its name (values without one stay as they are)."""
    return labels.astype(str).map(lambda value: mapping.get(value, value))


def is_renaming(mapping: Mapping[str, str]) -> bool:
    return any(str(value) != name for value, name in mapping.items())
