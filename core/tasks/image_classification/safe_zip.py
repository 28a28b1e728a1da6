"""Unpacking a person's zip safely: only usable images and label CSVs come out, within limits on count and size.

Separate because it is a security boundary: an uploaded archive is untrusted, and this is the only code that
writes its contents to disk. It refuses archives that are too many files, too many bytes or compress suspiciously
well (zip bombs), before writing a byte, and skips members that escape the folder, are links, are encrypted, clash
with another name or are not complete images, listing each with a reason. It knows nothing about classes beyond
grouping what was kept, nor about datasets or models.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.tasks.image_classification.files import (
    MAX_LABEL_FILE_BYTES,
    MEGABYTE,
    REASON_DAMAGED,
    ImageDataError,
    check_image_file,
    group_by_class,
    is_ignored_name,
)

# Only members this big can trip the per-file ratio check: tiny files compress oddly without being dangerous.
RATIO_CHECK_MIN_BYTES = MEGABYTE
COPY_CHUNK_BYTES = 64 * 1024

REASON_OUTSIDE = "outside the folder"
REASON_LINK = "a link"
REASON_ENCRYPTED = "password-protected"
REASON_DUPLICATE = "a second file with the same name"
REASON_UNWRITABLE = "its name clashes with a folder"


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
