"""Image classification datasets: the uploaded files, the train/validation split, the save, and the built-in sample.

The boundary: this module takes what the Data page received (zip bytes, a labels CSV) into the workspace's uploads
folder, splits `LabelledImages` (`core.tasks.image_classification.labelled`) with `core.data.splits`, and stores the
result as a prepared dataset through `core.data.dataset_store`, the images copied in. It knows nothing about models
or training. Every problem the person can fix is an `ImageDataError` whose message says how.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from core.data.splits import split_train_validation
from core.data.uploads import DataError
from core.tasks.image_classification.files import MAX_LABEL_FILE_BYTES, MEGABYTE, ImageDataError
from core.tasks.image_classification.labelled import LabelledImages
from core.tasks.image_classification.safe_zip import ExtractReport, safe_extract_zip
from core.tasks.image_classification.transforms import ImagePreprocessConfig

# ---------------------------------------------------------------------------------------------------- uploads


def extract_uploaded_zip(data: bytes, uploads: Path, **limits: Any) -> ExtractReport:
    """Unpack zip bytes from the browser into a fresh folder of `uploads` named after their content.

    The same bytes always land in the same folder, which is emptied first, so a retried or repeated upload never
    mixes with leftovers. `limits` go to `safe_extract_zip`.
    """
    digest = hashlib.sha256(data).hexdigest()[:16]
    archive = Path(uploads) / f"images-{digest}.zip"
    target = Path(uploads) / f"images-{digest}"
    shutil.rmtree(target, ignore_errors=True)
    archive.write_bytes(data)
    try:
        return safe_extract_zip(archive, target, **limits)
    finally:
        archive.unlink(missing_ok=True)


def save_uploaded_labels(data: bytes, uploads: Path) -> Path:
    """A labels CSV uploaded beside the zip, stored so `load_labelled_images(root, labels_csv)` can read it."""
    if len(data) > MAX_LABEL_FILE_BYTES:
        raise ImageDataError(f"The labels file is over {MAX_LABEL_FILE_BYTES // MEGABYTE} MB; it should hold only "
                             "two columns, filename and label.")
    path = Path(uploads) / f"labels-{hashlib.sha256(data).hexdigest()[:16]}.csv"
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------------- saving


def labelled_rows(labelled: LabelledImages, prefix: str = "images") -> pd.DataFrame:
    """One row per image: `image` is its path inside the prepared dataset folder, `label` its class name."""
    return pd.DataFrame({
        "image": [f"{prefix}/{path.relative_to(labelled.root).as_posix()}" for path in labelled.files],
        "label": [labelled.class_names[i] for i in labelled.labels],
    })


def split_images(labelled: LabelledImages, validation_share: float, seed: int = 42
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified split: every class keeps the same share of its images in both parts."""
    rows = labelled_rows(labelled)
    counts = rows["label"].value_counts()
    if counts.min() < 2:
        raise ImageDataError(f"The class '{counts.idxmin()}' has a single image; every class needs at least two (one "
                             "to learn from, one to check with). Add images to it or leave that folder out.")
    try:
        return split_train_validation(rows, validation_share, seed)
    except DataError as error:
        raise ImageDataError(str(error)) from error


def save_image_classification(workspace, name: str, labelled: LabelledImages, train: pd.DataFrame,
                              validation: pd.DataFrame, preprocess: ImagePreprocessConfig, source: str):
    """Store the split rows and copy the image folder in as the dataset's `images/`, with the checks on the images.

    `details["image_preprocess"]` is the suggested preprocessing, which the Train page starts from.
    """
    from core.data.dataset_store import save_dataset

    return save_dataset(workspace, name, "image-classification", train, validation, source=source,
                        labels=list(labelled.class_names), checks=[asdict(c) for c in labelled.checks],
                        details={"image_preprocess": preprocess.to_dict()}, files=labelled.root)


# ---------------------------------------------------------------------------------------------------- sample

SAMPLE_NAME = "digits-sample"
SAMPLE_SIDE = 32


def write_digits_sample(folder: str | Path, per_class: int = 60, side: int = SAMPLE_SIDE,
                        digits_wanted: tuple[int, ...] = tuple(range(10))) -> Path:
    """A built-in sample for people without a zip: scikit-learn's bundled handwritten digits (8×8, 0–16 grey
    levels, from the UCI "optical recognition of handwritten digits" set), scaled up to `side`-pixel PNGs in one
    folder per digit. No download: the digits ship inside scikit-learn."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder = Path(folder)
    written: Counter[int] = Counter()
    for pixels, digit in zip(digits.images, digits.target):
        if digit not in digits_wanted or written[digit] >= per_class:
            continue
        grey = np.clip(pixels / 16.0 * 255.0, 0, 255).astype(np.uint8)
        image = Image.fromarray(grey, mode="L").resize((side, side), Image.Resampling.BICUBIC)
        target = folder / str(digit) / f"{digit}_{written[digit]:03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target)
        written[digit] += 1
    return folder
