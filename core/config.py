"""The single source of a training run's settings: `ModelSpec` (which model) and `TrainConfig` (how to train it).

The Train page builds a `TrainConfig`, the run folder stores it as `config.json`, and the worker rebuilds it from
there. Each field's `help` metadata is the plain-English sentence the UI shows beside the knob, so the explanation
lives in exactly one place.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

TASKS = ("text-classification",)
MODEL_SOURCES = ("pretrained", "scratch")
SCRATCH_ARCHITECTURES = ("lstm", "transformer", "bag_of_embeddings")


def _knob(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field carrying its UI help text and, for numbers, the range the UI offers."""
    return field(default=default, metadata={"help": help, **limits})


@dataclass(frozen=True)
class ModelSpec:
    source: str = _knob("pretrained", "Start from a model that already knows language, or build a new one from zero.")
    name: str = _knob(
        "bundled:minilm-l6",
        "Pretrained: the bundled MiniLM, a Hugging Face id (needs internet) or a local folder. "
        "From scratch: lstm, transformer or bag_of_embeddings.",
    )
    tokenizer: str = _knob(
        "train",
        "From scratch only: 'train' learns a vocabulary from your own text; or name a pretrained tokenizer to reuse.",
    )
    vocab_size: int = _knob(8000, "How many word pieces the learned vocabulary keeps. More fits rarer words.",
                            min=500, max=50000)
    embedding_dim: int = _knob(128, "Length of the vector that stands for each word piece.", min=16, max=1024)
    hidden_size: int = _knob(128, "Width of the model's inner layers: wider learns more but is slower.",
                             min=16, max=2048)
    num_layers: int = _knob(1, "How many layers are stacked. Deeper can learn harder patterns.", min=1, max=12)
    num_heads: int = _knob(4, "Transformer only: attention heads per layer (must divide the embedding size).",
                           min=1, max=16)
    dropout: float = _knob(0.1, "Share of values randomly hidden during training, which fights memorising.",
                           min=0.0, max=0.8)
    bidirectional: bool = _knob(True, "LSTM only: read the text both forwards and backwards.")

    def __post_init__(self) -> None:
        if self.source not in MODEL_SOURCES:
            raise ValueError(f"model source must be one of {MODEL_SOURCES}, not {self.source!r}")
        if self.source == "scratch" and self.name not in SCRATCH_ARCHITECTURES:
            raise ValueError(f"a from-scratch model must be one of {SCRATCH_ARCHITECTURES}, not {self.name!r}")
        if self.source == "scratch" and self.name == "transformer" and self.embedding_dim % self.num_heads:
            raise ValueError(
                f"the embedding size ({self.embedding_dim}) must be a multiple of the number of heads "
                f"({self.num_heads}): change one of them"
            )


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = _knob("", "The prepared dataset (from the Data page) to learn from.")
    task: str = _knob("text-classification", "What the model learns to do.")
    model: ModelSpec = field(default_factory=ModelSpec, metadata={"help": "Which model to train."})
    epochs: float = _knob(2.0, "How many times the model reads the whole training set.", min=0.1, max=100.0)
    batch_size: int = _knob(32, "Examples read together per step. Smaller uses less memory.", min=1, max=1024)
    learning_rate: float = _knob(5e-5, "How big each correction step is. Too high is unstable, too low is slow.",
                                 min=1e-6, max=1e-1)
    warmup_ratio: float = _knob(0.1, "Share of training spent slowly raising the learning rate at the start.",
                                min=0.0, max=0.5)
    weight_decay: float = _knob(0.01, "Gentle pull of the weights towards zero, which fights memorising.",
                                min=0.0, max=0.5)
    max_length: int = _knob(128, "Longest text in word pieces; longer texts are cut.", min=8, max=2048)
    max_grad_norm: float = _knob(1.0, "Gradient clipping: caps each correction so one odd batch can't derail it.",
                                 min=0.0, max=100.0)
    seed: int = _knob(42, "Fixes the randomness so the same settings give the same result.", min=0, max=2**31 - 1)
    eval_every: int = _knob(0, "Check on the validation data every this many steps (0 = once per epoch).",
                            min=0, max=100000)
    early_stopping_patience: int = _knob(
        0, "Stop when validation accuracy hasn't improved for this many checks (0 = never stop early).",
        min=0, max=100)
    device: str = _knob("auto", "auto uses the GPU when there is one, else the CPU.")

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["model"] = ModelSpec(**_known_fields(ModelSpec, values.get("model", {})))
        return cls(**values)

    def save(self, path: Path) -> None:
        path.write_text(self.to_json())

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(json.loads(path.read_text()))


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    # Configs written by an older version may hold fields we have since dropped: ignore them, keep the rest.
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def field_help(cls: type, name: str) -> str:
    return next(f.metadata.get("help", "") for f in fields(cls) if f.name == name)


def field_limits(cls: type, name: str) -> tuple[Any, Any]:
    meta = next(f.metadata for f in fields(cls) if f.name == name)
    return meta.get("min"), meta.get("max")


# Presets are data: each names the hyperparameters it changes, per model source, since a pretrained model wants
# small careful steps while a model trained from zero needs larger ones and more passes.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "pretrained": {"epochs": 1.0, "learning_rate": 8e-5, "batch_size": 32, "max_length": 64},
        "scratch": {"epochs": 3.0, "learning_rate": 3e-3, "batch_size": 32, "max_length": 64},
    },
    "balanced": {
        "pretrained": {"epochs": 2.0, "learning_rate": 8e-5, "batch_size": 32, "max_length": 64},
        "scratch": {"epochs": 8.0, "learning_rate": 2e-3, "batch_size": 32, "max_length": 128},
    },
    "thorough": {
        "pretrained": {"epochs": 4.0, "learning_rate": 3e-5, "batch_size": 16, "max_length": 128,
                       "early_stopping_patience": 3},
        "scratch": {"epochs": 20.0, "learning_rate": 1e-3, "batch_size": 32, "max_length": 256,
                    "early_stopping_patience": 4},
    },
}
DEFAULT_PRESET = "balanced"

PRESET_DESCRIPTIONS = {
    "quick": "A first look in a minute or two: fewer passes over the data.",
    "balanced": "The default: good results at a sensible time.",
    "thorough": "More passes with early stopping: best results, takes longest.",
}


def apply_preset(config: TrainConfig, preset: str) -> TrainConfig:
    return replace(config, **PRESETS[preset][config.model.source])


def headless_command(run_dir: Path) -> str:
    """The shell command that trains this run without the UI, for people who want to script it."""
    return f"python -m core.worker {run_dir}"


def as_flat_dict(config: TrainConfig) -> dict[str, Any]:
    """`model.name` style keys, for tables that compare runs field by field."""
    flat = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            flat.update({f"{f.name}.{k}": v for k, v in asdict(value).items()})
        else:
            flat[f.name] = value
    return flat
