"""Image uploads: hostile zips are refused or trimmed, good ones become a labelled dataset and a preview."""

from __future__ import annotations

import io
import random
import stat
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.config.knobs import KnobError
from core.tasks.image_classification.files import REASON_DAMAGED, REASON_NOT_IMAGE, ImageDataError
from core.tasks.image_classification.labelled import LabelledImages, load_labelled_images
from core.tasks.image_classification.preview import suggest_preprocess, summarize_images
from core.tasks.image_classification.safe_zip import REASON_LINK, REASON_OUTSIDE, safe_extract_zip
from core.tasks.image_classification.training_images import image_dataset
from core.tasks.image_classification.transforms import ImagePreprocessConfig, image_to_tensor, make_batch_transform
from tests.support.paths import SHARED_DATASETS

MNIST_ZIP = SHARED_DATASETS / "mnist_png_500.zip"


def as_dataset(labelled: LabelledImages):
    """The images as training reads them: `image` decoded lazily, `label` a ClassLabel."""
    return image_dataset([str(path) for path in labelled.files], labelled.labels, labelled.class_names)


def image_bytes(size=(8, 8), mode="RGB", fmt="PNG", color=None, noise=False) -> bytes:
    if noise:
        pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        image = Image.fromarray(pixels).convert(mode)
    else:
        image = Image.new(mode, size, color if color is not None else 128)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def make_zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix, so the mode bits below are read as a file type
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def good_members(wrapper: str = "") -> dict[str, bytes]:
    prefix = f"{wrapper}/" if wrapper else ""
    members = {f"{prefix}cats/c{i}.png": image_bytes((10, 8), color=(200, 0, 0)) for i in range(3)}
    members |= {f"{prefix}dogs/d{i}.png": image_bytes((12, 12), mode="L") for i in range(2)}
    members[f"{prefix}dogs/big.jpg"] = image_bytes((20, 16), fmt="JPEG")
    return members


# ---------------------------------------------------------------------------------------------------- hostile zips


@pytest.mark.parametrize("name", ["../evil.png", "cats/../../evil.png", "/tmp/aipg_absolute_evil.png",
                                  "C:/evil.png", "..\\evil.png"])
def test_members_that_escape_the_folder_are_skipped(tmp_path, name):
    archive = make_zip(tmp_path / "up.zip", good_members() | {name: image_bytes()})
    target = tmp_path / "out"
    report = safe_extract_zip(archive, target)
    assert [(s.name, s.reason) for s in report.skipped] == [(name, REASON_OUTSIDE)]
    assert not (tmp_path / "evil.png").exists() and not Path("/tmp/aipg_absolute_evil.png").exists()
    assert len(report.kept) == 6


def test_symlink_member_is_skipped_and_never_created(tmp_path):
    archive = make_zip(tmp_path / "up.zip", good_members(), links={"cats/passwd.png": "/etc/passwd"})
    report = safe_extract_zip(archive, tmp_path / "out")
    assert [(s.name, s.reason) for s in report.skipped] == [("cats/passwd.png", REASON_LINK)]
    assert not (tmp_path / "out" / "cats" / "passwd.png").exists()


@pytest.mark.parametrize(("data", "reason"), [
    (b"this is a text file, not a picture", REASON_NOT_IMAGE),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", REASON_NOT_IMAGE),  # EPS would run Ghostscript
    (image_bytes((64, 64), noise=True)[:300], REASON_DAMAGED),  # PNG cut short
    (image_bytes((64, 64), fmt="JPEG", noise=True)[:900], REASON_DAMAGED),  # verify() alone misses this one
])
def test_files_that_are_not_whole_images_are_skipped_and_removed(tmp_path, data, reason):
    archive = make_zip(tmp_path / "up.zip", good_members() | {"cats/bad.png": data})
    report = safe_extract_zip(archive, tmp_path / "out")
    assert [(s.name, s.reason) for s in report.skipped] == [("cats/bad.png", reason)]
    assert not (tmp_path / "out" / "cats" / "bad.png").exists()
    assert report.kept_by_class == {"cats": ["cats/c0.png", "cats/c1.png", "cats/c2.png"],
                                    "dogs": ["dogs/big.jpg", "dogs/d0.png", "dogs/d1.png"]}


def test_corrupt_compressed_bytes_skip_only_that_member(tmp_path):
    archive = make_zip(tmp_path / "up.zip", {"cats/bad.png": image_bytes((64, 64), noise=True)} | good_members())
    raw = bytearray(archive.read_bytes())
    raw[200] ^= 0xFF  # inside the first member's compressed data
    archive.write_bytes(bytes(raw))
    report = safe_extract_zip(archive, tmp_path / "out")
    assert [(s.name, s.reason) for s in report.skipped] == [("cats/bad.png", REASON_DAMAGED)]
    assert len(report.kept) == 6 and not (tmp_path / "out" / "cats" / "bad.png").exists()


def test_too_many_files_refuses_the_whole_archive(tmp_path):
    archive = make_zip(tmp_path / "up.zip", {f"a/{i}.png": image_bytes() for i in range(6)})
    with pytest.raises(ImageDataError, match="holds 6 files; the limit is 5"):
        safe_extract_zip(archive, tmp_path / "out", max_files=5)
    assert not (tmp_path / "out").exists()


def test_declared_size_over_the_limit_refuses_the_whole_archive(tmp_path):
    archive = make_zip(tmp_path / "up.zip", {"a/1.png": image_bytes((300, 300), noise=True)})
    with pytest.raises(ImageDataError, match="limit is"):
        safe_extract_zip(archive, tmp_path / "out", max_total_bytes=1000)


def test_zip_bomb_ratio_refuses_the_whole_archive(tmp_path):
    archive = make_zip(tmp_path / "up.zip", good_members() | {"cats/bomb.png": bytes(8 * 1024 * 1024)})
    assert (tmp_path / "up.zip").stat().st_size < 100_000
    with pytest.raises(ImageDataError, match="zip bomb"):
        safe_extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_zip_is_refused_plainly(tmp_path):
    bogus = tmp_path / "photos.zip"
    bogus.write_bytes(b"not a zip at all")
    with pytest.raises(ImageDataError, match="not a readable zip"):
        safe_extract_zip(bogus, tmp_path / "out")


def test_macos_clutter_and_hidden_files_are_ignored_silently(tmp_path):
    clutter = {"__MACOSX/cats/._c0.png": b"junk", "cats/.DS_Store": b"junk", ".hidden/x.png": image_bytes()}
    report = safe_extract_zip(make_zip(tmp_path / "up.zip", good_members() | clutter), tmp_path / "out")
    assert report.skipped == []
    assert len(report.kept) == 6
    assert not (tmp_path / "out" / "__MACOSX").exists()


# ---------------------------------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("wrapper", ["", "pets", "upload/pets"])
def test_class_folders_with_or_without_wrapper_folders(tmp_path, wrapper):
    report = safe_extract_zip(make_zip(tmp_path / "up.zip", good_members(wrapper)), tmp_path / "out")
    assert {name: len(files) for name, files in report.kept_by_class.items()} == {"cats": 3, "dogs": 3}
    labelled = load_labelled_images(report.root)
    assert labelled.class_names == ["cats", "dogs"] and labelled.checks == []
    dataset = as_dataset(labelled)
    assert dataset.column_names == ["image", "label"] and len(dataset) == 6
    assert dataset.features["label"].names == ["cats", "dogs"]
    assert sorted(dataset["label"]) == [0, 0, 0, 1, 1, 1]
    assert dataset[0]["image"].size == (10, 8)


def test_summary_for_the_preview(tmp_path):
    report = safe_extract_zip(make_zip(tmp_path / "up.zip", good_members("pets")), tmp_path / "out")
    summary = summarize_images(load_labelled_images(report.root), samples_per_class=2)
    assert summary.class_counts == {"cats": 3, "dogs": 3}
    assert (summary.min_size, summary.max_size, summary.most_common_size) == ((10, 8), (20, 16), (10, 8))
    assert summary.modes == {"RGB": 4, "L": 2}
    assert [len(paths) for paths in summary.samples.values()] == [2, 2]
    assert all(path.is_file() for paths in summary.samples.values() for path in paths)
    assert "6 images in 2 classes." in summary.describe()
    assert not summary.all_grey


def test_one_class_folder_is_not_enough(tmp_path):
    members = {f"cats/{i}.png": image_bytes() for i in range(3)}
    report = safe_extract_zip(make_zip(tmp_path / "up.zip", members), tmp_path / "out")
    with pytest.raises(ImageDataError, match="at least two"):
        load_labelled_images(report.root)


def test_loose_images_without_labels_explain_the_two_layouts(tmp_path):
    members = {f"{i}.png": image_bytes() for i in range(3)}
    report = safe_extract_zip(make_zip(tmp_path / "up.zip", members), tmp_path / "out")
    with pytest.raises(ImageDataError, match="filename,label"):
        load_labelled_images(report.root)


def test_images_plus_a_csv_of_labels(tmp_path):
    members = {f"imgs/{i}.png": image_bytes(color=(i * 20, 0, 0)) for i in range(6)}
    csv = "filename,label\n" + "".join(f"{i}.png,{'odd' if i % 2 else 'even'}\n" for i in range(5)) + "gone.png,odd\n"
    members["labels.csv"] = csv.encode()
    report = safe_extract_zip(make_zip(tmp_path / "up.zip", members), tmp_path / "out")
    assert report.label_files == ["labels.csv"] and report.skipped == []
    labelled = load_labelled_images(report.root)
    assert labelled.class_names == ["even", "odd"]
    assert labelled.class_counts() == {"even": 3, "odd": 2}
    warnings = [check.message for check in labelled.checks if check.level == "warning"]
    assert any("gone.png" in warning for warning in warnings)  # named in the CSV, not in the zip
    assert any("1 image has no row" in warning for warning in warnings)  # 5.png has no label
    assert len(load_labelled_images(report.root, report.root / "labels.csv").files) == 5


def test_a_labels_csv_without_the_right_columns_says_which_it_needs(tmp_path):
    members = {f"{i}.png": image_bytes() for i in range(2)} | {"labels.csv": b"name,kind\n0.png,a\n1.png,b\n"}
    report = safe_extract_zip(make_zip(tmp_path / "up.zip", members), tmp_path / "out")
    with pytest.raises(ImageDataError, match="filename and label"):
        load_labelled_images(report.root)


@pytest.mark.skipif(not MNIST_ZIP.is_file(), reason="shared datasets not present")
def test_the_bundled_mnist_sample(tmp_path):
    report = safe_extract_zip(MNIST_ZIP, tmp_path / "mnist")
    assert report.skipped == [] and len(report.kept) == 500
    assert {name: len(files) for name, files in report.kept_by_class.items()} == {str(d): 50 for d in range(10)}
    labelled = load_labelled_images(report.root)
    summary = summarize_images(labelled)
    assert summary.class_counts == {str(d): 50 for d in range(10)}
    assert summary.min_size == summary.max_size == (28, 28) and summary.modes == {"L": 500}
    assert suggest_preprocess(summary) == ImagePreprocessConfig(image_size=28, grayscale=True)
    assert len(labelled.files) == 500 and labelled.class_names == [str(d) for d in range(10)]


# ---------------------------------------------------------------------------------------------------- transforms


def test_every_preprocessing_knob_has_help_text():
    assert all(f.metadata.get("help", "").endswith(".") for f in fields(ImagePreprocessConfig))


def test_transform_shapes_and_normalisation():
    image = Image.new("RGB", (40, 30), (255, 255, 255))
    grey = image_to_tensor(image, ImagePreprocessConfig(image_size=16))
    assert grey.shape == (1, 16, 16) and grey.dtype == torch.float32
    assert torch.allclose(grey, torch.ones_like(grey))  # white → 1.0 with mean 0.5, std 0.5
    colour = image_to_tensor(image, ImagePreprocessConfig(image_size=16, grayscale=False, normalize_mean=(0.0,),
                                                          normalize_std=(1.0,)))
    assert colour.shape == (3, 16, 16) and torch.allclose(colour, torch.ones_like(colour))


def test_transparent_pixels_become_white_not_black():
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    tensor = image_to_tensor(image, ImagePreprocessConfig(image_size=8, normalize_mean=(0.0,), normalize_std=(1.0,)))
    assert torch.allclose(tensor, torch.ones_like(tensor))


def test_augmentation_only_in_training_mode():
    config = ImagePreprocessConfig(image_size=16, horizontal_flip=True, random_crop=True, rotation_degrees=30)
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8))
    plain = image_to_tensor(image, config, training=False)
    assert torch.equal(plain, image_to_tensor(image, config, training=False))
    assert torch.equal(plain, image_to_tensor(image, ImagePreprocessConfig(image_size=16)))
    rng = random.Random(0)
    augmented = [image_to_tensor(image, config, training=True, rng=rng) for _ in range(4)]
    assert all(t.shape == plain.shape for t in augmented)
    assert not any(torch.equal(t, plain) for t in augmented)


def test_batch_transform_for_datasets(tmp_path):
    report = safe_extract_zip(make_zip(tmp_path / "up.zip", good_members()), tmp_path / "out")
    dataset = as_dataset(load_labelled_images(report.root))
    batch = dataset.with_transform(make_batch_transform(ImagePreprocessConfig(image_size=12), training=True))[:4]
    assert set(batch) == {"pixel_values", "labels"}
    assert [tuple(t.shape) for t in batch["pixel_values"]] == [(1, 12, 12)] * 4


def test_preprocess_config_round_trips_through_json_and_rejects_nonsense():
    config = ImagePreprocessConfig(image_size=32, grayscale=False, normalize_mean=(0.5, 0.4, 0.3),
                                   normalize_std=(0.2, 0.2, 0.2), rotation_degrees=10)
    assert ImagePreprocessConfig.from_dict(config.to_dict() | {"from_the_future": 1}) == config
    with pytest.raises(ImageDataError, match="one per channel"):
        ImagePreprocessConfig(grayscale=False, normalize_mean=(0.5, 0.5))
    with pytest.raises(KnobError, match="between 8 and 1,024"):  # the knob's own limits, checked on creation
        ImagePreprocessConfig(image_size=2)
