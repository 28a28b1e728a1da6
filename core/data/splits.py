"""Splitting checked rows into a training part and a validation part: the one splitter every Data page uses.

The boundary: rows in (a pandas DataFrame, one example per row), two frames out, seeded so the same data always
splits the same way. Which rows are usable, and what a row's class is, the task's own data module decides before it
calls here (`core.tasks.text_classification.data`, `core.tasks.image_classification.data`,
`core.tasks.tabular.dataset`). A split that cannot be made is a `DataError` that says how to fix the data.
"""

from __future__ import annotations

import pandas as pd

from core.data.uploads import DataError

MIN_VALIDATION_SHARE, MAX_VALIDATION_SHARE = 0.05, 0.5


def check_validation_share(validation_share: float) -> None:
    if not MIN_VALIDATION_SHARE <= validation_share <= MAX_VALIDATION_SHARE:
        raise DataError(f"The validation share must be between {MIN_VALIDATION_SHARE:.0%} and "
                        f"{MAX_VALIDATION_SHARE:.0%}.")


def split_train_validation(rows: pd.DataFrame, validation_share: float, seed: int = 42, *,
                           classes: pd.Series | str | None = "label") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, validation rows), each renumbered from 0.

    `classes` is each row's class: a Series beside `rows`, or the name of the column that holds it. Every class then
    keeps its share in both parts (a stratified split) and has at least one validation row. None splits at random,
    for rows without classes (amounts to predict).
    """
    from sklearn.model_selection import train_test_split

    check_validation_share(validation_share)
    if isinstance(classes, str):
        classes = rows[classes]
    size = max(int(round(len(rows) * validation_share)), 1)
    needed = 1
    if classes is not None:
        needed = int(classes.nunique())
        size = max(size, needed)
    if len(rows) - size < needed:
        spread = f" across {needed} classes" if classes is not None else ""
        raise DataError(f"{len(rows)} examples are too few to split{spread}. Add more examples.")
    train, validation = train_test_split(rows, test_size=size, random_state=seed, stratify=classes)
    return train.reset_index(drop=True), validation.reset_index(drop=True)
