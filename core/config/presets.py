"""Presets: the starting hyperparameters for each task and model source, and the default model and config a new
run starts from. Plain data over `core.config.train_config`; the Train page and the tests read them from here.

Every preset must build a valid `TrainConfig` (inside every knob's limits):
`tests/core/config/test_config_limits.py` builds each one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.config.catalog import BUNDLED_PREFIX, ConfigError, architectures_for, bundled_models_for
from core.config.train_config import ModelSpec, TrainConfig

# Presets are data: the hyperparameters each one sets, per task and model source. A pretrained model wants small
# careful steps; a model trained from zero needs larger ones and more passes. Measured starting points:
# - text, pretrained: MiniLM on SST-2 (3k rows) reaches 0.84–0.86 dev accuracy with "balanced" (bench/).
# - text, scratch: every preset trains each architecture stably on short and long texts, 2 to 6 classes, 87 % one
#   class (tests/core/tasks/text_classification/test_preset_stability.py). The LSTM's blow-ups at these rates came
#   from batches of one length at a time and the Transformer's from its unnormalised output, not from the rates
#   (core.tasks.text_classification).
# - images, scratch: the classic CNN on 500 MNIST digits (400 to train): 0.90 held-out after 6 epochs at 3e-3, 0.95
#   after 8, 0.97 after 15 at 2e-3 (bench/mnist_cnn.py); "balanced" takes 10 to stay well inside 3 CPU minutes.
# - generation, scratch: nanoGPT's shakespeare-char settings, scaled down to what a CPU can do in minutes.
# - tables, scratch: Titanic 0.81–0.84 held-out accuracy with "balanced"; a few hundred rows (diabetes) overfit
#   within 100 epochs, so regression keeps the best check (R² 0.36–0.52 over four splits, on par with linear).
PRESET_NAMES = ("quick", "balanced", "thorough")
DEFAULT_PRESET = "balanced"
# No promises of time here: how long a preset takes depends on the data, the model and the machine, and the Train
# page shows it under this caption, measured on this machine (ui.train.estimate_view).
PRESET_DESCRIPTIONS = {
    "quick": "Fewest passes over the data: a first look at what the model can learn.",
    "balanced": "The default: more passes, for good results.",
    "thorough": "The most passes, with early stopping: the best results, and the longest run.",
}
PRESETS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("text-classification", "pretrained"): {
        "quick": {"epochs": 1.0, "learning_rate": 8e-5, "batch_size": 32, "max_length": 64},
        "balanced": {"epochs": 3.0, "learning_rate": 8e-5, "batch_size": 32, "max_length": 64},
        "thorough": {"epochs": 4.0, "learning_rate": 3e-5, "batch_size": 16, "max_length": 128,
                     "early_stopping_patience": 3},
    },
    ("text-classification", "scratch"): {
        "quick": {"epochs": 3.0, "learning_rate": 3e-3, "batch_size": 32, "max_length": 64},
        "balanced": {"epochs": 8.0, "learning_rate": 2e-3, "batch_size": 32, "max_length": 128},
        "thorough": {"epochs": 20.0, "learning_rate": 1e-3, "batch_size": 32, "max_length": 256,
                     "early_stopping_patience": 4},
    },
    ("text-generation", "pretrained"): {
        "quick": {"epochs": 1.0, "learning_rate": 2e-4, "batch_size": 8, "max_length": 256},
        "balanced": {"epochs": 2.0, "learning_rate": 2e-4, "batch_size": 8, "max_length": 384},
        "thorough": {"epochs": 3.0, "learning_rate": 1e-4, "batch_size": 8, "max_length": 512,
                     "early_stopping_patience": 3},
    },
    ("text-generation", "scratch"): {
        "quick": {"epochs": 1.0, "learning_rate": 2e-3, "batch_size": 32, "max_length": 128,
                  "warmup_ratio": 0.05, "weight_decay": 0.1},
        "balanced": {"epochs": 3.0, "learning_rate": 2e-3, "batch_size": 32, "max_length": 128,
                     "warmup_ratio": 0.05, "weight_decay": 0.1},
        "thorough": {"epochs": 10.0, "learning_rate": 1e-3, "batch_size": 64, "max_length": 256,
                     "warmup_ratio": 0.05, "weight_decay": 0.1, "early_stopping_patience": 3},
    },
    ("image-classification", "scratch"): {
        "quick": {"epochs": 5.0, "learning_rate": 3e-3, "batch_size": 32},
        "balanced": {"epochs": 10.0, "learning_rate": 3e-3, "batch_size": 32},
        "thorough": {"epochs": 40.0, "learning_rate": 1e-3, "batch_size": 32, "early_stopping_patience": 6},
    },
    ("image-classification", "pretrained"): {
        "quick": {"epochs": 1.0, "learning_rate": 5e-5, "batch_size": 16},
        "balanced": {"epochs": 3.0, "learning_rate": 5e-5, "batch_size": 16},
        "thorough": {"epochs": 6.0, "learning_rate": 3e-5, "batch_size": 16, "early_stopping_patience": 3},
    },
    ("tabular-classification", "scratch"): {
        "quick": {"epochs": 20.0, "learning_rate": 3e-3, "batch_size": 32, "weight_decay": 1e-4},
        "balanced": {"epochs": 60.0, "learning_rate": 3e-3, "batch_size": 32, "weight_decay": 1e-4},
        "thorough": {"epochs": 150.0, "learning_rate": 1e-3, "batch_size": 32, "weight_decay": 1e-4,
                     "early_stopping_patience": 10},
    },
    ("tabular-regression", "scratch"): {
        "quick": {"epochs": 30.0, "learning_rate": 3e-3, "batch_size": 32, "weight_decay": 1e-4},
        "balanced": {"epochs": 100.0, "learning_rate": 3e-3, "batch_size": 32, "weight_decay": 1e-4,
                     "early_stopping_patience": 10},
        "thorough": {"epochs": 250.0, "learning_rate": 1e-3, "batch_size": 32, "weight_decay": 1e-4,
                     "early_stopping_patience": 15},
    },
}


def apply_preset(config: TrainConfig, preset: str) -> TrainConfig:
    if preset not in PRESET_NAMES:
        raise ConfigError(f"There is no preset called {preset!r}; choose one of {', '.join(PRESET_NAMES)}.")
    return replace(config, **PRESETS[(config.task, config.model.source)][preset])


def default_model(task: str, source: str) -> ModelSpec:
    """A sensible model for a task: the bundled one when there is one, else the first architecture."""
    if source == "pretrained":
        bundled = bundled_models_for(task)
        name = BUNDLED_PREFIX + bundled[0].key if bundled else ""
        return ModelSpec(source="pretrained", name=name or "google/vit-base-patch16-224",
                         finetune="lora" if task == "text-generation" else "full")
    first = architectures_for(task)[0]
    overrides: dict[str, Any] = {}
    if task == "text-generation":
        # nanoGPT's shakespeare-char shape, narrowed so a CPU can train it in minutes.
        overrides = {"tokenizer": "char", "embedding_dim": 192, "num_layers": 4, "num_heads": 6, "dropout": 0.1}
    elif task.startswith("tabular"):
        overrides = {"hidden_sizes": (64,), "dropout": 0.1}
    elif task == "image-classification":
        overrides = {"dropout": 0.25}
    return ModelSpec(source="scratch", name=first.key, **overrides)


def default_config(task: str, dataset: str = "", source: str | None = None,
                   preset: str = DEFAULT_PRESET) -> TrainConfig:
    source = source or ("pretrained" if task in ("text-classification",) else "scratch")
    config = TrainConfig(dataset=dataset, task=task, model=default_model(task, source))
    return apply_preset(config, preset)
