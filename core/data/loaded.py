"""What reading an upload gives back: a table with its checks (and, for a file with a separator, what was assumed
about its first row), or a `DataError`; and the one way an upload is handed to Hugging Face `datasets`.

The boundary: the types and helpers every reader of `core.data` shares (`core.data.uploads` for the formats,
`core.data.delimited` for CSV and TSV). Other packages import `Check`, `DataError` and `LoadedTable` from
`core.data.uploads`, which re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pandas as pd

from core.data.sniffing import HeaderGuess
from core.messages import PlainError
from core.workspace import Workspace, safe_name


class DataError(PlainError):
    """Nothing usable could be read; the message tells the person how to fix the file."""


@dataclass(frozen=True)
class Check:
    level: str  # "error" blocks saving, "warning" changed or questions the data, "info" is reassurance
    message: str


@dataclass
class LoadedTable:
    frame: pd.DataFrame
    file_format: str
    checks: list[Check] = field(default_factory=list)
    header: HeaderGuess | None = None  # CSV and TSV: whether the first row was taken as column names, and why


def stage_file(workspace: Workspace, filename: str, content: bytes) -> Path:
    # `datasets` reads from files; keep the upload in the workspace so a later session can look at it again.
    path = workspace.uploads / safe_name(filename, "upload")
    path.write_bytes(content)
    return path


def load_with_datasets(builder: str, path: Path, workspace: Workspace, **options) -> pd.DataFrame:
    loaded = datasets.load_dataset(builder, data_files=str(path), split="train",
                                   cache_dir=str(workspace.cache), **options)
    return loaded.to_pandas()


def first_line(error: BaseException) -> str:
    """The first line of an error, from the parser's own error when `datasets` wrapped it (that one names the row)."""
    cause = error.__cause__ or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
