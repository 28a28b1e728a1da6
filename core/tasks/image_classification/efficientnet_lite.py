"""EfficientNet-Lite as a `PreTrainedModel`: the architecture of the bundled ImageNet model, with a swappable head.

EfficientNet-Lite is EfficientNet made for phones: ReLU6 instead of Swish and no squeeze-and-excitation, so it is
small (4.7 M parameters for Lite0) and quick on a CPU. The layer names follow the bundled weights' layout
(`conv_stem`, `bn0`, `blocks.N.expand_conv`…, `conv_head`, `bn1`) so converting them is renaming keys
(`core.tasks.image_classification.pretrained` does that). Convolutions pad like TensorFlow's "SAME", because the
weights were trained in TensorFlow: a stride-2 layer pads one pixel more on the bottom and right.

For transfer learning `freeze_backbone` keeps every ImageNet weight (and the batch-norm statistics) as they are and
trains only the new head. Registered with the Auto classes, so `from_pretrained` of a run's model folder works.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForImageClassification, PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput

# EfficientNet-B0's stages, which Lite0 keeps: [kernel, stride, expansion, output channels, repeats].
LITE0_STAGES = ([3, 1, 1, 16, 1], [3, 2, 6, 24, 2], [5, 2, 6, 40, 2], [3, 2, 6, 80, 3], [5, 1, 6, 112, 3],
                [5, 2, 6, 192, 4], [3, 1, 6, 320, 1])


class EfficientNetLiteConfig(PretrainedConfig):
    model_type = "aipg_efficientnet_lite"

    def __init__(self, image_size: int = 224, num_channels: int = 3, stem_channels: int = 32,
                 head_channels: int = 1280, stages: list | tuple = LITE0_STAGES, dropout: float = 0.2,
                 batch_norm_eps: float = 1e-3, freeze_backbone: bool = False, head_lr_scale: float = 1.0,
                 **kwargs):
        self.image_size = image_size
        self.num_channels = num_channels
        self.stem_channels = stem_channels
        self.head_channels = head_channels
        self.stages = [list(stage) for stage in stages]  # lists, so config.json round-trips unchanged
        self.dropout = dropout
        self.batch_norm_eps = batch_norm_eps
        self.freeze_backbone = freeze_backbone
        self.head_lr_scale = head_lr_scale
        super().__init__(**kwargs)


class _SameConv(nn.Conv2d):
    """A convolution padded like TensorFlow's "SAME": the output is ceil(input / stride) on each side."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(nn.functional.pad(x, pads))


def _norm(channels: int, config: EfficientNetLiteConfig) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=config.batch_norm_eps, momentum=0.01)  # TensorFlow's decay of 0.99


class _MBConv(nn.Module):
    """Inverted residual: widen (1×1), filter each channel alone (depthwise), narrow back (1×1), add the input."""

    def __init__(self, config: EfficientNetLiteConfig, inputs: int, outputs: int, expansion: int, kernel: int,
                 stride: int):
        super().__init__()
        wide = inputs * expansion
        if expansion != 1:
            self.expand_conv = nn.Conv2d(inputs, wide, 1, bias=False)
            self.bn0 = _norm(wide, config)
        self.depthwise_conv = _SameConv(wide, wide, kernel, stride=stride, groups=wide, bias=False)
        self.bn1 = _norm(wide, config)
        self.project_conv = nn.Conv2d(wide, outputs, 1, bias=False)
        self.bn2 = _norm(outputs, config)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = x
        if hasattr(self, "expand_conv"):
            hidden = nn.functional.relu6(self.bn0(self.expand_conv(hidden)))
        hidden = nn.functional.relu6(self.bn1(self.depthwise_conv(hidden)))
        hidden = self.bn2(self.project_conv(hidden))
        return hidden + x if self.residual else hidden


class _Backbone(nn.Module):
    """Stem → 16 MBConv blocks → 1×1 head convolution → average pool: 1280 numbers describing the picture."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__()
        self.conv_stem = _SameConv(config.num_channels, config.stem_channels, 3, stride=2, bias=False)
        self.bn0 = _norm(config.stem_channels, config)
        blocks, channels = [], config.stem_channels
        for kernel, stride, expansion, outputs, repeats in config.stages:
            for repeat in range(repeats):
                blocks.append(_MBConv(config, channels, outputs, expansion, kernel, stride if repeat == 0 else 1))
                channels = outputs
        self.blocks = nn.ModuleList(blocks)
        self.conv_head = nn.Conv2d(channels, config.head_channels, 1, bias=False)
        self.bn1 = _norm(config.head_channels, config)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden = nn.functional.relu6(self.bn0(self.conv_stem(pixel_values)))
        for block in self.blocks:
            hidden = block(hidden)
        hidden = nn.functional.relu6(self.bn1(self.conv_head(hidden)))
        return hidden.mean(dim=(2, 3))


class _ScaledLinear(nn.Linear):
    """A linear layer that stores its weights divided by `scale`.

    The Trainer gives every weight one learning rate, small enough not to spoil the pretrained ones; a new head
    starting from random numbers needs far larger steps. Adam moves each stored number by about the learning rate
    per step whatever its size, so storing W / scale makes W itself move `scale` times faster.
    """

    def __init__(self, inputs: int, outputs: int, scale: float):
        super().__init__(inputs, outputs)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.scale, self.bias * self.scale)


class EfficientNetLiteForImageClassification(PreTrainedModel):
    config_class = EfficientNetLiteConfig
    base_model_prefix = "backbone"
    main_input_name = "pixel_values"

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        self.backbone = _Backbone(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = _ScaledLinear(config.head_channels, config.num_labels, config.head_lr_scale)
        self.post_init()
        if config.freeze_backbone:
            self.backbone.requires_grad_(False)

    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's defaults; the head's stored weights are divided by its scale so it starts at the usual size.
        # `init.*` skip tensors already loaded from a checkpoint.
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            scale = getattr(module, "scale", 1.0)
            bound = 1 / math.sqrt(fan_in) / scale
            init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def train(self, mode: bool = True) -> EfficientNetLiteForImageClassification:
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()  # frozen means the batch-norm statistics too, not only the weights
        return self

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                **_: object) -> ImageClassifierOutput:
        features = self.backbone(pixel_values.to(self.classifier.weight.dtype))
        logits = self.classifier(self.dropout(features))
        loss = nn.functional.cross_entropy(logits, labels.long()) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(EfficientNetLiteConfig.model_type, EfficientNetLiteConfig, exist_ok=True)
AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification,
                                         exist_ok=True)
