"""Image classification datasets: finding the classes, previewing, splitting and saving a folder of images.

The boundary: this module turns a folder of checked images (unpacked by `core.tasks.image_classification.safe_zip`, or
the built-in sample)
into a `datasets.Dataset` with `image`/`label` columns and the class names, summarises it for the preview and
stores it in the workspace. What one image file is lives in `core.tasks.image_classification.files`; turning images
into tensors in
`core.tasks.image_classification.transforms`. It knows nothing about models or training. Every problem the person can
fix is an
`ImageDataError` whose message says how; files that are merely unusable are skipped and listed with a reason
instead of failing the whole upload.

Two layouts are understood:
- one folder per class (`cats/1.png`, `dogs/2.jpg`), optionally inside a single wrapper folder
  (`mnist_png_500/0/1.png`);
- images anywhere plus one CSV file with the columns `filename,label`.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import datasets
import numpy as np
import pandas as pd
from PIL import Image

from core.messages import agree, counted
from core.tasks.image_classification.files import (
    MAX_LABEL_FILE_BYTES,
    MEGABYTE,
    ClassGrouping,
    ImageDataError,
    group_by_class,
    is_ignored_name,
    is_readable_image,
)
from core.tasks.image_classification.safe_zip import ExtractReport, safe_extract_zip
from core.tasks.image_classification.transforms import ImagePreprocessConfig

MIN_CLASSES = 2

FILENAME_COLUMNS = ("filename", "file", "file_name", "image", "path", "image_path")
LABEL_COLUMNS = ("label", "class", "category", "target")


# ---------------------------------------------------------------------------------------------------- labelled set


@dataclass
class LabelledImages:
    """Image files with their class; the one shape both layouts end up in."""

    root: Path
    files: list[Path]
    labels: list[int]  # index into class_names
    class_names: list[str]
    notes: list[str] = field(default_factory=list)  # plain sentences about what was left out and why

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.class_names)}


def find_images(root: Path) -> list[str]:
    """Relative '/'-separated paths of every readable image under root, hidden files and __MACOSX ignored."""
    found = []
    # os.walk does not follow links to folders, so a link cannot pull in images from elsewhere on the disk.
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if not path.is_symlink() and not is_ignored_name(relative) and is_readable_image(path):
                found.append(relative)
    return sorted(found)


def _find_label_csvs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.csv") if p.is_file() and not is_ignored_name(p.relative_to(root).as_posix()))


def load_labelled_images(root: str | Path, labels_csv: str | Path | None = None) -> LabelledImages:
    """The images under `root` with their classes, from class folders or from a CSV of filename,label.

    Without `labels_csv`, class folders win; a single CSV in the tree is used when the images are not in folders.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise ImageDataError(f"The folder {root} does not exist. Upload the zip again.")
    images = find_images(root)
    if not images:
        raise ImageDataError("No images were found. Upload a zip of PNG, JPEG, GIF, BMP, WebP or TIFF files.")
    if labels_csv is not None:
        return _labelled_from_csv(root, images, Path(labels_csv))
    grouping = group_by_class(images)
    if grouping.classes and (len(grouping.classes) >= MIN_CLASSES or not _find_label_csvs(root)):
        return _labelled_from_folders(root, grouping)
    csvs = _find_label_csvs(root)
    if len(csvs) == 1:
        return _labelled_from_csv(root, images, csvs[0])
    if len(csvs) > 1:
        raise ImageDataError(f"The zip holds {len(csvs)} CSV files ({', '.join(p.name for p in csvs[:5])}); keep "
                             "only the one with the columns filename,label.")
    raise ImageDataError("The images are not sorted into classes. Put each class in its own folder (for example "
                         "cats/1.jpg and dogs/2.jpg), or add a CSV file with the columns filename,label.")


def _labelled_from_folders(root: Path, grouping: ClassGrouping) -> LabelledImages:
    class_names = list(grouping.classes)
    if len(class_names) < MIN_CLASSES:
        raise ImageDataError(f"Only one class folder was found ('{class_names[0]}'). A classifier needs at least "
                             "two: add a folder of images for each other class, or give a CSV with the columns "
                             "filename,label.")
    files, labels = [], []
    for index, name in enumerate(class_names):
        files += [root / p for p in grouping.classes[name]]
        labels += [index] * len(grouping.classes[name])
    notes = []
    if grouping.loose:
        notes.append(f"{counted(len(grouping.loose), 'image')} outside the class folders "
                     f"{agree(len(grouping.loose), 'was', 'were')} left out "
                     f"(for example {grouping.loose[0]}).")
    return LabelledImages(root, files, labels, class_names, notes)


def _pick_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[c] for c in candidates if c in lowered), None)


def read_label_table(csv_path: Path) -> pd.DataFrame:
    """The CSV's filename and label columns, renamed to `filename`/`label`, as text."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise ImageDataError(f"The labels file {csv_path.name} could not be read as CSV. Save it as 'CSV UTF-8' "
                             "with a header row filename,label.") from error
    filename_column = _pick_column(list(table.columns), FILENAME_COLUMNS)
    label_column = _pick_column(list(table.columns), LABEL_COLUMNS)
    if filename_column is None or label_column is None:
        raise ImageDataError(f"The labels file {csv_path.name} needs a header row with the columns filename and "
                             f"label; it has {', '.join(map(str, table.columns[:6]))}.")
    table = table[[filename_column, label_column]].set_axis(["filename", "label"], axis=1)
    return table.assign(filename=table["filename"].str.strip(), label=table["label"].str.strip())


def _labelled_from_csv(root: Path, images: list[str], csv_path: Path) -> LabelledImages:
    table = read_label_table(csv_path)
    by_path = {p: p for p in images}
    csv_folder = csv_path.resolve().parent
    csv_prefix = csv_folder.relative_to(root).as_posix() if csv_folder.is_relative_to(root) else ""
    # A bare file name is enough when it is unambiguous; people rarely write the folder part in the CSV.
    names = Counter(PurePosixPath(p).name for p in images)
    by_name = {PurePosixPath(p).name: p for p in images if names[PurePosixPath(p).name] == 1}
    matched: dict[str, str] = {}
    missing = []
    for filename, label in zip(table["filename"], table["label"]):
        name = PurePosixPath(filename.replace("\\", "/")).as_posix()  # './a.png' → 'a.png'
        joined = f"{csv_prefix}/{name}" if csv_prefix and csv_prefix != "." else name
        path = by_path.get(joined) or by_path.get(name) or by_name.get(PurePosixPath(name).name)
        if path is None or not label:
            missing.append(filename)
        else:
            matched[path] = label
    if not matched:
        raise ImageDataError(f"None of the file names in {csv_path.name} match an image in the zip (first one: "
                             f"'{table['filename'].iloc[0] if len(table) else ''}'). Write each image's file name, "
                             "as it is in the zip, in the filename column.")
    class_names = sorted(set(matched.values()))
    if len(class_names) < MIN_CLASSES:
        raise ImageDataError(f"Every image in {csv_path.name} has the label '{class_names[0]}'. A classifier needs "
                             "at least two different labels.")
    index = {name: i for i, name in enumerate(class_names)}
    paths = sorted(matched)
    notes = []
    if missing:
        notes.append(f"{counted(len(missing), 'row')} of {csv_path.name} {agree(len(missing), 'names', 'name')} no "
                     f"image in the zip or {agree(len(missing), 'has', 'have')} no label (for example '{missing[0]}') "
                     f"and {agree(len(missing), 'was', 'were')} left out.")
    unlabelled = len(images) - len(paths)
    if unlabelled:
        notes.append(f"{counted(unlabelled, 'image')} {agree(unlabelled, 'has', 'have')} no row in {csv_path.name} "
                     f"and {agree(unlabelled, 'was', 'were')} left out.")
    return LabelledImages(root, [root / p for p in paths], [index[matched[p]] for p in paths], class_names, notes)


def to_hf_dataset(labelled: LabelledImages) -> datasets.Dataset:
    """A `datasets.Dataset` with `image` (decoded lazily by PIL) and `label` (a ClassLabel with the class names).

    Built with `from_dict` rather than `load_dataset("imagefolder")`: no builder, no cache folder, no network, and
    it works for the CSV layout as well.
    """
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=labelled.class_names)})
    return datasets.Dataset.from_dict({"image": [str(p) for p in labelled.files], "label": labelled.labels},
                                      features=features)


def load_image_dataset(root: str | Path, labels_csv: str | Path | None = None
                       ) -> tuple[datasets.Dataset, list[str], list[str]]:
    """(dataset with image/label columns, class names, notes about what was left out) for a folder of images."""
    labelled = load_labelled_images(root, labels_csv)
    return to_hf_dataset(labelled), labelled.class_names, labelled.notes


# ---------------------------------------------------------------------------------------------------- preview


@dataclass
class ImageSummary:
    class_counts: dict[str, int]
    image_count: int
    checked: int  # how many images had their size read (a sample when there are very many)
    min_size: tuple[int, int]  # (width, height) of the smallest by area
    max_size: tuple[int, int]
    most_common_size: tuple[int, int]
    modes: dict[str, int]  # PIL mode ('L' grey, 'RGB' colour, 'RGBA' with transparency…) → how many
    samples: dict[str, list[Path]]  # a few files per class for a thumbnail grid

    @property
    def all_grey(self) -> bool:
        return set(self.modes) <= {"L", "1", "LA", "I", "I;16", "F"}

    def describe(self) -> list[str]:
        """Plain sentences for the preview."""
        sizes = _size_text(self.min_size)
        if self.min_size != self.max_size:
            sizes = (f"from {_size_text(self.min_size)} to {_size_text(self.max_size)}, most often "
                     f"{_size_text(self.most_common_size)}")
        lines = [f"{self.image_count:,} images in {len(self.class_counts)} classes.",
                 f"Image sizes (width × height): {sizes}" + (
                     f" (from a sample of {self.checked:,})." if self.checked < self.image_count else "."),
                 "Colours: " + ", ".join(f"{MODE_NAMES.get(m, m)} ({n:,})" for m, n in self.modes.items()) + "."]
        counts = [c for c in self.class_counts.values() if c]
        if counts and max(counts) > 3 * min(counts):
            lines.append("Some classes have far more images than others; the model will lean towards the big ones.")
        return lines


MODE_NAMES = {"L": "greyscale", "1": "black and white", "RGB": "colour", "RGBA": "colour with transparency",
              "P": "palette colour", "LA": "greyscale with transparency", "CMYK": "print colour (CMYK)"}


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def summarize_images(labelled: LabelledImages, samples_per_class: int = 6, max_checked: int = 5000,
                     seed: int = 0) -> ImageSummary:
    """Counts, sizes and colour modes; sizes come from the image headers, so no pixels are decoded."""
    indices = list(range(len(labelled.files)))
    rng = random.Random(seed)
    if len(indices) > max_checked:
        indices = sorted(rng.sample(indices, max_checked))
    sizes: Counter[tuple[int, int]] = Counter()
    modes: Counter[str] = Counter()
    for i in indices:
        with Image.open(labelled.files[i]) as image:
            sizes[image.size] += 1
            modes[image.mode] += 1
    samples: dict[str, list[Path]] = {name: [] for name in labelled.class_names}
    for path, label in zip(labelled.files, labelled.labels):
        bucket = samples[labelled.class_names[label]]
        if len(bucket) < samples_per_class:
            bucket.append(path)
    by_area = sorted(sizes, key=lambda s: (s[0] * s[1], s))
    return ImageSummary(
        class_counts=labelled.class_counts(), image_count=len(labelled.files), checked=len(indices),
        min_size=by_area[0], max_size=by_area[-1], most_common_size=sizes.most_common(1)[0][0],
        modes=dict(modes.most_common()), samples=samples)


def suggest_preprocess(summary: ImageSummary) -> ImagePreprocessConfig:
    """A starting point: grey when every image is grey, the most common size kept when it is small."""
    side = max(summary.most_common_size)
    image_size = int(min(max(side, 16), 64))
    return ImagePreprocessConfig(image_size=image_size, grayscale=summary.all_grey)


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
    from core.data.uploads import DataError
    from core.tasks.text_classification.data import split_train_validation

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
                              validation: pd.DataFrame, preprocess: ImagePreprocessConfig, source: str,
                              checks: list[dict] | None = None):
    """Store the split rows and copy the image folder in as the dataset's `images/`.

    `details["image_preprocess"]` is the suggested preprocessing, which the Train page starts from.
    """
    from core.data.dataset_store import save_dataset

    return save_dataset(workspace, name, "image-classification", train, validation, source=source,
                        labels=list(labelled.class_names), checks=checks,
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
