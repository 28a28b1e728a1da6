"""Prepared datasets in a workspace: what the Data page saves and every run reads.

    datasets/<name>/
        dataset.json          DatasetInfo: task, classes, row counts, where it came from, the checks, details
        train.parquet         the training rows
        validation.parquet    the held-out rows
        images/               image datasets only: the image files the rows point to (relative paths)

Rows are stored as Parquet so tables keep their column types (numbers stay numbers, empty cells stay empty). The
columns depend on the task: `text`/`label` for text classification, `prompt`/`response` or `text` for text
generation, `image`/`label` for images, the person's own columns for tables. A dataset is written into a hidden
staging folder and renamed into place, so a run never reads half a dataset.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core.messages import PlainError
from core.workspace import Workspace, safe_name


class DatasetError(PlainError):
    """A prepared dataset is missing or unreadable; the message says what to do."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    task: str
    labels: list[str]
    train_rows: int
    validation_rows: int
    source: str
    checks: list[dict] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # task-specific: table preprocessing, text format…

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetInfo:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class PreparedDataset:
    folder: Path
    info: DatasetInfo

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def train_path(self) -> Path:
        return self.folder / "train.parquet"

    @property
    def validation_path(self) -> Path:
        return self.folder / "validation.parquet"

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return pd.read_parquet(self.train_path), pd.read_parquet(self.validation_path)

    def records(self, split: str) -> list[dict[str, Any]]:
        path = self.train_path if split == "train" else self.validation_path
        return pd.read_parquet(path).to_dict("records")

    def file(self, relative: str) -> Path:
        """A file of the dataset (an image) by the relative path a row holds; never outside the folder."""
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.folder.resolve()):
            raise DatasetError(f"The dataset row points outside its folder ({relative!r}).")
        return path


def save_dataset(workspace: Workspace, name: str, task: str, train: pd.DataFrame, validation: pd.DataFrame, *,
                 source: str, labels: list[str] | None = None, checks: list[dict] | None = None,
                 details: dict[str, Any] | None = None, files: Path | None = None) -> PreparedDataset:
    """Write a prepared dataset, replacing one of the same name. `files` (a folder) is copied in as `images/`."""
    folder_name = safe_name(name, "dataset")
    folder = workspace.datasets / folder_name
    staging = workspace.datasets / f".{folder_name}.saving"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        train.reset_index(drop=True).to_parquet(staging / "train.parquet", index=False)
        validation.reset_index(drop=True).to_parquet(staging / "validation.parquet", index=False)
        if files is not None:
            shutil.copytree(files, staging / "images", symlinks=False)
        info = DatasetInfo(folder_name, task, list(labels or []), len(train), len(validation), source,
                           list(checks or []), dict(details or {}))
        (staging / "dataset.json").write_text(json.dumps(asdict(info), indent=2, default=str))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Swap in whole: a half-written dataset must never be picked up by a run.
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return PreparedDataset(folder, info)


def load_dataset_info(workspace: Workspace, name: str) -> PreparedDataset:
    folder = workspace.datasets / safe_name(name, "dataset")
    meta = folder / "dataset.json"
    if not meta.is_file():
        raise DatasetError(f"There is no prepared dataset called '{name}'. Prepare one on the Data page.")
    try:
        info = DatasetInfo.from_dict(json.loads(meta.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise DatasetError(f"The dataset '{name}' is damaged ({error}). Prepare it again on the Data page.") from error
    return PreparedDataset(folder, info)


def list_datasets(workspace: Workspace, task: str | None = None) -> list[PreparedDataset]:
    found = []
    for folder in sorted(workspace.datasets.iterdir()):
        if folder.name.startswith(".") or not (folder / "dataset.json").is_file():
            continue
        try:
            prepared = load_dataset_info(workspace, folder.name)
        except DatasetError:
            continue  # a damaged folder must not hide the others
        if task is None or prepared.info.task == task:
            found.append(prepared)
    return found


def delete_dataset(workspace: Workspace, name: str) -> None:
    shutil.rmtree(workspace.datasets / safe_name(name, "dataset"), ignore_errors=True)
