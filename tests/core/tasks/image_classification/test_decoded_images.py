"""Images decoded once and augmented as tensors: the same pixels as the per-batch PIL path, augmentation that does
what it says and repeats with its seed, and the per-batch path kept when the cache would not fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.tasks.image_classification.decoded import (
    BUDGET_VARIABLE,
    ROW_COLUMN,
    DecodedBatches,
    augment,
    cache_budget,
    decode_images,
    flip,
    pad_and_crop,
    prepare_splits,
    rotate,
)
from core.tasks.image_classification.training_images import image_dataset, image_paths
from core.tasks.image_classification.transforms import ImagePreprocessConfig, image_to_tensor

GREY = ImagePreprocessConfig(image_size=11, grayscale=True, normalize_mean=(0.3,), normalize_std=(0.7,))
COLOUR = ImagePreprocessConfig(image_size=9, grayscale=False, normalize_mean=(0.4, 0.5, 0.6),
                               normalize_std=(0.2, 0.3, 0.4))
AUGMENTED = ImagePreprocessConfig(image_size=12, grayscale=False, horizontal_flip=True, random_crop=True,
                                  rotation_degrees=15.0)


def odd_images() -> dict[str, Image.Image]:
    """One image of each awkward kind an upload brings, at sizes that are neither square nor round."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (13, 7, 4), dtype=np.uint8)
    palette = Image.fromarray(noise[:, :, 0] // 16, mode="L").convert("P")
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    palette.info["transparency"] = 3
    return {
        "grey": Image.fromarray(noise[:, :, 0], mode="L"),
        "colour": Image.fromarray(noise[:, :, :3], mode="RGB").resize((20, 11)),
        "rgba": Image.fromarray(noise, mode="RGBA"),
        "grey_alpha": Image.fromarray(noise[:, :, :2], mode="LA"),
        "palette": palette,
        "sixteen_bit": Image.fromarray((rng.integers(0, 4000, (15, 9))).astype(np.uint16)),
    }


@pytest.fixture
def image_files(tmp_path) -> list[str]:
    paths = []
    for name, image in odd_images().items():
        path = tmp_path / f"{name}.png"
        image.save(path)
        paths.append(str(path))
    return paths


def split_of(paths: list[str]):
    return image_dataset(paths, [i % 2 for i in range(len(paths))], ["a", "b"])


def rows(split, indices=None) -> torch.Tensor:
    batch = split[list(range(len(split))) if indices is None else indices]
    return torch.stack(list(batch["pixel_values"]))


# ---------------------------------------------------------------------------------------------------- same pixels


@pytest.mark.parametrize("config", [GREY, COLOUR], ids=["grey", "colour"])
def test_decoded_pixels_equal_the_per_batch_path(image_files, config):
    expected = torch.stack([image_to_tensor(Image.open(path), config) for path in image_files])
    batches = DecodedBatches(decode_images(image_files, config), config, training=False)
    cached = batches({ROW_COLUMN: list(range(len(image_files))), "label": [0] * len(image_files)})["pixel_values"]
    assert cached.shape == (len(image_files), config.channels, config.image_size, config.image_size)
    assert cached.dtype == torch.float32
    assert torch.allclose(cached, expected, atol=1e-6, rtol=0)


def test_prepared_splits_keep_row_order_labels_and_paths(image_files, capsys):
    train, validation = split_of(image_files), split_of(image_files[::-1])
    paths = image_paths(validation)
    train, validation = prepare_splits(train, validation, COLOUR, seed=1, budget=10**9)
    assert "Decoded 12 images once" in capsys.readouterr().out
    # The evaluation pairs these with the predictions, row by row.
    assert image_paths(validation.with_format(None)) == paths
    expected = torch.stack([image_to_tensor(Image.open(path), COLOUR) for path in paths])
    assert torch.allclose(rows(validation), expected, atol=1e-6, rtol=0)
    assert validation[[2, 0]]["labels"] == [validation[2]["labels"], validation[0]["labels"]]
    chosen = validation.select([4, 1])  # as the estimate's probe does: the rows keep their own images
    assert torch.allclose(rows(chosen), expected[[4, 1]], atol=1e-6, rtol=0)
    assert set(train[0]) == {"pixel_values", "labels"}  # the Trainer's collate reads exactly these


# ---------------------------------------------------------------------------------------------------- augmentation


def test_augmentation_keeps_shape_and_type_and_a_validation_batch_is_never_augmented(image_files):
    pixels = decode_images(image_files, AUGMENTED)
    batch = {ROW_COLUMN: list(range(len(image_files))), "label": [0] * len(image_files)}
    trained = DecodedBatches(pixels, AUGMENTED, training=True, seed=3)(batch)["pixel_values"]
    assert trained.shape == (len(image_files), 3, 12, 12) and trained.dtype == torch.float32
    checked = DecodedBatches(pixels, AUGMENTED, training=False)(batch)["pixel_values"]
    plain = torch.stack([image_to_tensor(Image.open(path), AUGMENTED) for path in image_files])
    assert torch.allclose(checked, plain, atol=1e-6, rtol=0) and not torch.allclose(trained, plain)


def test_flip_mirrors_only_the_chosen_rows():
    images = torch.rand(2, 3, 5, 7)
    flipped = flip(images, torch.tensor([True, False]))
    assert torch.equal(flipped[0], images[0].flip(-1)) and torch.equal(flipped[1], images[1])
    assert torch.equal(flipped[0][:, :, 0], images[0][:, :, -1])


def test_pad_and_crop_shifts_each_row_and_fills_black():
    images = torch.rand(3, 1, 8, 8) + 1  # nothing in the picture is 0, so the fill shows
    cropped = pad_and_crop(images, 2, torch.tensor([[2, 2], [0, 0], [4, 1]]))
    assert cropped.shape == images.shape
    assert torch.equal(cropped[0], images[0])  # the centre window: no shift
    assert torch.equal(cropped[1][:, 2:, 2:], images[1][:, :-2, :-2]) and (cropped[1][:, :2] == 0).all()
    assert torch.equal(cropped[2][:, :-2, 1:], images[2][:, 2:, :-1]) and (cropped[2][:, -2:] == 0).all()


def test_rotation_by_zero_is_identity_and_a_quarter_turn_matches_pil():
    images = torch.rand(4, 3, 9, 9)
    assert torch.allclose(rotate(images, torch.zeros(4)), images, atol=1e-6)
    grey = (np.arange(81, dtype=np.uint8).reshape(9, 9) * 3)
    turned = np.asarray(Image.fromarray(grey).rotate(90, resample=Image.Resampling.BILINEAR), dtype=np.float32)
    ours = rotate(torch.from_numpy(grey).float()[None, None], torch.tensor([90.0]))[0, 0]
    assert torch.allclose(ours, torch.from_numpy(turned), atol=1e-3)


def test_the_same_seed_gives_the_same_batches_and_another_seed_others():
    images = torch.rand(6, 3, 12, 12)

    def draws(seed: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        return [augment(images, AUGMENTED, generator) for _ in range(2)]

    first, again, other = draws(7), draws(7), draws(8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], first[1])  # every batch (every epoch) draws anew
    assert not torch.equal(first[0], other[0])


# ---------------------------------------------------------------------------------------------------- fallback


def test_a_tiny_budget_keeps_per_batch_decoding_and_says_so(image_files, capsys):
    train, validation = split_of(image_files), split_of(image_files)
    train, validation = prepare_splits(train, validation, GREY, seed=1, budget=100)
    assert "decoded batch by batch" in capsys.readouterr().out
    assert ROW_COLUMN not in validation.column_names
    expected = torch.stack([image_to_tensor(Image.open(path), GREY) for path in image_files])
    assert torch.allclose(rows(validation), expected, atol=1e-6, rtol=0)
    assert rows(train).shape == expected.shape


def test_the_budget_follows_the_variable(monkeypatch):
    monkeypatch.setenv(BUDGET_VARIABLE, "0")
    assert cache_budget() == 0
    monkeypatch.setenv(BUDGET_VARIABLE, "1.5")
    assert cache_budget() == int(1.5 * 1024 * 1024)
    monkeypatch.delenv(BUDGET_VARIABLE)
    assert cache_budget() > 0
