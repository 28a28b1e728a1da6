"""How much of an uploaded file the server agrees to unpack, and how much of it a page may show.

The boundary: plain checks on sizes and shapes, each returning the message a person reads (or None), so
`core.data.uploads` can refuse a file *before* the expensive step (decoding a compressed Parquet file, parsing a
very wide CSV) rather than after the server has spent minutes or gigabytes on it. Nothing here reads a file itself.
"""

from __future__ import annotations

import csv

import pandas as pd

MAX_COLUMNS = 2_000  # far more than any table a person labels or predicts from; 10⁵ columns took minutes
DELIMITERS = ",\t;|"
PREVIEW_ROWS = 50
PREVIEW_CHARACTERS = 300  # per cell: a 30 MB one-line text file sent whole in a preview crashed the browser tab


def header_width(text: str) -> int:
    """How many columns the first line names, split by the separator it holds most of (known before the
    separator is guessed: guessing reads 50 whole lines, which for a very wide file is already slow)."""
    first_line = text.split("\n", 1)[0]
    widest = max(DELIMITERS, key=first_line.count)
    try:
        return len(next(csv.reader([first_line], delimiter=widest), []))
    except csv.Error:  # a quoted header cell longer than the csv module accepts
        return first_line.count(widest) + 1


def too_many_columns(count: int) -> str | None:
    """Why a table with `count` columns is refused, or None when it is fine."""
    if count <= MAX_COLUMNS:
        return None
    return (f"The file has {count:,} columns; the most a table here can have is {MAX_COLUMNS:,}. Keep only the "
            "columns you need (the text and the label, or the inputs and the column to predict) and upload that.")


def too_big_when_unpacked(rows: int, columns: int, decoded_bytes: int, max_bytes: int) -> str | None:
    """Why a compressed table is refused: it would unpack past the size limit a CSV of it would have to meet.

    Every cell of a CSV takes at least one byte (its separator), so rows × columns is a lower bound known from
    the Parquet footer alone; `decoded_bytes` is what has been unpacked so far.
    """
    if rows * columns <= max_bytes and decoded_bytes <= max_bytes:
        return None
    return (f"The file is small but unpacks to more than {max_bytes / 2**20:.0f} MB ({rows:,} rows), the limit "
            "for an upload. Upload a sample of the rows instead.")


def preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS, characters: int = PREVIEW_CHARACTERS) -> pd.DataFrame:
    """The first rows of a table as a page shows them: every cell longer than `characters` cut short, saying so."""
    head = frame.head(rows).copy()
    for column in head.columns:
        if not pd.api.types.is_numeric_dtype(head[column]):
            head[column] = head[column].map(lambda value: shorten(value, characters), na_action="ignore")
    return head


def shorten(value, characters: int = PREVIEW_CHARACTERS):
    """A long text cut to `characters` with how much was left out; anything else as it is."""
    if isinstance(value, str) and len(value) > characters:
        return f"{value[:characters]}… ({len(value) - characters:,} more characters)"
    return value
