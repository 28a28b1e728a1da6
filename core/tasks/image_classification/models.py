"""Image classifiers built from zero: the classic small CNN and the classic MLP, as `PreTrainedModel`s.

Being ordinary `PreTrainedModel`s means `Trainer`, `save_pretrained` (safetensors) and
`AutoModelForSequenceClassification.from_pretrained` treat them like any downloaded model. The boundary: models
take `pixel_values` tensors; turning files into those tensors is `core.tasks.image_classification.transforms`'s job.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from core.engine.training import count_parameters
from core.messages import PlainError
from core.tasks.image_classification.transforms import ImagePreprocessConfig

IMAGE_ARCHITECTURES = ("cnn", "mlp")


class VisionModelError(PlainError):
    """The model cannot be built or run as asked; the message says which setting to change."""


class ImageClassifierConfig(PretrainedConfig):
    """Settings of a from-scratch image classifier; stored as `config.json` beside the weights."""

    model_type = "aipg_image_classifier"

    def __init__(self, architecture: str = "cnn", image_size: int = 28, num_channels: int = 1,
                 conv_channels: list[int] | tuple[int, ...] = (32, 64, 128), kernel_size: int = 3,
                 dense_size: int = 128, hidden_sizes: list[int] | tuple[int, ...] = (128,), dropout: float = 0.25,
                 **kwargs):
        self.architecture = architecture
        self.image_size = image_size
        self.num_channels = num_channels
        self.conv_channels = list(conv_channels)  # lists, not tuples, so config.json round-trips unchanged
        self.kernel_size = kernel_size
        self.dense_size = dense_size
        self.hidden_sizes = list(hidden_sizes)
        self.dropout = dropout
        super().__init__(**kwargs)


def _check_config(config: ImageClassifierConfig) -> None:
    if config.architecture not in IMAGE_ARCHITECTURES:
        raise VisionModelError(f"The architecture must be one of {', '.join(IMAGE_ARCHITECTURES)}, "
                               f"not '{config.architecture}'.")
    if config.kernel_size < 1 or config.kernel_size % 2 == 0:
        raise VisionModelError(f"The kernel size must be an odd number such as 3 or 5, not {config.kernel_size}.")
    if not 0.0 <= config.dropout < 1.0:
        raise VisionModelError(f"Dropout must be at least 0 and below 1, not {config.dropout}.")
    sizes = config.conv_channels if config.architecture == "cnn" else config.hidden_sizes
    if any(int(s) < 1 for s in sizes) or (config.architecture == "cnn" and not sizes):
        raise VisionModelError("Every layer needs at least one channel or unit.")


class _ConvBody(nn.Module):
    """The classic Conv → ReLU → MaxPool blocks (32 → 64 → 128 channels), then Flatten → Dense → Dropout.

    Each block halves the picture; once it is down to one pixel the pooling stops, so tiny images still work.
    """

    def __init__(self, config: ImageClassifierConfig):
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = config.num_channels, config.image_size
        for width in config.conv_channels:
            layers += [nn.Conv2d(channels, width, config.kernel_size, padding=config.kernel_size // 2), nn.ReLU()]
            if side >= 2:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            channels = width
        self.features = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, config.dense_size), nn.ReLU(),
                                   nn.Dropout(config.dropout))
        self.output_size = config.dense_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.dense(self.features(pixel_values))


class _MLPBody(nn.Module):
    """The classic 784 → 128 → 10: flatten the picture, then Dense → ReLU → Dropout for each hidden size."""

    def __init__(self, config: ImageClassifierConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = config.num_channels * config.image_size * config.image_size
        for hidden in config.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        self.layers = nn.Sequential(*layers)
        self.output_size = width

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.layers(pixel_values)


_BODIES = {"cnn": _ConvBody, "mlp": _MLPBody}


class ImageClassifier(PreTrainedModel):
    config_class = ImageClassifierConfig
    base_model_prefix = "image_classifier"
    main_input_name = "pixel_values"

    def __init__(self, config: ImageClassifierConfig):
        _check_config(config)
        super().__init__(config)
        self.body = _BODIES[config.architecture](config)
        self.classifier = nn.Linear(self.body.output_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's own default (what the classic Keras/PyTorch recipes were tuned with); the library default
        # (normal, std 0.02) makes small nets learn slowly. `init.*` skip tensors already loaded from a checkpoint.
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                init.uniform_(module.bias, -bound, bound)

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                **_: object) -> SequenceClassifierOutput:
        pixel_values = self._check_pixels(pixel_values)
        logits = self.classifier(self.body(pixel_values))
        loss = nn.functional.cross_entropy(logits, labels.long()) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def _check_pixels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, H, W) greyscale batches get their channel axis; any other shape mismatch is explained."""
        config = self.config
        if pixel_values.dim() == 3 and config.num_channels == 1:
            pixel_values = pixel_values.unsqueeze(1)
        expected = (config.num_channels, config.image_size, config.image_size)
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise VisionModelError(f"The model expects images of shape {expected} (channels, height, width) but got "
                                   f"{tuple(pixel_values.shape[1:])}. Use the same image size and colour setting "
                                   "as in training.")
        return pixel_values.to(self.classifier.weight.dtype)


AutoConfig.register(ImageClassifierConfig.model_type, ImageClassifierConfig, exist_ok=True)
AutoModelForSequenceClassification.register(ImageClassifierConfig, ImageClassifier, exist_ok=True)


# ---------------------------------------------------------------------------------------------------- helpers


def build_image_classifier(class_names: list[str], preprocess: ImagePreprocessConfig, architecture: str = "cnn",
                           **knobs: object) -> ImageClassifier:
    """A fresh model whose input matches the preprocessing and whose outputs are the class names.

    `knobs` are ImageClassifierConfig settings (conv_channels, kernel_size, dense_size, hidden_sizes, dropout).
    """
    config = image_classifier_config(class_names, preprocess, architecture, **knobs)
    return ImageClassifier(config)


def image_classifier_config(class_names: list[str], preprocess: ImagePreprocessConfig, architecture: str = "cnn",
                            **knobs: object) -> ImageClassifierConfig:
    id2label = dict(enumerate(class_names))
    return ImageClassifierConfig(architecture=architecture, image_size=preprocess.image_size,
                                 num_channels=preprocess.channels, num_labels=len(class_names), id2label=id2label,
                                 label2id={name: i for i, name in id2label.items()}, **knobs)


def estimate_parameters(config: ImageClassifierConfig) -> int:
    """Parameter count shown before training, built on the meta device so no memory is allocated."""
    with torch.device("meta"):
        return count_parameters(ImageClassifier(config))
