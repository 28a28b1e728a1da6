"""Training images decoded once into memory, and augmented as tensors, instead of read from disk every batch.

The boundary: a split's `datasets.Dataset` (an `image` path column, a `label` column) and the run's
`ImagePreprocessConfig` in; the same dataset, in the same row order and with its path column untouched, out, with a
batch transform that yields {pixel_values, labels}. Each image is decoded, converted to grey or colour and resized
exactly as `core.tasks.image_classification.transforms.image_to_tensor` does it, once, into one uint8 tensor
(N, C, H, W); a batch takes its rows from there, and flip, pad-and-crop and rotation are drawn per row with torch.
The pixels without augmentation are the same as the per-batch path's.

When the cached tensor would not fit its budget (a quarter of the memory free now, or
`AI_PLAYGROUND_IMAGE_CACHE_MB` megabytes when that is set; 0 turns the cache off), the split keeps today's
per-batch decoding with PIL (`make_batch_transform`), and the log says so.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import datasets
import numpy as np
import psutil
import torch
import torch.nn.functional as F

from core.tasks.image_classification.training_images import image_paths
from core.tasks.image_classification.transforms import ImagePreprocessConfig, make_batch_transform, resized_image

BUDGET_VARIABLE = "AI_PLAYGROUND_IMAGE_CACHE_MB"
MEMORY_SHARE = 0.25  # of the memory free when the run starts: the model, optimiser and batches need the rest
ROW_COLUMN = "decoded_row"  # which cached image a row is: survives `select`/shuffles, unlike a position
MAX_DECODE_THREADS = 8  # PIL decodes and resizes outside the GIL, so threads do overlap


# ---------------------------------------------------------------------------------------------------- budget


def cache_bytes(rows: int, config: ImagePreprocessConfig) -> int:
    """What `rows` images take decoded: one byte per channel per pixel."""
    return rows * config.channels * config.image_size * config.image_size


def cache_budget() -> int:
    """Bytes the decoded images may take: the variable when set, else a share of the memory free now."""
    stated = os.environ.get(BUDGET_VARIABLE, "").strip()
    if stated:
        return int(float(stated) * 1024 * 1024)
    return int(psutil.virtual_memory().available * MEMORY_SHARE)


# ---------------------------------------------------------------------------------------------------- decoding


def _decode_one(path: str, config: ImagePreprocessConfig) -> np.ndarray:
    """(C, H, W) uint8 — decoded by datasets' own `Image` feature (which the per-batch path uses, EXIF turn
    included), then `resized_image` as `image_to_tensor` does, so the pixels are identical."""
    image = datasets.Image().decode_example({"path": path, "bytes": None})
    try:
        array = np.array(resized_image(image, config), dtype=np.uint8)  # writable, as torch wants
    finally:
        image.close()
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def decode_images(paths: list[str], config: ImagePreprocessConfig) -> torch.Tensor:
    """Every image once, in the order given, as one uint8 tensor (N, C, image_size, image_size)."""
    pixels = torch.empty((len(paths), config.channels, config.image_size, config.image_size), dtype=torch.uint8)

    def fill(index: int) -> None:
        pixels[index] = torch.from_numpy(_decode_one(paths[index], config))

    threads = max(1, min(MAX_DECODE_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(fill, range(len(paths))))  # list(): a failed decode raises here, not silently
    return pixels


# ---------------------------------------------------------------------------------------------------- augmentation


def flip(images: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """The `chosen` rows (a bool per row) mirrored left to right."""
    return torch.where(chosen[:, None, None, None], images.flip(-1), images)


def pad_and_crop(images: torch.Tensor, pad: int, offsets: torch.Tensor) -> torch.Tensor:
    """CIFAR's classic on a batch: pad by `pad` with 0 (black), then cut each row's window at its (top, left)
    offset, each in 0…2·pad, back to the original size."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (pad, pad, pad, pad), value=0.0)
    # A slice per row: about three times faster on a CPU than one gather with per-row index tensors.
    return torch.stack([padded[row, :, top:top + height, left:left + width]
                        for row, (top, left) in enumerate(offsets.tolist())])


def rotate(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Each row turned counter-clockwise by its angle (as PIL's `rotate`), bilinear, the corners filled with 0."""
    radians = torch.deg2rad(degrees.to(images.dtype))
    cos, sin = torch.cos(radians), torch.sin(radians)
    zero = torch.zeros_like(cos)
    # affine_grid maps each output pixel to where it samples the input; with y pointing down, sampling at the
    # point turned clockwise shows the picture turned counter-clockwise.
    theta = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(images: torch.Tensor, config: ImagePreprocessConfig, generator: torch.Generator) -> torch.Tensor:
    """The knobs' augmentation on a float batch in 0…1, a fresh draw per row; the same order as the PIL path
    (rotation, flip, crop), so a 0 fill is black in both."""
    rows = images.shape[0]
    if config.rotation_degrees:
        angles = (torch.rand(rows, generator=generator) * 2 - 1) * config.rotation_degrees
        images = rotate(images, angles)
    if config.horizontal_flip:
        images = flip(images, torch.rand(rows, generator=generator) < 0.5)
    if config.random_crop:
        pad = max(1, config.image_size // 8)
        images = pad_and_crop(images, pad, torch.randint(0, 2 * pad + 1, (rows, 2), generator=generator))
    return images


# ---------------------------------------------------------------------------------------------------- batches


class DecodedBatches:
    """For `Dataset.set_transform`: a batch of {decoded_row, label} becomes {pixel_values, labels} from the cache.

    A class, not a closure, so that DataLoader workers started by `spawn` can take it along.
    """

    def __init__(self, pixels: torch.Tensor, config: ImagePreprocessConfig, training: bool, seed: int = 0):
        self.pixels, self.config, self.training, self.seed = pixels, config, training, seed
        self.mean = torch.tensor(config.normalize_mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(config.normalize_std, dtype=torch.float32)[:, None, None]
        self._generators: dict[int | None, torch.Generator] = {}

    def generator(self) -> torch.Generator:
        """The run's seed in the training process. A DataLoader worker would start from a copy of that state and
        repeat its siblings' draws, so each takes the seed its loader gives it (distinct, and derived from the
        run's seed the Trainer set)."""
        worker = torch.utils.data.get_worker_info()
        key = worker.id if worker is not None else None
        if key not in self._generators:
            seed = worker.seed if worker is not None else self.seed
            self._generators[key] = torch.Generator().manual_seed(int(seed) % 2**63)
        return self._generators[key]

    def __call__(self, batch: dict[str, list]) -> dict[str, object]:
        # The same float32 arithmetic as image_to_tensor (÷255, −mean, ÷std), so unaugmented pixels agree.
        images = self.pixels[torch.as_tensor(batch[ROW_COLUMN], dtype=torch.long)].float() / 255.0
        if self.training:
            images = augment(images, self.config, self.generator())
        output: dict[str, object] = {"pixel_values": (images - self.mean) / self.std}
        if "label" in batch:
            output["labels"] = list(batch["label"])
        return output


def with_decoded_images(split: datasets.Dataset, config: ImagePreprocessConfig, training: bool,
                        seed: int = 0) -> datasets.Dataset:
    """The split, its rows in order and its `image` paths kept, read through the cache: only the row number and
    the label are formatted, so no batch opens an image file."""
    pixels = decode_images(image_paths(split.with_format(None)), config)  # paths, even if formatted before
    if ROW_COLUMN in split.column_names:  # prepared before: number its rows afresh
        split = split.remove_columns(ROW_COLUMN)
    split = split.add_column(ROW_COLUMN, list(range(len(split))))
    split.set_transform(DecodedBatches(pixels, config, training, seed), columns=[ROW_COLUMN, "label"])
    return split


def prepare_splits(train: datasets.Dataset, validation: datasets.Dataset, config: ImagePreprocessConfig,
                   seed: int, budget: int | None = None) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Both splits ready for the Trainer: decoded once when both fit the budget together, else decoded per batch
    as before. Training rows are augmented (seeded by `seed`); validation rows never are."""
    needed = cache_bytes(len(train) + len(validation), config)
    allowed = cache_budget() if budget is None else budget
    megabytes = needed / 1024 / 1024
    if needed > allowed:
        print(f"Images are decoded batch by batch: decoded once they would take {megabytes:,.1f} MB of memory, "
              f"over the {allowed / 1024 / 1024:,.1f} MB allowed ({BUDGET_VARIABLE} sets it).", flush=True)
        train.set_transform(make_batch_transform(config, training=True, seed=seed))
        validation.set_transform(make_batch_transform(config, training=False))
        return train, validation
    train = with_decoded_images(train, config, training=True, seed=seed)
    validation = with_decoded_images(validation, config, training=False)
    print(f"Decoded {len(train) + len(validation):,} images once into {megabytes:,.1f} MB of memory; "
          "augmentation runs on the tensors.", flush=True)
    return train, validation
