"""What a set of labelled images looks like, for the Data page's preview, and the image settings it suggests.

The boundary: `LabelledImages` (`core.tasks.image_classification.labelled`) in; counts, sizes, colour modes, a few
samples per class and plain sentences about them out. Sizes come from the image headers, so no pixels are decoded.
The suggested `ImagePreprocessConfig` is only a starting point the person can change.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core.tasks.image_classification.labelled import LabelledImages
from core.tasks.image_classification.transforms import ImagePreprocessConfig


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
