"""What to change when a run would take too long or not fit in memory: each remedy is one click on the Train page.

A remedy names the settings it changes as the Train page's URL names them ("batch_size", "model.finetune",
"preset"), and says what it achieves where that can be worked out from the measurement without measuring again: the
time of fewer steps, the memory of a smaller batch (the memory held before training, plus gradients and optimizer
state, plus activations that grow with the batch). Others (a shorter maximum length, a smaller model) are measured
anew once chosen.

The boundary: suggestions as data; showing them and applying them is `ui.train.estimate_view`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.config.catalog import architecture
from core.config.presets import apply_preset
from core.config.train_config import TrainConfig
from core.estimate.extrapolation import GPU_SHARE, MEMORY_SHARE, estimate, plain_bytes, plain_duration
from core.estimate.measurement import BYTES_PER_TRAINED_WEIGHT, Measurement, step_settings

TARGET_SECONDS = 15 * 60  # what "fewer examples" aims for when a run is too long
TEXT_TASKS = ("text-classification", "text-generation")


@dataclass(frozen=True)
class Remedy:
    label: str  # the button's words
    changes: dict[str, Any] = field(default_factory=dict)  # settings by the names the Train page's URL uses
    effect: str = ""  # what it achieves, when known before measuring again


# ---------------------------------------------------------------------------------------------------- time


def shorter_run(config: TrainConfig, measurement: Measurement, preset: str,
                checkpoint_every: int | None = None) -> list[Remedy]:
    """The quickest ways to cut a long run: the Quick preset, fewer examples, shorter texts, a smaller model."""
    remedies = []
    if preset != "quick":
        quick = apply_preset(config, "quick")
        same_steps = step_settings(quick) == step_settings(config)
        effect = plain_duration(estimate(quick, measurement, checkpoint_every).seconds) if same_steps else ""
        remedies.append(Remedy("Use the Quick preset", {"preset": "quick"}, effect))
    steps = fewest_steps(config, measurement, TARGET_SECONDS, checkpoint_every)
    if steps:
        examples = steps * config.batch_size
        remedies.append(Remedy(f"Train on fewer examples: stop after {steps:,} steps ({examples:,} examples)",
                               {"max_steps": steps}, plain_duration(
                                   estimate(replace(config, max_steps=steps), measurement, checkpoint_every).seconds)))
    remedies.extend(shorter_texts(config))
    remedies.extend(smaller_model(config))
    return remedies


def fewest_steps(config: TrainConfig, measurement: Measurement, target: float,
                 checkpoint_every: int | None = None) -> int | None:
    """The most steps that fit in `target` seconds, when that is fewer than the run makes now."""
    def seconds(steps: int) -> float:
        return estimate(replace(config, max_steps=steps), measurement, checkpoint_every).seconds

    total = estimate(config, measurement, checkpoint_every).counts.steps
    if total <= 1 or seconds(1) > target:
        return None
    low, high = 1, total  # seconds(low) fits; find the largest that does
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if seconds(middle) <= target else (low, middle - 1)
    return low if low < total else None


def shorter_texts(config: TrainConfig) -> list[Remedy]:
    if config.task not in TEXT_TASKS or config.max_length < 32:
        return []
    shorter = config.max_length // 2
    return [Remedy(f"Cut texts at {shorter} tokens instead of {config.max_length}", {"max_length": shorter})]


def smaller_model(config: TrainConfig) -> list[Remedy]:
    model = config.model
    if model.source == "pretrained":
        if config.task == "text-generation" and model.finetune == "full":
            return [lora()]
        return []
    knobs = architecture(config.task, model.name).knobs
    if "num_layers" in knobs and model.num_layers > 1:
        return [Remedy(f"A smaller model: {model.num_layers // 2} layers instead of {model.num_layers}",
                       {"model.num_layers": model.num_layers // 2})]
    if "conv_channels" in knobs and max(model.conv_channels) > 8:
        halved = tuple(max(4, channels // 2) for channels in model.conv_channels)
        return [Remedy(f"A smaller model: {', '.join(map(str, halved))} filters", {"model.conv_channels": halved})]
    if "hidden_sizes" in knobs and max(model.hidden_sizes) > 8:
        halved = tuple(max(4, size // 2) for size in model.hidden_sizes)
        return [Remedy(f"A smaller model: hidden layers of {', '.join(map(str, halved))}",
                       {"model.hidden_sizes": halved})]
    if "embedding_dim" in knobs and model.embedding_dim >= 16:
        return [Remedy(f"A smaller model: width {model.embedding_dim // 2} instead of {model.embedding_dim}",
                       {"model.embedding_dim": model.embedding_dim // 2})]
    return []


def lora() -> Remedy:
    return Remedy("Fine-tune with LoRA (small add-ons) instead of every weight", {"model.finetune": "lora"})


# ---------------------------------------------------------------------------------------------------- memory


def memory_needed(measurement: Measurement, batch_size: int, measured_batch: int, on_gpu: bool) -> float:
    """The peak memory at another batch size: what is held before training and the weights' training state stay;
    the rest (activations, the batch's scores) grows with the batch."""
    peak = measurement.peak_gpu if on_gpu else measurement.peak_ram + measurement.ram_growth
    fixed = (0 if on_gpu else measurement.ram_before_training) \
        + measurement.trainable_parameters * BYTES_PER_TRAINED_WEIGHT
    fixed = min(fixed, peak)
    return fixed + (peak - fixed) * batch_size / max(measured_batch, 1)


def fitting_memory(config: TrainConfig, measurement: Measurement, available: int) -> list[Remedy]:
    """Settings that bring the run within the machine's memory (the GPU's on a GPU): a smaller batch (the largest
    that fits), LoRA instead of full fine-tuning, shorter texts."""
    on_gpu = bool(measurement.gpu_total)
    budget = measurement.gpu_total * GPU_SHARE if on_gpu else available * MEMORY_SHARE
    remedies = []
    batch = config.batch_size
    while batch > 1 and memory_needed(measurement, batch, config.batch_size, on_gpu) > budget:
        batch //= 2
    needed = memory_needed(measurement, batch, config.batch_size, on_gpu)
    if batch < config.batch_size and needed <= budget:
        # A probe stopped short of its peak knows only a lower bound: the smaller batch is measured again.
        effect = f"needs ~{plain_bytes(needed)}" if measurement.fits else ""
        remedies.append(Remedy(f"Batch size {batch} instead of {config.batch_size}", {"batch_size": batch}, effect))
    if config.task == "text-generation" and config.model.source == "pretrained" and config.model.finetune == "full":
        remedies.append(lora())
    remedies.extend(shorter_texts(config))
    return remedies
