"""Checking an uploaded table for text classification and saving it prepared.

The boundary: this module turns a table (read by `core.data.uploads`) into checked `text`/`label` rows and a folder in
the workspace. It knows nothing about models. Every problem is reported as a `Check` whose message says what is
wrong and how to fix it, never as a traceback.

Prepared datasets are stored by `core.data.dataset_store`; this module only hands it checked `text`/`label` rows,
split by `core.data.splits`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from core.data.class_names import is_renaming, named_order, renamed
from core.data.dataset_store import PreparedDataset, save_dataset
from core.data.uploads import Check
from core.messages import agree, counted
from core.workspace import Workspace

TEXT_NAME_HINTS = ("text", "sentence", "review", "content", "message", "comment", "body", "document", "tweet")
LABEL_NAME_HINTS = ("label", "labels", "class", "category", "target", "sentiment", "y", "intent", "topic")
MAX_CLASSES = 100
# How several text columns become one text: the choices the Data page offers, the first the default.
JOINERS = (". ", "\n", " ")
JOINER_NAMES = {". ": "a full stop and a space", "\n": "a new line", " ": "a space"}


@dataclass
class CheckedData:
    frame: pd.DataFrame  # columns: text, label (both str)
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return not any(c.level == "error" for c in self.checks)

    @property
    def labels(self) -> list[str]:
        return sorted(self.frame["label"].unique().tolist())


# ---------------------------------------------------------------------------------------------------- columns


def guess_columns(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    """The likeliest text column (long, varied strings) and label column (few repeated values)."""
    text_column = _best_column(frame, _text_score)
    rest = frame.drop(columns=[text_column]) if text_column else frame
    label_column = _best_column(rest, _label_score)
    return text_column, label_column


def other_text_columns(frame: pd.DataFrame, chosen: list[str], label_column: str | None) -> list[str]:
    """Columns that also hold text (a description beside a title), to suggest joining: long, varied strings."""
    scores = {c: _text_score(frame[c], c) for c in frame.columns if c not in chosen and c != label_column}
    return [c for c, score in scores.items() if score >= 15 and frame[c].dropna().astype(str).str.len().mean() >= 15]


def _best_column(frame: pd.DataFrame, score) -> str | None:
    scored = [(score(frame[c], c), c) for c in frame.columns]
    scored = [(s, c) for s, c in scored if s > 0]
    return max(scored)[1] if scored else None


def _text_score(column: pd.Series, name: str) -> float:
    values = column.dropna().astype(str)
    if values.empty:
        return 0.0
    mean_length = values.str.len().mean()
    uniqueness = values.nunique() / len(values)
    bonus = 2.0 if name.lower() in TEXT_NAME_HINTS else 1.0
    return mean_length * uniqueness * bonus if mean_length > 3 else 0.0


def _label_score(column: pd.Series, name: str) -> float:
    values = column.dropna().astype(str)
    distinct = values.nunique()
    if values.empty or distinct < 2 or distinct > min(MAX_CLASSES, max(2, len(values) // 2)):
        return 0.5 if name.lower() in LABEL_NAME_HINTS and distinct >= 1 else 0.0
    bonus = 3.0 if name.lower() in LABEL_NAME_HINTS else 1.0
    return bonus * (1.0 - distinct / len(values))


# ---------------------------------------------------------------------------------------------------- checks


def check_classification(frame: pd.DataFrame, text_column: str | Sequence[str] | None, label_column: str | None,
                         validation: bool = False, joiner: str = JOINERS[0]) -> CheckedData:
    """Clean rows for text classification and say, in plain words, what was dropped and why.

    The text is one column, or several joined by `joiner` (a title and a description: “title. description”).
    A separate validation file (`validation=True`) may hold a single example of a class, or only some classes:
    it is only measured on, so the per-class minimums of training data do not apply.
    """
    text_columns = [text_column] if isinstance(text_column, str) else list(text_column or [])
    problem = _column_problem(frame, text_columns, label_column)
    if problem:
        return CheckedData(pd.DataFrame(columns=["text", "label"]), [Check("error", problem)])

    rows = pd.DataFrame({"text": joined_text(frame, text_columns, joiner), "label": frame[label_column]})
    checks: list[Check] = []
    rows, dropped = _drop_missing(rows)
    checks += dropped
    rows, duplicate_checks = _drop_duplicates(rows)
    checks += duplicate_checks
    if not validation:
        rows, class_checks = _check_classes(rows)
        checks += class_checks
    if not any(c.level == "error" for c in checks):
        checks.append(Check("info", f"{len(rows)} examples in {rows['label'].nunique()} classes are ready."))
    return CheckedData(rows.reset_index(drop=True), checks)


def _column_problem(frame: pd.DataFrame, text_columns: list[str], label_column: str | None) -> str | None:
    if not text_columns or any(column not in frame.columns for column in text_columns):
        return "Choose which column holds the text."
    if not label_column or label_column not in frame.columns:
        return ("Choose which column holds the label (the class of each text). If the file has none, add a column "
                "with a class name for every row.")
    if label_column in text_columns:
        return "The text and the label must be two different columns: the label cannot be one of the text columns."
    return None


def joined_text(frame: pd.DataFrame, columns: list[str], joiner: str) -> pd.Series:
    """One text per row from `columns`: their non-empty cells, in the order given, with `joiner` between them."""
    if len(columns) == 1:
        return frame[columns[0]]
    cells = frame[columns].map(_clean_cell)
    return cells.apply(lambda row: joiner.join(part for part in row if part), axis=1)


def _drop_missing(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[Check]]:
    rows = rows.copy()
    rows["text"] = rows["text"].map(_clean_cell)
    rows["label"] = rows["label"].map(_clean_label)
    checks = []
    no_text = rows["text"] == ""
    if no_text.any():
        left_out = int(no_text.sum())
        checks.append(Check("warning", f"{counted(left_out, 'row')} with missing or empty text "
                                       f"{agree(left_out, 'was', 'were')} left out."))
    no_label = (rows["label"] == "") & ~no_text
    if no_label.any():
        left_out = int(no_label.sum())
        advice = agree(left_out, "Give it a label if it should count.", "Give them a label if they should count.")
        checks.append(Check("warning", f"{counted(left_out, 'row')} with no label {agree(left_out, 'was', 'were')} "
                                       f"left out. {advice}"))
    return rows[~no_text & ~no_label], checks


def _clean_cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).strip()


def _clean_label(value) -> str:
    text = _clean_cell(value)
    if text.lower() in ("nan", "none", "null", "n/a"):
        return ""
    # 1.0 and 1 are the same class once a spreadsheet has turned integers into floats.
    return text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text


def _drop_duplicates(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[Check]]:
    checks = []
    exact = rows.duplicated(subset=["text", "label"])
    if exact.any():
        left_out = int(exact.sum())
        checks.append(Check("warning", f"{counted(left_out, 'exact duplicate row')} {agree(left_out, 'was', 'were')} "
                                       "left out, so no example counts twice or leaks from training into validation."))
        rows = rows[~exact]
    conflicting = rows[rows.duplicated(subset=["text"], keep=False)]
    if not conflicting.empty:
        sample = conflicting["text"].iloc[0][:60]
        texts = conflicting["text"].nunique()
        checks.append(Check("warning", f"{counted(texts, 'text')} {agree(texts, 'appears', 'appear')} with "
                                       "different labels "
                                       f"(e.g. “{sample}”). Check which label is right; the model will be unsure."))
    return rows, checks


def _check_classes(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[Check]]:
    counts = rows["label"].value_counts()
    checks = []
    if len(counts) > MAX_CLASSES:
        return rows, [Check("error", f"The label column has {len(counts)} different values; at most {MAX_CLASSES} "
                                     "classes are supported. Is it really the label column?")]
    rare = counts[counts < 2]
    if len(rare):
        names, count = ", ".join(f"“{n}”" for n in rare.index[:5]), len(rare)
        them = agree(count, "it", "them")
        checks.append(Check("warning", f"{agree(count, 'Class', 'Classes')} {names} {agree(count, 'has', 'have')} "
                                       "a single example, too few to learn from and to check on, so "
                                       f"{agree(count, 'it was', 'they were')} left out. Add more examples of "
                                       f"{them} to keep {them}."))
        rows = rows[~rows["label"].isin(rare.index)]
    remaining = rows["label"].nunique()
    if remaining < 2:
        checks.append(Check("error", "At least 2 classes are needed to train a classifier, each with 2 or more "
                                     f"examples; this data has {remaining}. Add examples of another class."))
    return rows, checks


# ---------------------------------------------------------------------------------------------------- validation


def align_validation(validation: CheckedData, train_labels: list[str]) -> tuple[pd.DataFrame, list[Check]]:
    """A separately uploaded validation set may only use classes the training set has."""
    unknown = ~validation.frame["label"].isin(train_labels)
    checks = []
    if unknown.any():
        names = ", ".join(sorted(validation.frame.loc[unknown, "label"].unique())[:5])
        left_out = int(unknown.sum())
        has = agree(left_out, "has a label", "have labels")
        checks.append(Check("warning", f"{counted(left_out, 'validation row')} {has} the training data lacks "
                                       f"({names}) and {agree(left_out, 'was', 'were')} left out."))
    return validation.frame[~unknown].reset_index(drop=True), checks


# ---------------------------------------------------------------------------------------------------- saving


@dataclass(frozen=True)
class TextColumns:
    """Which columns of the uploaded table made the texts and the labels, kept in the dataset's details."""

    text: tuple[str, ...]
    label: str
    joiner: str = JOINERS[0]

    def details(self) -> dict[str, Any]:
        joined = {"joined_with": self.joiner} if len(self.text) > 1 else {}
        return {"text_columns": list(self.text), **joined, "label_column": self.label}


def save_text_classification(workspace: Workspace, name: str, train: pd.DataFrame, validation: pd.DataFrame,
                             source: str, checks: list[Check], *, columns: TextColumns | None = None,
                             class_names: Mapping[str, str] | None = None) -> PreparedDataset:
    """Store checked `text`/`label` rows as a prepared text-classification dataset.

    `class_names` ({label value: name}) replaces the labels by their names before anything is written, so every
    view and the trained model's `id2label` carry the names; the details keep the mapping. Classes are listed in
    the order of their values (1, 2, 10), which gives the model its class numbers.
    """
    names = dict(class_names or {})
    order = named_order(train["label"].astype(str), names)
    details = columns.details() if columns else {}
    if is_renaming(names):
        details["class_names"] = names
    train, validation = (part.assign(label=renamed(part["label"], names))[["text", "label"]].astype(str)
                         for part in (train, validation))
    return save_dataset(workspace, name, "text-classification", train, validation, source=source, labels=order,
                        checks=[asdict(c) for c in checks], details=details)


def frame_to_csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")
