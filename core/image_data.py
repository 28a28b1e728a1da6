"""Image classification data: unpacking a person's zip safely, finding the classes, previewing and transforming.

The boundary: this module turns an uploaded archive (or a folder) into checked image files, a `datasets.Dataset`
with `image`/`label` columns and the class names, and turns PIL images into float tensors. It knows nothing about
models or training. Every problem the person can fix is an `ImageDataError` whose message says how; files that
are merely unusable are skipped and listed with a reason instead of failing the whole upload.

Two layouts are understood:
- one folder per class (`cats/1.png`, `dogs/2.jpg`), optionally inside a single wrapper folder
  (`mnist_png_500/0/1.png`);
- images anywhere plus one CSV file with the columns `filename,label`.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import stat
import struct
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

import datasets
import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MEGABYTE = 1024 * 1024
# Formats PIL decodes by itself. Others (EPS runs Ghostscript, for one) are refused rather than opened.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
# A 8000×5000 photo is 40 M pixels; anything bigger is far beyond what a small classifier can use.
MAX_IMAGE_PIXELS = 40_000_000
# Only members this big can trip the per-file ratio check: tiny files compress oddly without being dangerous.
RATIO_CHECK_MIN_BYTES = MEGABYTE
COPY_CHUNK_BYTES = 64 * 1024
MAX_LABEL_FILE_BYTES = 20 * MEGABYTE
MIN_CLASSES = 2

REASON_OUTSIDE = "outside the folder"
REASON_LINK = "a link"
REASON_NOT_IMAGE = "not an image"
REASON_DAMAGED = "damaged or truncated image"
REASON_TOO_LARGE = "image too large"
REASON_ENCRYPTED = "password-protected"
REASON_DUPLICATE = "a second file with the same name"
REASON_UNWRITABLE = "its name clashes with a folder"

FILENAME_COLUMNS = ("filename", "file", "file_name", "image", "path", "image_path")
LABEL_COLUMNS = ("label", "class", "category", "target")


class ImageDataError(Exception):
    """The images cannot be used as they are; the message tells the person what to change."""


# ---------------------------------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class ClassGrouping:
    """How image paths (relative, '/'-separated) split into classes."""

    wrapper: str  # the folder(s) wrapping the class folders, '' when none
    classes: dict[str, list[str]]  # class name → paths relative to the extraction root
    loose: list[str]  # images that sit in no class folder


def is_ignored_name(relative_path: str) -> bool:
    """macOS resource forks and hidden files ('.DS_Store', '._x.png') are clutter, never data."""
    parts = PurePosixPath(relative_path).parts
    # '..' is not hidden: it is a way out of the folder, which safe_extract_zip reports.
    return any(part == "__MACOSX" or (part.startswith(".") and part not in (".", "..")) for part in parts)


def group_by_class(relative_paths: list[str]) -> ClassGrouping:
    """The first folder under any single wrapper folder names the class.

    A leading folder is only a wrapper when every path shares it *and* still has a class folder below it, so
    `cats/a.png, cats/b.png` stays one class called 'cats' rather than becoming loose files.
    """
    split = [PurePosixPath(p).parts for p in relative_paths]
    depth = 0
    while split and all(len(parts) >= depth + 3 for parts in split) and len({p[depth] for p in split}) == 1:
        depth += 1
    wrapper = "/".join(split[0][:depth]) if split else ""
    classes: dict[str, list[str]] = {}
    loose: list[str] = []
    for path, parts in zip(relative_paths, split):
        rest = parts[depth:]
        if len(rest) >= 2:
            classes.setdefault(rest[0], []).append(path)
        else:
            loose.append(path)
    return ClassGrouping(wrapper, dict(sorted(classes.items())), loose)


# ---------------------------------------------------------------------------------------------------- one image


def check_image_file(path: Path) -> str | None:
    """None when the file is a complete image in an allowed format, else the reason it is not.

    `verify()` checks the file's structure (PNG checksums); `load()` then decodes every pixel, because `verify()`
    alone does not notice a JPEG cut short.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=ALLOWED_FORMATS) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    return REASON_TOO_LARGE
                image.verify()
            with Image.open(path, formats=ALLOWED_FORMATS) as image:
                image.load()
    except UnidentifiedImageError:
        return REASON_NOT_IMAGE
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return REASON_TOO_LARGE
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        return REASON_DAMAGED
    return None


def is_readable_image(path: Path) -> bool:
    """A cheap header-only check, for files already vetted by `safe_extract_zip` or a folder on disk."""
    try:
        with Image.open(path, formats=ALLOWED_FORMATS):
            return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


# ---------------------------------------------------------------------------------------------------- the zip


@dataclass(frozen=True)
class SkippedFile:
    name: str  # the member name as written in the zip
    reason: str


@dataclass
class ExtractReport:
    root: Path
    kept: list[str] = field(default_factory=list)  # image paths relative to root, '/'-separated
    label_files: list[str] = field(default_factory=list)  # CSV files kept for the 'images + labels CSV' layout
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def kept_by_class(self) -> dict[str, list[str]]:
        return group_by_class(self.kept).classes

    def skipped_reasons(self) -> dict[str, int]:
        return dict(Counter(s.reason for s in self.skipped))


def _is_link(info: zipfile.ZipInfo) -> bool:
    # Unix zips keep the file mode in the top 16 bits of external_attr; a link's content is its target path.
    return stat.S_ISLNK(info.external_attr >> 16)


def _safe_destination(name: str, target: Path) -> Path | None:
    """Where a member may be written, or None when its name points outside the target folder."""
    cleaned = name.replace("\\", "/")
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        return None  # absolute Unix path or a Windows drive letter
    destination = (target / cleaned).resolve()
    return destination if destination.is_relative_to(target) and destination != target else None


def _refuse_oversized_archive(infos: list[zipfile.ZipInfo], max_files: int, max_total_bytes: int,
                              max_ratio: float) -> None:
    """Check what the archive *declares* before writing a single byte."""
    if len(infos) > max_files:
        raise ImageDataError(f"The zip holds {len(infos):,} files; the limit is {max_files:,}. "
                             "Upload a smaller sample, or split it into several zips.")
    total = sum(i.file_size for i in infos)
    if total > max_total_bytes:
        raise ImageDataError(f"Unpacked, the zip would take {total / MEGABYTE:,.0f} MB; the limit is "
                             f"{max_total_bytes / MEGABYTE:,.0f} MB. Resize the images or upload fewer of them.")
    compressed = sum(i.compress_size for i in infos)
    suspicious = [i for i in infos if i.file_size >= RATIO_CHECK_MIN_BYTES
                  and i.file_size > max_ratio * max(i.compress_size, 1)]
    if (total >= RATIO_CHECK_MIN_BYTES and total > max_ratio * max(compressed, 1)) or suspicious:
        raise ImageDataError("This zip expands to far more than its size (it looks like a 'zip bomb'), so it was "
                             "not unpacked. Zip the image files themselves again and upload that.")


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path, budget: int) -> int:
    """Stream one member to disk, never writing more than it declared nor more than the remaining budget."""
    limit = min(info.file_size, budget)
    written = 0
    with archive.open(info) as source, open(destination, "wb") as sink:
        while chunk := source.read(COPY_CHUNK_BYTES):
            written += len(chunk)
            if written > limit:
                raise ImageDataError("A file in the zip is bigger than the zip says it is, so unpacking stopped. "
                                     "Zip the images again with an ordinary zip tool.")
            sink.write(chunk)
    return written


def safe_extract_zip(zip_path: str | Path, target_dir: str | Path, max_files: int = 20000,
                     max_total_bytes: int = 500 * MEGABYTE, max_ratio: float = 100) -> ExtractReport:
    """Unpack only the usable images (and label CSVs) of a zip into `target_dir`; report everything skipped.

    Refuses the whole archive (ImageDataError) when it is not a zip, has too many members, would unpack to too
    many bytes, or compresses suspiciously well. Single members that escape the folder, are links, are not images
    or are damaged are skipped with a reason. `target_dir` should be new or empty: one upload per folder.
    """
    target = Path(target_dir).resolve()
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ImageDataError("This file is not a readable zip archive. Select the image folder, choose "
                             "'Compress' (or 'Send to → Compressed folder'), and upload the .zip it makes.") from error
    with archive:
        infos = archive.infolist()
        _refuse_oversized_archive(infos, max_files, max_total_bytes, max_ratio)
        target.mkdir(parents=True, exist_ok=True)
        report = ExtractReport(root=target)
        budget = max_total_bytes
        seen: set[Path] = set()
        for info in infos:
            if info.is_dir() or is_ignored_name(info.filename.replace("\\", "/")):
                continue
            budget -= _extract_member(archive, info, target, report, seen, budget)
    report.kept.sort()
    report.label_files.sort()
    return report


def _extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, report: ExtractReport,
                    seen: set[Path], budget: int) -> int:
    """Write one member if it is a usable image or label file; returns the bytes it used from the budget."""
    destination = _safe_destination(info.filename, target)
    reason = None
    if destination is None:
        reason = REASON_OUTSIDE
    elif _is_link(info):
        reason = REASON_LINK
    elif info.flag_bits & 0x1:
        reason = REASON_ENCRYPTED
    elif destination in seen:
        reason = REASON_DUPLICATE
    if reason:
        report.skipped.append(SkippedFile(info.filename, reason))
        return 0
    seen.add(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        written = _copy_member(archive, info, destination, budget)
    except (IsADirectoryError, NotADirectoryError, FileExistsError):
        # 'a/b' as a file and 'a/b/c.png' in one zip: the second cannot exist beside the first.
        report.skipped.append(SkippedFile(info.filename, REASON_UNWRITABLE))
        return 0
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
        # Corrupt compressed bytes (a bad checksum) or a compression method Python cannot unpack (Deflate64).
        destination.unlink(missing_ok=True)
        report.skipped.append(SkippedFile(info.filename, REASON_DAMAGED))
        return 0
    relative = destination.relative_to(target).as_posix()
    if destination.suffix.lower() == ".csv" and written <= MAX_LABEL_FILE_BYTES:
        report.label_files.append(relative)
        return written
    reason = check_image_file(destination)
    if reason:
        destination.unlink()
        report.skipped.append(SkippedFile(info.filename, reason))
        return 0
    report.kept.append(relative)
    return written


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
        notes.append(f"{len(grouping.loose)} image(s) outside the class folders were left out "
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
        notes.append(f"{len(missing)} row(s) of {csv_path.name} name no image in the zip or have no label "
                     f"(for example '{missing[0]}') and were left out.")
    unlabelled = len(images) - len(paths)
    if unlabelled:
        notes.append(f"{unlabelled} image(s) have no row in {csv_path.name} and were left out.")
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


# ---------------------------------------------------------------------------------------------------- transforms


def _knob(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field carrying its UI help text and, for numbers, the range the UI offers."""
    return field(default=default, metadata={"help": help, **limits})


@dataclass(frozen=True)
class ImagePreprocessConfig:
    image_size: int = _knob(28, "Every image is resized to this many pixels wide and high. Smaller trains faster; "
                                "larger keeps more detail.", min=8, max=256)
    grayscale: bool = _knob(True, "Turn images grey before training. Right for digits and scans; switch off when "
                                  "colour tells the classes apart.")
    normalize_mean: tuple[float, ...] = _knob(
        (0.5,), "The average brightness subtracted from every pixel (one value, or one per colour channel), so the "
                "model sees numbers around zero.")
    normalize_std: tuple[float, ...] = _knob(
        (0.5,), "What pixels are divided by after subtracting the mean (one value, or one per channel).")
    horizontal_flip: bool = _knob(False, "While training, mirror half of the images left to right. Good for photos "
                                         "of objects; wrong for digits and letters, which change meaning.")
    random_crop: bool = _knob(False, "While training, shift each image a little by padding its border and cutting a "
                                     "random window, so the model does not rely on exact positions.")
    rotation_degrees: float = _knob(0.0, "While training, turn each image by a random angle up to this many degrees "
                                         "either way. 0 switches it off; 10–15 helps handwriting.", min=0.0, max=45.0)

    def __post_init__(self) -> None:
        if not 8 <= self.image_size <= 1024:
            raise ImageDataError(f"The image size must be between 8 and 1024 pixels, not {self.image_size}.")
        for name in ("normalize_mean", "normalize_std"):
            values = getattr(self, name)
            if len(values) not in (1, self.channels):
                raise ImageDataError(f"{name} needs one value or {self.channels} (one per channel), not {len(values)}.")
        if any(v <= 0 for v in self.normalize_std):
            raise ImageDataError("normalize_std values must be above zero: they divide every pixel.")
        if not 0 <= self.rotation_degrees <= 180:
            raise ImageDataError("The rotation must be between 0 and 180 degrees.")

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImagePreprocessConfig:
        """Rebuilt from `to_dict()` JSON; unknown keys (from a newer version) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})


def suggest_preprocess(summary: ImageSummary) -> ImagePreprocessConfig:
    """A starting point: grey when every image is grey, the most common size kept when it is small."""
    side = max(summary.most_common_size)
    image_size = int(min(max(side, 16), 64))
    return ImagePreprocessConfig(image_size=image_size, grayscale=summary.all_grey)


def _to_mode(image: Image.Image, grayscale: bool) -> Image.Image:
    """'L' or 'RGB' from whatever was uploaded: photos turned upright, transparency put on white, 16-bit scaled."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        array = np.asarray(image, dtype=np.float32)
        top = float(array.max()) or 1.0
        image = Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L" if grayscale else "RGB")


def _augment(image: Image.Image, config: ImagePreprocessConfig, rng: random.Random) -> Image.Image:
    if config.rotation_degrees:
        angle = rng.uniform(-config.rotation_degrees, config.rotation_degrees)
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0)
    if config.horizontal_flip and rng.random() < 0.5:
        image = ImageOps.mirror(image)
    if config.random_crop:
        # CIFAR's classic: pad by an eighth of the side, then cut a window of the original size at random.
        pad = max(1, config.image_size // 8)
        padded = ImageOps.expand(image, border=pad, fill=0)
        left, top = rng.randint(0, 2 * pad), rng.randint(0, 2 * pad)
        image = padded.crop((left, top, left + config.image_size, top + config.image_size))
    return image


def image_to_tensor(image: Image.Image, config: ImagePreprocessConfig, training: bool = False,
                    rng: random.Random | None = None) -> torch.Tensor:
    """A float tensor (channels, image_size, image_size), normalised; augmented only when `training`."""
    image = _to_mode(image, config.grayscale)
    image = image.resize((config.image_size, config.image_size), Image.Resampling.BILINEAR)
    if training:
        image = _augment(image, config, rng or random)
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[:, :, None]
    mean = np.asarray(config.normalize_mean, dtype=np.float32)
    std = np.asarray(config.normalize_std, dtype=np.float32)
    return torch.from_numpy(((array - mean) / std).transpose(2, 0, 1).copy())


def make_batch_transform(config: ImagePreprocessConfig, training: bool,
                         seed: int | None = None) -> Callable[[dict[str, list]], dict[str, list]]:
    """For `Dataset.with_transform`: a batch of {image, label} becomes {pixel_values, labels}.

    The dataset's columns change names, so a `Trainer` using it needs `remove_unused_columns=False`.
    """
    rng = random.Random(seed)

    def transform(batch: dict[str, list]) -> dict[str, list]:
        output: dict[str, list] = {
            "pixel_values": [image_to_tensor(image, config, training, rng) for image in batch["image"]]}
        if "label" in batch:
            output["labels"] = list(batch["label"])
        return output

    return transform


def images_to_batch(images: list[Image.Image], config: ImagePreprocessConfig) -> torch.Tensor:
    """Images a person wants classified, as one (N, C, H, W) tensor without augmentation."""
    if not images:
        raise ImageDataError("Choose at least one image to classify.")
    return torch.stack([image_to_tensor(image, config, training=False) for image in images])


# ---------------------------------------------------------------------------------------------------- uploads

MAX_UPLOADED_IMAGE_BYTES = 20 * MEGABYTE


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


def read_uploaded_image(data: bytes) -> Image.Image:
    """An image a person wants classified, fully decoded, or an ImageDataError that says what is wrong with it."""
    if len(data) > MAX_UPLOADED_IMAGE_BYTES:
        raise ImageDataError(f"The image is over {MAX_UPLOADED_IMAGE_BYTES // MEGABYTE} MB. Save a smaller copy "
                             "(a few hundred pixels wide is plenty) and upload that.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ImageDataError("The image has too many pixels. Save a smaller copy and upload that.")
            image.load()
    except UnidentifiedImageError as error:
        raise ImageDataError("This file is not an image this app can read. Upload a PNG, JPEG, GIF, BMP, WebP or "
                             "TIFF file.") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageDataError("The image has too many pixels. Save a smaller copy and upload that.") from error
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise ImageDataError("The image is damaged or cut short. Save it again and upload the new file.") from error
    return image


def preview_resized(path: str | Path, config: ImagePreprocessConfig) -> Image.Image:
    """How the model will see an image: converted to grey or colour and resized, before normalisation."""
    with Image.open(path) as image:
        return _to_mode(image, config.grayscale).resize((config.image_size, config.image_size),
                                                       Image.Resampling.BILINEAR)


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
    from core.data import DataError, split_train_validation

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
    from core.dataset_store import save_dataset

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
