"""A prepared image dataset read back for training: each split's files checked, then loaded as a lazy dataset.

The boundary: a `PreparedDataset` (rows of an image path relative to its folder and a class name, saved by
`core.tasks.image_classification.data`) in; `datasets.Dataset`s with an `image` column that PIL decodes only when a
batch is read, and `label` as a ClassLabel, out. Turning those images into tensors is the job of
`core.tasks.image_classification.transforms`; the model and the training job are in
`core.tasks.image_classification.pipeline`.
"""

from __future__ import annotations

from typing import Any

import datasets
import torch

from core.data.dataset_store import DatasetError, PreparedDataset
from core.messages import agree, counted


def resolved_split(dataset: PreparedDataset, split: str) -> tuple[list[str], list[int]]:
    """(absolute image paths, class indices) of one split, with every problem said in plain words."""
    labels = dataset.info.labels
    index = {name: i for i, name in enumerate(labels)}
    rows = dataset.records(split)
    if rows and not {"image", "label"} <= set(rows[0]):
        raise DatasetError(f"The dataset '{dataset.name}' has no image/label columns. Prepare it again in the "
                           "Data page's image section.")
    paths, ids, missing, unknown = [], [], [], []
    for row in rows:
        path = dataset.file(str(row["image"]))
        label = str(row["label"])
        if not path.is_file():
            missing.append(str(row["image"]))
        elif label not in index:
            unknown.append(label)
        else:
            paths.append(str(path))
            ids.append(index[label])
    if missing:
        raise DatasetError(f"{counted(len(missing), 'image')} of the dataset '{dataset.name}' "
                           f"{agree(len(missing), 'is', 'are')} missing (for example "
                           f"{missing[0]}). Prepare the dataset again on the Data page.")
    if unknown:
        raise DatasetError(f"Some {split} images have a class the dataset does not list ('{unknown[0]}'). Prepare "
                           "the dataset again on the Data page.")
    if not paths:
        raise DatasetError(f"The {split} part of '{dataset.name}' has no images. Prepare it again with a few images "
                           "of every class on each side.")
    return paths, ids


def image_dataset(paths: list[str], class_ids: list[int], class_names: list[str]) -> datasets.Dataset:
    """Image files and their class ids as a dataset: `image` decoded lazily by PIL, `label` a ClassLabel.

    Built with `from_dict` rather than `load_dataset("imagefolder")`: no builder, no cache folder, no network.
    """
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(class_names))})
    return datasets.Dataset.from_dict({"image": paths, "label": class_ids}, features=features)


def load_splits(dataset: PreparedDataset) -> datasets.DatasetDict:
    """Both splits with a lazily decoded `image` column and `label` as a ClassLabel of the dataset's classes."""
    return datasets.DatasetDict({split: image_dataset(*resolved_split(dataset, split), dataset.info.labels)
                                 for split in ("train", "validation")})


def image_paths(split: datasets.Dataset) -> list[str]:
    """The image files of a split, read without decoding a single image."""
    undecoded = split.cast_column("image", datasets.Image(decode=False))
    return [item["path"] for item in undecoded["image"]]


def collate(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.stack([row["pixel_values"] for row in batch]),
            "labels": torch.tensor([int(row["labels"]) for row in batch], dtype=torch.long)}
