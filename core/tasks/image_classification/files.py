"""Image files on their own: which formats and sizes are accepted, which names are clutter, how paths form classes.

Separate because everything else about images builds on it: the zip extraction
(`core.tasks.image_classification.safe_zip`) checks each member with `check_image_file`, the labelling
(`core.tasks.image_classification.labelled`) finds and groups images with the same rules, and the Playground
decodes a single upload with `read_uploaded_image`. It is the bottom of the image modules' import graph, so
`ImageDataError`, the one error all of them raise, lives here. Every problem the person can fix is an
`ImageDataError` whose message says how.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from core.messages import PlainError

MEGABYTE = 1024 * 1024
# Formats PIL decodes by itself. Others (EPS runs Ghostscript, for one) are refused rather than opened.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
# A 8000×5000 photo is 40 M pixels; anything bigger is far beyond what a small classifier can use.
MAX_IMAGE_PIXELS = 40_000_000
# The largest labels CSV accepted, whether it comes inside the zip or is uploaded beside it.
MAX_LABEL_FILE_BYTES = 20 * MEGABYTE
MAX_UPLOADED_IMAGE_BYTES = 20 * MEGABYTE

REASON_NOT_IMAGE = "not an image"
REASON_DAMAGED = "damaged or truncated image"
REASON_TOO_LARGE = "image too large"


class ImageDataError(PlainError):
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
