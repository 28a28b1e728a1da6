"""The two yardsticks the GPU check holds the engine to, recipe by recipe, on the same model, data and shape:

- a plain Trainer script as a person writes it from the transformers docs: `TrainingArguments` with the batch
  size, learning rate and steps, everything else left at its default;
- a raw PyTorch loop as a careful engineer writes it without a Trainer: bf16 autocast, TF32, fused AdamW,
  batches drawn on the GPU, `torch.compile` for the model built from zero, gradient clipping as the engine does.

Both are timed the same way as the engine: the wall clock between the end of the warm-up steps and the end of the
last step, the GPU synchronised at both ends. Also here: the model FLOPs per token and the GPU's peak, for MFU.
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
import time
from dataclasses import dataclass

import torch
from torch import nn
from transformers import TrainerCallback

from bench.gpu_recipes import Recipe, Sizes

# Dense bf16 tensor-core peak per GPU (vendor data sheets), by a piece of the name torch reports; first match wins.
PEAK_BF16_FLOPS = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("H200", 989e12),
                   ("GH200", 989e12), ("A100", 312e12), ("L40S", 362e12), ("L4", 121e12), ("A10", 125e12))


@dataclass(frozen=True)
class Measure:
    step_seconds: float
    batch: int
    length: int
    flops_per_token: float
    peak_flops: float | None

    @property
    def samples_per_second(self) -> float:
        return self.batch / self.step_seconds

    @property
    def tokens_per_second(self) -> float:
        return self.batch * self.length / self.step_seconds

    @property
    def mfu(self) -> float | None:
        return self.flops_per_token * self.tokens_per_second / self.peak_flops if self.peak_flops else None

    def as_dict(self) -> dict:
        return {"step_s": self.step_seconds, "samples_per_s": self.samples_per_second,
                "tokens_per_s": self.tokens_per_second, "mfu": self.mfu}


def peak_flops(device: str) -> float | None:
    if device != "cuda":
        return None  # a CPU's peak is not comparable; MFU is reported for GPUs only
    name = torch.cuda.get_device_name(0)
    return next((flops for piece, flops in PEAK_BF16_FLOPS if piece in name), None)


def flops_per_token(model: nn.Module, length: int, lora: bool) -> float:
    """Model FLOPs of one training token: 2 per weight of every matrix multiply and 4·layers·length·width for
    attention, forward; the backward pass doubles that for the activations and, unless only LoRA's adapters
    learn, once more for the weights."""
    matmul = sum(m.weight.numel() for m in model.modules()
                 if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D")
    config = model.config
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    heads = getattr(config, "num_attention_heads", None) or config.n_head
    width = heads * (getattr(config, "head_dim", None) or config.hidden_size // heads)
    forward = 2 * matmul + 4 * layers * length * width
    return forward * (2 if lora else 3)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------------- data


@dataclass
class RecipeData:
    """One recipe's tokenizer and examples: labelled texts for the classifier, one stream of token ids for LMs."""

    tokenizer: object
    texts: list[str] | None = None
    labels: list[int] | None = None
    ids: torch.Tensor | None = None


def recipe_data(recipe: Recipe, texts: list[str], labels: list[str] | None = None) -> RecipeData:
    from transformers import AutoTokenizer

    from core.tasks.text_generation.tokenizers import train_char_tokenizer

    if recipe.task == "text-classification":
        tokenizer = AutoTokenizer.from_pretrained(recipe.model_name)
        names = sorted(set(labels or []))
        return RecipeData(tokenizer, texts=texts, labels=[names.index(label) for label in labels or []])
    if recipe.from_scratch:
        tokenizer = train_char_tokenizer(texts, recipe.shape.length)
    else:
        tokenizer = AutoTokenizer.from_pretrained(recipe.model_name)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return RecipeData(tokenizer, ids=torch.tensor([i for piece in ids for i in piece], dtype=torch.long))


def build_model(recipe: Recipe, data: RecipeData, sizes: Sizes) -> nn.Module:
    """The recipe's model exactly as the engine builds it (same folder, same GPT shape, same LoRA)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from core.config.train_config import LoraSpec, ModelSpec
    from core.tasks.text_generation.models import add_lora, build_scratch_gpt

    torch.manual_seed(0)
    if recipe.task == "text-classification":
        return AutoModelForSequenceClassification.from_pretrained(recipe.model_name, num_labels=2)
    if recipe.from_scratch:
        spec = ModelSpec(source="scratch", name="gpt", tokenizer="char", embedding_dim=sizes.gpt["width"],
                         num_layers=sizes.gpt["layers"], num_heads=sizes.gpt["heads"], dropout=sizes.gpt["dropout"])
        return build_scratch_gpt(spec, data.tokenizer, recipe.shape.length)
    model = AutoModelForCausalLM.from_pretrained(recipe.model_name)
    if recipe.lora_rank:
        model = add_lora(model, LoraSpec(rank=recipe.lora_rank, alpha=2 * recipe.lora_rank))
    return model


# ---------------------------------------------------------------------------------------------------- plain Trainer


class StepClock(TrainerCallback):
    """The wall clock at the end of the warm-up step and of the last step, the GPU synchronised."""

    def __init__(self, warmup: int, device: str):
        self.warmup, self.device, self.marks = warmup, device, {}

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in (self.warmup, state.max_steps):
            synchronize(self.device)
            self.marks[state.global_step] = time.perf_counter()

    def seconds_per_step(self) -> float:
        (first, start), (last, end) = sorted(self.marks.items())[0], sorted(self.marks.items())[-1]
        return (end - start) / max(1, last - first)


def plain_trainer(recipe: Recipe, data: RecipeData, sizes: Sizes) -> tuple[float, float]:
    """(seconds per step of the plain script, the model's FLOPs per training token); the script is what the
    docs show."""
    import datasets
    from transformers import DataCollatorForLanguageModeling, DataCollatorWithPadding, Trainer, TrainingArguments

    shape, tokenizer = recipe.shape, data.tokenizer
    if recipe.task == "text-classification":
        table = datasets.Dataset.from_dict({"text": data.texts, "label": data.labels})
        table = table.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=shape.length),
                          batched=True)
        collator = DataCollatorWithPadding(tokenizer)
    else:
        blocks = data.ids[:len(data.ids) // shape.length * shape.length].view(-1, shape.length)
        table = datasets.Dataset.from_dict({"input_ids": blocks.tolist()})
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
    model = build_model(recipe, data, sizes)
    flops = flops_per_token(model, shape.length, bool(recipe.lora_rank))
    clock = StepClock(shape.warmup, sizes.device)
    with tempfile.TemporaryDirectory() as output:
        arguments = TrainingArguments(output_dir=output, per_device_train_batch_size=shape.batch,
                                      learning_rate=recipe.learning_rate, max_steps=shape.steps, save_strategy="no",
                                      report_to=[], disable_tqdm=True, use_cpu=sizes.device == "cpu")
        Trainer(model=model, args=arguments, train_dataset=table, data_collator=collator,
                callbacks=[clock]).train()
    del model
    release()
    return clock.seconds_per_step(), flops


# ---------------------------------------------------------------------------------------------------- raw loop


@contextlib.contextmanager
def tf32_matmuls(enabled: bool):
    """TF32 for fp32 matrix multiplies while the loop runs; the plain Trainer after it gets torch's default."""
    matmul = torch.backends.cuda.matmul
    name = "fp32_precision" if hasattr(matmul, "fp32_precision") else "allow_tf32"  # the name before torch 2.9
    previous = getattr(matmul, name)
    if enabled:
        setattr(matmul, name, "tf32" if name == "fp32_precision" else True)
    try:
        yield
    finally:
        setattr(matmul, name, previous)


def batches(recipe: Recipe, data: RecipeData, device: str):
    """Endless batches drawn on the device itself: random rows of the classifier's texts, random windows of the
    token stream for language models (nanoGPT's get_batch)."""
    shape = recipe.shape
    if recipe.task == "text-classification":
        encoded = data.tokenizer(data.texts, truncation=True, max_length=shape.length, padding="max_length",
                                 return_tensors="pt")
        rows = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
                "labels": torch.tensor(data.labels)}
        rows = {key: value.to(device) for key, value in rows.items()}
        while True:
            pick = torch.randint(0, len(rows["labels"]), (shape.batch,), device=device)
            yield {key: value[pick] for key, value in rows.items()}
    ids = data.ids.to(device)
    offsets = torch.arange(shape.length, device=device)
    while True:
        starts = torch.randint(0, len(ids) - shape.length, (shape.batch, 1), device=device)
        window = ids[starts + offsets]
        yield {"input_ids": window, "labels": window}


def raw_loop(recipe: Recipe, data: RecipeData, sizes: Sizes, compile_model: bool) -> float:
    """Seconds per step of the hand-written loop."""
    device, shape = sizes.device, recipe.shape
    gpu = device == "cuda"
    model = build_model(recipe, data, sizes).to(device).train()
    weights = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(weights, lr=recipe.learning_rate, weight_decay=0.01, fused=gpu)
    forward = torch.compile(model) if compile_model and gpu and recipe.from_scratch else model
    bf16 = gpu and torch.cuda.is_bf16_supported()
    source, marks = batches(recipe, data, device), {}
    with tf32_matmuls(gpu):
        for step in range(1, shape.steps + 1):
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
                loss = forward(**next(source)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(weights, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step in (shape.warmup, shape.steps):
                synchronize(device)
                marks[step] = time.perf_counter()
    del model, optimizer, forward
    release()
    return (marks[shape.steps] - marks[shape.warmup]) / max(1, shape.timed)


def measure(recipe: Recipe, step_seconds: float | None, model_flops: float, sizes: Sizes) -> Measure | None:
    if not step_seconds:
        return None
    return Measure(step_seconds, recipe.shape.batch, recipe.shape.length, model_flops, peak_flops(sizes.device))
