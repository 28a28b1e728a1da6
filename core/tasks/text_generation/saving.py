"""A checked text-generation dataset saved and read back: prompt/response pairs as rows, one document as
consecutive pieces that join back into exactly its characters, and the saved format (`details["format"]`).

The boundary: rows that `core.tasks.text_generation.data` has already read, checked and split go into the dataset
store (`core.data.dataset_store`); nothing here reads uploads or checks them.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from core.data.dataset_store import PreparedDataset, save_dataset
from core.data.uploads import Check
from core.tasks.text_generation.data import FORMAT_INSTRUCTION, FORMAT_TEXT, PROMPT_TEMPLATE, TASK, PairColumns
from core.workspace import Workspace

PIECE_CHARACTERS = 4_000  # a saved text piece; small enough to preview, large enough to keep the row count low


def document_rows(text: str, piece_characters: int = PIECE_CHARACTERS) -> pd.DataFrame:
    """One document as consecutive `text` pieces (cut after a line end where there is one) that join back into
    exactly the same characters."""
    pieces, start = [], 0
    while start < len(text):
        end = min(start + piece_characters, len(text))
        if end < len(text):
            line_end = text.rfind("\n", start, end)
            end = line_end + 1 if line_end > start else end
        pieces.append(text[start:end])
        start = end
    return pd.DataFrame({"text": pieces})


def join_document(rows: pd.DataFrame) -> str:
    return "".join(rows["text"].astype(str))


def save_pairs(workspace: Workspace, name: str, train: pd.DataFrame, validation: pd.DataFrame, source: str,
               checks: list[Check], columns: PairColumns) -> PreparedDataset:
    details = {"format": FORMAT_INSTRUCTION, "file_format": source, "prompt_template": PROMPT_TEMPLATE,
               "columns": asdict(columns)}
    return save_dataset(workspace, name, TASK, train[["prompt", "response"]].astype(str),
                        validation[["prompt", "response"]].astype(str), source=source,
                        checks=[asdict(c) for c in checks], details=details)


def save_document(workspace: Workspace, name: str, train_text: str, validation_text: str, source: str,
                  checks: list[Check]) -> PreparedDataset:
    details = {"format": FORMAT_TEXT, "file_format": source, "train_characters": len(train_text),
               "validation_characters": len(validation_text)}
    return save_dataset(workspace, name, TASK, document_rows(train_text), document_rows(validation_text),
                        source=source, checks=[asdict(c) for c in checks], details=details)


def dataset_format(dataset: PreparedDataset) -> str:
    """The saved format; a dataset without one is read by its columns."""
    saved = dataset.info.details.get("format")
    if saved in (FORMAT_INSTRUCTION, FORMAT_TEXT):
        return saved
    columns = set(pd.read_parquet(dataset.validation_path).columns)
    return FORMAT_INSTRUCTION if {"prompt", "response"} <= columns else FORMAT_TEXT
