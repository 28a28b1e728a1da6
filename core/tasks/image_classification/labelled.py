"""Which image is which class: a folder of checked images read as labelled images, in either of two layouts.

- one folder per class (`cats/1.png`, `dogs/2.jpg`), optionally inside a single wrapper folder
  (`mnist_png_500/0/1.png`);
- images anywhere plus one CSV file with the columns `filename,label`.

The boundary: a folder (unpacked by `core.tasks.image_classification.safe_zip`, or the built-in sample) in,
`LabelledImages` out. What one image file is lives in `core.tasks.image_classification.files`; previewing the set in
`core.tasks.image_classification.preview`; splitting and saving it in `core.tasks.image_classification.data`. Every
problem the person can fix is an `ImageDataError` whose message says how; images that are merely left out (no label,
outside the class folders) are listed as warning `Check`s instead of failing the whole upload.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from core.data.uploads import Check
from core.messages import agree, counted
from core.tasks.image_classification.files import (
    ClassGrouping,
    ImageDataError,
    group_by_class,
    is_ignored_name,
    is_readable_image,
)

MIN_CLASSES = 2

FILENAME_COLUMNS = ("filename", "file", "file_name", "image", "path", "image_path")
LABEL_COLUMNS = ("label", "class", "category", "target")


@dataclass
class LabelledImages:
    """Image files with their class; the one shape both layouts end up in."""

    root: Path
    files: list[Path]
    labels: list[int]  # index into class_names
    class_names: list[str]
    checks: list[Check] = field(default_factory=list)  # warnings: what was left out and why

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
    checks = []
    if grouping.loose:
        checks.append(Check("warning", f"{counted(len(grouping.loose), 'image')} outside the class folders "
                                       f"{agree(len(grouping.loose), 'was', 'were')} left out "
                                       f"(for example {grouping.loose[0]})."))
    return LabelledImages(root, files, labels, class_names, checks)


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
    checks = []
    if missing:
        checks.append(Check("warning", f"{counted(len(missing), 'row')} of {csv_path.name} "
                                       f"{agree(len(missing), 'names', 'name')} no image in the zip or "
                                       f"{agree(len(missing), 'has', 'have')} no label (for example '{missing[0]}') "
                                       f"and {agree(len(missing), 'was', 'were')} left out."))
    unlabelled = len(images) - len(paths)
    if unlabelled:
        checks.append(Check("warning", f"{counted(unlabelled, 'image')} {agree(unlabelled, 'has', 'have')} no row in "
                                       f"{csv_path.name} and {agree(unlabelled, 'was', 'were')} left out."))
    return LabelledImages(root, [root / p for p in paths], [index[matched[p]] for p in paths], class_names, checks)
