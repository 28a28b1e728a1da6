"""The single source of a training run's settings, as plain data (the catalogs of tasks and models they choose
from are `core.config.catalog`; the presets that fill them in, `core.config.presets`).

`TrainConfig` holds everything a run needs: the dataset, the task, the model (`ModelSpec`), LoRA settings
(`LoraSpec`), image preprocessing and the hyperparameters. The Train page builds it, the run folder stores it as
`config.json`, and the worker rebuilds it from there. Each field's `help` metadata is the plain-English sentence
the UI shows beside the knob, so the explanation lives in exactly one place; its `min`/`max` are checked whenever
a config is built (`core.config.knobs.check_limits`), so an impossible number never reaches training.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.config.catalog import (
    BUNDLED_PREFIX,
    TASKS,
    ConfigError,
    architecture,
    pretrained_tasks,
)
from core.config.knobs import check_limits, knob, known_fields
from core.tasks.image_classification.transforms import ImagePreprocessConfig
from core.workspace import write_text_atomic

# ---------------------------------------------------------------------------------------------------- settings

FINETUNE_METHODS = ("full", "lora")


@dataclass(frozen=True)
class ModelSpec:
    source: str = knob("pretrained", "Start from a model that already knows a lot, or build a new one from zero.")
    name: str = knob(
        "bundled:minilm-l6",
        "Pretrained: a bundled model, a Hugging Face id (needs internet) or a local folder. From scratch: which "
        "architecture to build.")
    tokenizer: str = knob(
        "train",
        "From scratch only: 'train' learns a vocabulary of word pieces from your own text, 'char' uses single "
        "characters (good for small text generators); or name a pretrained tokenizer to reuse.")
    vocab_size: int = knob(8000, "How many word pieces the learned vocabulary keeps. More fits rarer words.",
                           min=100, max=50000)
    embedding_dim: int = knob(128, "Length of the vector that stands for each word piece (the model's width).",
                              min=8, max=2048)
    hidden_size: int = knob(128, "Width of the model's inner layers: wider learns more but is slower.",
                            min=8, max=4096)
    num_layers: int = knob(2, "How many layers are stacked. Deeper can learn harder patterns.", min=1, max=24)
    num_heads: int = knob(4, "Attention heads per layer: each looks for a different kind of link between words "
                             "(must divide the width).", min=1, max=32)
    dropout: float = knob(0.1, "Share of values randomly hidden during training, which fights memorising.",
                          min=0.0, max=0.8)
    bidirectional: bool = knob(True, "LSTM only: read the text both forwards and backwards.")
    conv_channels: tuple[int, ...] = knob((32, 64, 128), "Filters in each convolution layer, first to last: each "
                                                          "layer finds larger shapes than the one before.")
    kernel_size: int = knob(3, "Side of the square window each filter looks through (odd: 3 or 5).", min=1, max=9)
    dense_size: int = knob(128, "Width of the dense layer that decides after the convolutions.", min=8, max=4096)
    hidden_sizes: tuple[int, ...] = knob((128,), "Width of each hidden layer, first to last.")
    finetune: str = knob("full", "Pretrained language models: 'full' trains every weight; 'lora' trains small "
                                 "add-on matrices only (far less memory, nearly as good).")

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        check_limits(self)
        if self.source not in ("pretrained", "scratch"):
            raise ConfigError(f"The model source must be 'pretrained' or 'scratch', not {self.source!r}.")
        if self.finetune not in FINETUNE_METHODS:
            raise ConfigError(f"Fine-tuning must be one of {', '.join(FINETUNE_METHODS)}, not {self.finetune!r}.")
        if not self.name.strip():
            raise ConfigError("Choose a model.")

    @property
    def is_bundled(self) -> bool:
        return self.name.startswith(BUNDLED_PREFIX)


@dataclass(frozen=True)
class LoraSpec:
    rank: int = knob(8, "Size of the add-on matrices. Higher can learn more; 8–16 is usual.", min=1, max=256)
    alpha: int = knob(16, "How strongly the add-ons count (scaled by alpha ÷ rank). Usually twice the rank.",
                      min=1, max=512)
    dropout: float = knob(0.05, "Share of the add-ons' inputs hidden during training, against memorising.",
                          min=0.0, max=0.5)
    target_modules: tuple[str, ...] = knob(
        ("q_proj", "k_proj", "v_proj", "o_proj"),
        "Which layers get add-ons: the attention projections by default; add gate_proj, up_proj, down_proj for "
        "more capacity.")

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(str(m) for m in self.target_modules))
        check_limits(self)
        if not self.target_modules:
            raise ConfigError("LoRA needs at least one target module, e.g. q_proj.")


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = knob("", "The prepared dataset (from the Data page) to learn from.")
    task: str = knob("text-classification", "What the model learns to do.")
    model: ModelSpec = field(default_factory=ModelSpec, metadata={"help": "Which model to train."})
    lora: LoraSpec = field(default_factory=LoraSpec, metadata={"help": "LoRA settings (used when fine-tuning "
                                                                       "a language model with LoRA)."})
    image: ImagePreprocessConfig = field(default_factory=ImagePreprocessConfig,
                                         metadata={"help": "How images are resized, normalised and augmented."})
    epochs: float = knob(2.0, "How many times the model reads the whole training set.", min=0.05, max=1000.0)
    max_steps: int = knob(0, "Stop after this many steps whatever the epochs say (0 = use the epochs). Handy for a "
                             "time-boxed run.", min=0, max=10_000_000)
    batch_size: int = knob(32, "Examples read together per step. Smaller uses less memory.", min=1, max=4096)
    learning_rate: float = knob(5e-5, "How big each correction step is. Too high is unstable, too low is slow.",
                                min=1e-7, max=1.0)
    warmup_ratio: float = knob(0.1, "Share of training spent slowly raising the learning rate at the start.",
                               min=0.0, max=0.5)
    weight_decay: float = knob(0.01, "Gentle pull of the weights towards zero, which fights memorising.",
                               min=0.0, max=1.0)
    max_length: int = knob(128, "Longest text in tokens; longer texts are cut. For text generation this is the "
                                "context: how far back the model can look.", min=8, max=8192)
    max_grad_norm: float = knob(1.0, "Gradient clipping: caps each correction so one odd batch can't derail it "
                                     "(0 = off).", min=0.0, max=100.0)
    class_weights: bool = knob(False, "Classification: count mistakes on rare classes more while training, so a "
                                      "model cannot score well by always answering the most common class.")
    seed: int = knob(42, "Fixes the randomness so the same settings give the same result.", min=0, max=2**31 - 1)
    eval_every: int = knob(0, "Check on the validation data every this many steps (0 = once per epoch).",
                           min=0, max=10_000_000)
    early_stopping_patience: int = knob(
        0, "Stop when the validation score hasn't improved for this many checks (0 = never stop early).",
        min=0, max=100)
    save_every: int = knob(0, "Save a checkpoint to resume from every this many steps (0 = at every check).",
                           min=0, max=10_000_000)
    sample_prompt: str = knob("", "Text generation: a prompt the model continues at every check, so you can read "
                                  "how it improves (empty = the start of a validation example).")
    device: str = knob("auto", "auto uses the GPU when there is one, else the CPU.")
    num_gpus: int = knob(1, "How many GPUs this run uses at once (data parallel). More than one needs a machine "
                            "with that many.", min=1, max=64)

    def __post_init__(self) -> None:
        check_limits(self)
        if self.task not in TASKS:
            raise ConfigError(f"The task must be one of {', '.join(TASKS)}, not {self.task!r}.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"The device must be auto, cpu or cuda, not {self.device!r}.")
        if self.model.source == "scratch":
            spec = architecture(self.task, self.model.name)
            if "num_heads" in spec.knobs and self.model.embedding_dim % self.model.num_heads:
                raise ConfigError(f"The width ({self.model.embedding_dim}) must be a multiple of the number of "
                                  f"heads ({self.model.num_heads}): change one of them.")
        elif self.task not in pretrained_tasks():
            raise ConfigError(f"There are no pretrained models for {TASKS[self.task].title.lower()}; build one "
                              "from scratch.")
        if self.model.finetune == "lora" and self.task != "text-generation":
            raise ConfigError("LoRA is offered for language models (text generation) only; choose 'full'.")

    @property
    def uses_lora(self) -> bool:
        return self.model.source == "pretrained" and self.model.finetune == "lora"

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))  # tuples become lists, as they will in the file

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        values = known_fields(cls, data)
        values["model"] = ModelSpec(**known_fields(ModelSpec, values.get("model") or {}))
        values["lora"] = LoraSpec(**known_fields(LoraSpec, values.get("lora") or {}))
        values["image"] = ImagePreprocessConfig.from_dict(values.get("image") or {})
        return cls(**values)

    def save(self, path: Path) -> None:
        # Whole or not at all: a full disk must not leave a 0-byte config.json that breaks every page listing runs.
        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(json.loads(path.read_text()))


def headless_command(run_dir: Path) -> str:
    """The shell command that trains this run without the UI, for people who want to script it."""
    return f"python -m core.engine.worker {run_dir}"


def as_flat_dict(config: TrainConfig) -> dict[str, Any]:
    """`model.name` style keys, for tables that compare runs field by field."""
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            flat.update({f"{f.name}.{k}": v for k, v in asdict(value).items()})
        else:
            flat[f.name] = value
    return flat
