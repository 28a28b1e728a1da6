"""What bench/gpu_check.py trains: the bundled models' architectures with random weights, data they can learn, and
the sizes for one GPU or for the CPU dry run.

The GPU machine has no bundled model packages and no network, and only small files travel there, so everything is
built on the spot: MiniLM-L6's BertModel shape and Gemma 3 270M's shape from their configurations (random weights,
each with a tokenizer learned from the check's own text), the bundled image model's architecture, and generated
text whose labels and sentences follow rules a model picks up in a few dozen steps. The timing of a random model is
the real model's; its answers are noise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.lora_alpaca import GEMMA_3_270M

MINILM_L6 = {"vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
             "intermediate_size": 1536, "max_position_embeddings": 512}
# nanoGPT's shakespeare-char model: 10.7 M parameters with its 65 characters.
NANOGPT = {"layers": 6, "heads": 6, "width": 384, "dropout": 0.2}


@dataclass(frozen=True)
class Shape:
    """One speed recipe's batch, sequence length, and the steps before (warm-up, compiling) and during timing."""

    batch: int
    length: int
    warmup: int
    timed: int

    @property
    def steps(self) -> int:
        return self.warmup + self.timed


@dataclass(frozen=True)
class Sizes:
    device: str
    minilm: dict
    gemma: dict
    gpt: dict
    classifier: Shape
    gemma_shape: Shape
    gpt_shape: Shape
    text_rows: int  # labelled texts to train on
    words_per_text: int
    document_lines: int
    digits_per_class: int
    task_steps: int  # steps of each task check that is not a speed recipe
    minilm_learning_rate: float  # a random-weight MiniLM is trained from zero, not fine-tuned
    tokenizer_words: int  # the learned vocabularies' size (the models keep their own, larger, vocabulary)
    shakespeare_seconds: float
    shakespeare_steps: tuple[int, int]  # (steps asked for, a check every): the budget stops the run sooner
    text_characters: int | None  # of tiny Shakespeare for part 3 (all of it on a GPU)
    lanes: int  # worker runs at once where timing does not matter
    vocab_from_tokenizer: bool = False  # a tiny Gemma sized to its tokenizer


GPU = Sizes(device="cuda", minilm=MINILM_L6, gemma=GEMMA_3_270M, gpt=NANOGPT,
            classifier=Shape(64, 128, 10, 30), gemma_shape=Shape(16, 512, 4, 12), gpt_shape=Shape(64, 256, 10, 40),
            text_rows=4096, words_per_text=150, document_lines=20000, digits_per_class=60, task_steps=40,
            minilm_learning_rate=3e-4, tokenizer_words=8000, shakespeare_seconds=60.0, shakespeare_steps=(5000, 250),
            text_characters=None, lanes=4)
DRY = Sizes(device="cpu",
            minilm={**MINILM_L6, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                    "intermediate_size": 128},
            gemma={**GEMMA_3_270M, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 2, "head_dim": 32, "query_pre_attn_scalar": 32, "sliding_window": 32,
                   "max_position_embeddings": 1024, "layer_types": ["sliding_attention", "full_attention"]},
            gpt={"layers": 2, "heads": 2, "width": 64, "dropout": 0.1},
            classifier=Shape(16, 32, 2, 18), gemma_shape=Shape(4, 64, 2, 6), gpt_shape=Shape(8, 64, 2, 6),
            text_rows=200, words_per_text=48, document_lines=1500, digits_per_class=8, task_steps=12,
            minilm_learning_rate=1e-3, tokenizer_words=400, shakespeare_seconds=12.0, shakespeare_steps=(2000, 40),
            text_characters=200_000, lanes=2, vocab_from_tokenizer=True)


# ---------------------------------------------------------------------------------------------------- models


def minilm_folder(folder: Path, sizes: Sizes, texts: list[str]) -> Path:
    """MiniLM-L6's shape (the bundled sentence encoder is a BertModel) with random weights."""
    import torch
    from transformers import BertConfig, BertModel

    from core.tasks.text_classification.models import train_wordpiece_tokenizer

    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=sizes.tokenizer_words)
    torch.manual_seed(0)
    BertModel(BertConfig(**sizes.minilm)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def gemma_folder(folder: Path, sizes: Sizes, text: str) -> Path:
    """Gemma 3 270M's shape (Gemma3ForCausalLM, 262,144-word vocabulary) with random weights and a byte-level BPE
    vocabulary learned from the text (its ids are a small part of the model's vocabulary)."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from core.tasks.text_generation.tokenizers import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(text.splitlines(), vocab_size=sizes.tokenizer_words, context=2048)
    shape = {**sizes.gemma, **({"vocab_size": len(tokenizer)} if sizes.vocab_from_tokenizer else {})}
    special = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
               "bos_token_id": tokenizer.bos_token_id}
    torch.manual_seed(0)
    with torch.device(sizes.device):  # initialising 268 M weights takes seconds on a CPU, a blink on a GPU
        model = Gemma3ForCausalLM(Gemma3TextConfig(**shape, **special))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    if sizes.device == "cuda":
        torch.cuda.empty_cache()  # the workers training beside this process need the GPU's memory more
    return folder


def image_model(workspace, folder: Path, sizes: Sizes) -> str:
    """The app's default pretrained image model with random weights, as a TrainConfig model name: the bundled one
    (its converted folder placed where the app keeps it, so the bundled path runs), else a ViT-Base folder."""
    import torch

    from core.config.presets import default_model

    name = default_model("image-classification", "pretrained").name
    torch.manual_seed(0)
    if name.startswith("bundled:"):
        from core.tasks.image_classification.efficientnet_lite import (
            EfficientNetLiteConfig,
            EfficientNetLiteForImageClassification,
        )

        model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(num_labels=1000))
        like_trained_backbone(model.backbone, sizes.device)
        model.save_pretrained(workspace.models / name.removeprefix("bundled:"))
        return name
    from transformers import ViTConfig, ViTForImageClassification

    shape = {} if sizes.device == "cuda" else {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                               "intermediate_size": 64, "image_size": 32, "patch_size": 8}
    ViTForImageClassification(ViTConfig(**shape)).save_pretrained(folder)
    return str(folder)


def like_trained_backbone(backbone, device: str) -> None:
    """Random convolutions whose features carry a signal, as trained ones do: He initialisation keeps it alive
    through the 50 layers (the model's own, PyTorch's default, shrinks it to nothing), and batch-norm statistics
    measured on noise scale it as trained statistics would. A frozen backbone of PyTorch's defaults gives the new
    head features of 1e-8 and nothing to learn from."""
    import torch

    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for layer in backbone.modules():
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the measuring batches
    backbone.to(device).train()
    with torch.no_grad():
        backbone(torch.randn(16, 3, 224, 224, device=device))
    for norm in norms:
        norm.momentum = 0.01
    backbone.to("cpu")


# ---------------------------------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class Recipe:
    """One of the four speed recipes: the same model, data and shape for the engine, a plain Trainer script and
    a raw PyTorch loop."""

    key: str
    title: str
    shape: Shape
    dataset: str
    model_name: str  # a folder, or "gpt" (built from zero)
    learning_rate: float
    lora_rank: int = 0

    @property
    def from_scratch(self) -> bool:
        return self.model_name == "gpt"

    @property
    def task(self) -> str:
        return "text-classification" if self.dataset == "words" else "text-generation"


def recipes(sizes: Sizes, minilm: Path, gemma: Path, lm_dataset: str) -> list[Recipe]:
    return [
        Recipe("minilm", "MiniLM-L6 classifier", sizes.classifier, "words", str(minilm), sizes.minilm_learning_rate),
        Recipe("gemma-full", "Gemma 3 270M full fine-tune", sizes.gemma_shape, "document", str(gemma), 1e-4),
        Recipe("gemma-lora", "Gemma 3 270M LoRA r16", sizes.gemma_shape, "document", str(gemma), 5e-4, lora_rank=16),
        Recipe("gpt", "GPT 11M from scratch (nanoGPT shape)", sizes.gpt_shape, lm_dataset, "gpt", 1e-3),
    ]


def recipe_config(recipe: Recipe, sizes: Sizes):
    """The TrainConfig the Train page would build for the recipe, checked once at the end only (a check between
    timed steps would be timed too)."""
    from core.config.train_config import LoraSpec, ModelSpec, TrainConfig

    if recipe.from_scratch:
        model = ModelSpec(source="scratch", name="gpt", tokenizer="char", embedding_dim=sizes.gpt["width"],
                          num_layers=sizes.gpt["layers"], num_heads=sizes.gpt["heads"], dropout=sizes.gpt["dropout"])
    else:
        model = ModelSpec(source="pretrained", name=recipe.model_name,
                          finetune="lora" if recipe.lora_rank else "full")
    lora = LoraSpec(rank=recipe.lora_rank or 8, alpha=2 * (recipe.lora_rank or 8))
    return TrainConfig(dataset=recipe.dataset, task=recipe.task, model=model, lora=lora, device=sizes.device,
                       batch_size=recipe.shape.batch, max_length=recipe.shape.length, max_steps=recipe.shape.steps,
                       eval_every=recipe.shape.steps, learning_rate=recipe.learning_rate, warmup_ratio=0.1,
                       weight_decay=0.01)


PACKED_TASK = "GPT on instruction pairs"


def task_configs(sizes: Sizes, image_model_name: str) -> dict[str, object]:
    """The task checks that no speed recipe covers, as the Train page's defaults for each, cut to a few steps."""
    from core.config.presets import default_config

    steps = {"max_steps": sizes.task_steps, "device": sizes.device}
    image_pretrained = default_config("image-classification", "digits", source="pretrained")
    # Only the new head learns, from random features: it needs more steps than the others to show a falling loss.
    head_steps = {**steps, "max_steps": int(sizes.task_steps * 2.5)}
    return {
        "text classifier from scratch": replace(default_config("text-classification", "words", source="scratch"),
                                                **steps),
        "image CNN from scratch": replace(default_config("image-classification", "digits", source="scratch"),
                                          **steps),
        "image, pretrained model": replace(image_pretrained, model=replace(image_pretrained.model,
                                                                           name=image_model_name), **head_steps),
        "table MLP": replace(default_config("tabular-classification", "wine"), **steps),
        PACKED_TASK: replace(default_config("text-generation", "pairs", source="scratch"), **steps),
    }
