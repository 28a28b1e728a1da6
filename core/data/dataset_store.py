"""Prepared datasets in a workspace: what the Data page saves and every run reads.

    datasets/<name>/
        dataset.json          DatasetInfo: task, classes, row counts, where it came from, the checks, details
        train.parquet         the training rows
        validation.parquet    the held-out rows
        images/               image datasets only: the image files the rows point to (relative paths)

Rows are stored as Parquet so tables keep their column types (numbers stay numbers, empty cells stay empty). The
columns depend on the task: `text`/`label` for text classification, `prompt`/`response` or `text` for text
generation, `image`/`label` for images, the person's own columns for tables. A dataset is written into a hidden
staging folder and renamed into place, so a run never reads half a dataset, and it never silently replaces another
of the same name: the caller says `replace=True`, or the Data page asks first.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core.messages import PlainError
from core.workspace import Workspace, safe_name


class DatasetError(PlainError):
    """A prepared dataset is missing or unreadable; the message says what to do."""


class DatasetNameTaken(DatasetError):
    """A dataset of that name exists already, and saving was not told to replace it."""


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
                 details: dict[str, Any] | None = None, files: Path | None = None,
                 replace: bool = False) -> PreparedDataset:
    """Write a prepared dataset. `files` (a folder) is copied in as `images/`. A dataset of the same name is only
    replaced when `replace` says so; otherwise `DatasetNameTaken` (the Data page then asks, see `replace_dataset`)."""
    folder = dataset_folder(workspace, name)
    folder_name = folder.name
    if folder.exists() and not replace:
        raise DatasetNameTaken(name_taken_message(folder_name))
    # A staging folder of its own: two sessions saving under one name at once must not write into each other's.
    staging = Path(tempfile.mkdtemp(prefix=f".{folder_name}.", suffix=".saving", dir=workspace.datasets))
    try:
        train.reset_index(drop=True).to_parquet(staging / "train.parquet", index=False)
        validation.reset_index(drop=True).to_parquet(staging / "validation.parquet", index=False)
        if files is not None:
            shutil.copytree(files, staging / "images", symlinks=False)
        info = DatasetInfo(folder_name, task, list(labels or []), len(train), len(validation), source,
                           list(checks or []), dict(details or {}))
        _write_info(staging, info)
        # Swap in whole: a half-written dataset must never be picked up by a run.
        return _move_into_place(workspace, staging, info, replace)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def replace_dataset(workspace: Workspace, saved: PreparedDataset, name: str) -> PreparedDataset:
    """`saved` (already written under a free name) takes the place of the dataset called `name`, which is removed:
    the old one stays whole until the new one is, and a run never sees a mix of both."""
    info = DatasetInfo(**{**asdict(saved.info), "name": safe_name(name, "dataset")})
    _write_info(saved.folder, info)
    return _move_into_place(workspace, saved.folder, info, replace=True)


def _move_into_place(workspace: Workspace, ready: Path, info: DatasetInfo, replace: bool) -> PreparedDataset:
    folder = workspace.datasets / info.name
    old = workspace.datasets / f".{info.name}.replaced-{uuid.uuid4().hex[:8]}"
    if replace and folder.exists():
        folder.rename(old)
    try:
        ready.rename(folder)  # refused when another session has just saved a dataset of this name
    except OSError as error:
        if old.exists():
            old.rename(folder)
        raise DatasetNameTaken(name_taken_message(info.name)) from error
    shutil.rmtree(old, ignore_errors=True)
    return PreparedDataset(folder, info)


def _write_info(folder: Path, info: DatasetInfo) -> None:
    (folder / "dataset.json").write_text(json.dumps(asdict(info), indent=2, default=str))


def name_taken_message(name: str) -> str:
    return (f"There is already a dataset called “{name}”. Choose another name, or delete that one first on the "
            "Data page.")


def dataset_folder(workspace: Workspace, name: str) -> Path:
    return workspace.datasets / safe_name(name, "dataset")


def dataset_exists(workspace: Workspace, name: str) -> bool:
    return dataset_folder(workspace, name).exists()


def free_dataset_name(workspace: Workspace, name: str) -> str:
    """`name` when no dataset has it, else the first free of name-2, name-3…"""
    base = safe_name(name, "dataset")
    candidates = itertools.chain([base], (f"{base[:55]}-{number}" for number in itertools.count(2)))
    return next(candidate for candidate in candidates if not dataset_exists(workspace, candidate))


def load_dataset_info(workspace: Workspace, name: str) -> PreparedDataset:
    folder = dataset_folder(workspace, name)
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
    shutil.rmtree(dataset_folder(workspace, name), ignore_errors=True)
