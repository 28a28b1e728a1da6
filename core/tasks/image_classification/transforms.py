"""Turning PIL images into the float tensors a vision model takes: the preprocessing settings and augmentation.

Separate because it is what training and prediction share and nothing else: `ImagePreprocessConfig` is stored
with the dataset and the run (`core.config.train_config` and `core.tasks.image_classification.pipeline` read it), and
the same
`image_to_tensor` serves the training batches and the Playground. It knows nothing about zips, folders or class
names, only about one image at a time and the settings to apply.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from core.config.knobs import check_limits, from_plain, knob, to_plain
from core.tasks.image_classification.files import ImageDataError


@dataclass(frozen=True)
class ImagePreprocessConfig:
    image_size: int = knob(28, "Every image is resized to this many pixels wide and high. Smaller trains faster; "
                               "larger keeps more detail.", min=8, max=1024)
    grayscale: bool = knob(True, "Turn images grey before training. Right for digits and scans; switch off when "
                                 "colour tells the classes apart.")
    normalize_mean: tuple[float, ...] = knob(
        (0.5,), "The average brightness subtracted from every pixel (one value, or one per colour channel), so the "
                "model sees numbers around zero.")
    normalize_std: tuple[float, ...] = knob(
        (0.5,), "What pixels are divided by after subtracting the mean (one value, or one per channel).")
    horizontal_flip: bool = knob(False, "While training, mirror half of the images left to right. Good for photos "
                                        "of objects; wrong for digits and letters, which change meaning.")
    random_crop: bool = knob(False, "While training, shift each image a little by padding its border and cutting a "
                                    "random window, so the model does not rely on exact positions.")
    rotation_degrees: float = knob(0.0, "While training, turn each image by a random angle up to this many degrees "
                                        "either way. 0 switches it off; 10–15 helps handwriting.", min=0.0, max=180.0)

    def __post_init__(self) -> None:
        check_limits(self)  # the image size and the rotation
        for name in ("normalize_mean", "normalize_std"):
            values = getattr(self, name)
            if len(values) not in (1, self.channels):
                raise ImageDataError(f"{name} needs one value or {self.channels} (one per channel), not {len(values)}.")
        if any(v <= 0 for v in self.normalize_std):
            raise ImageDataError("normalize_std values must be above zero: they divide every pixel.")

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImagePreprocessConfig:
        """Rebuilt from `to_dict()` JSON; unknown keys (from a newer version) are ignored."""
        return from_plain(cls, values)


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


def resized_image(image: Image.Image, config: ImagePreprocessConfig) -> Image.Image:
    """Grey or colour as the settings say, resized: the pixels before augmentation and normalisation. The one
    place this happens, so the per-batch path, the decoded-once cache and the previews cannot drift apart."""
    return _to_mode(image, config.grayscale).resize((config.image_size, config.image_size),
                                                   Image.Resampling.BILINEAR)


def image_to_tensor(image: Image.Image, config: ImagePreprocessConfig, training: bool = False,
                    rng: random.Random | None = None) -> torch.Tensor:
    """A float tensor (channels, image_size, image_size), normalised; augmented only when `training`."""
    image = resized_image(image, config)
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


def preview_resized(path: str | Path, config: ImagePreprocessConfig) -> Image.Image:
    """How the model will see an image: converted to grey or colour and resized, before normalisation."""
    with Image.open(path) as image:
        return resized_image(image, config)
