"""Text generation: a causal language model learns to continue a text or to answer instructions like the examples.

Data (saved by `core.tasks.text_generation.data`, format in `details["format"]`):
- "instruction" pairs are shown to the model through `PROMPT_TEMPLATE` and the loss counts only the response
  tokens (labels are -100 on the prompt), so the model learns to answer rather than to write questions;
- "text" (one document) is tokenized, concatenated and cut into blocks of the context length (`max_length`).

Models:
- pretrained: the bundled Gemma 3 270M (converted once by `core.lm.loading`), a hub id or a local folder, safetensors
  only; fine-tuned in full or with LoRA through `peft` (only small add-on matrices learn);
- from scratch: a small GPT built from `transformers.GPT2Config`, with a tokenizer learned from the person's own
  text by `tokenizers` (single characters, or byte-level BPE word pieces) and saved beside the model.

While training, `SampleCallback` writes what the model makes of a fixed prompt at every evaluation to
`run_dir/samples.jsonl`, which the live panel shows under the charts. The model folder holds the weights (or, for
LoRA, the adapter only), the tokenizer and `text_generation.json` (the data format and prompt template, so the
Playground can wrap a prompt the way the model was trained). `export_merged` folds a LoRA adapter into its base
model (`merge_and_unload`) as a standalone folder.

This module puts the job together; the parts live beside it: `core.tasks.text_generation.tokenizers` (tokenizers
learned from the text), `core.tasks.text_generation.models` (loading or building the model, LoRA),
`core.tasks.text_generation.blocks` (tokenizing and cutting the data), `core.tasks.text_generation.callbacks`
(samples.jsonl, extra checks); and in `core.lm`, shared with the Prompt lab and the Playground: `writing` (how the
model writes, with `decoding`'s settings) and `predictor` (the finished model folder read back, `export_merged`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    DataCollatorForSeq2Seq,
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainerCallback,
)

from core.config.catalog import BUNDLED_PREFIX
from core.config.train_config import TrainConfig
from core.data.dataset_store import PreparedDataset
from core.engine.run_folder import EVAL_FILE, MODEL_DIR, SAMPLES_FILE, read_samples, write_json_atomic
from core.engine.training import DevicePlan, TrainingPlan, count_parameters, save_trained_model
from core.lm.decoding import DecodingSettings
from core.lm.loading import FORMAT_FILE
from core.lm.predictor import TextGeneratorPredictor, never_written
from core.tasks.text_classification.models import ModelError
from core.tasks.text_generation.blocks import random_windows, text_blocks, tokenize_pairs, training_texts
from core.tasks.text_generation.callbacks import SampleCallback, live_evaluation
from core.tasks.text_generation.data import FORMAT_INSTRUCTION, PROMPT_TEMPLATE
from core.tasks.text_generation.models import load_model
from core.tasks.text_generation.packing import PackedBatches, packs
from core.tasks.text_generation.saving import dataset_format, join_document
from core.tasks.text_generation.tokenizers import SPECIAL_TOKENS
from core.workspace import Workspace

MAX_EVAL_ROWS = 200  # validation blocks or pairs per check: enough for a steady loss, cheap enough to check often


# ---------------------------------------------------------------------------------------------------- the job


def sample_prompt(config: TrainConfig, text_format: str, validation: pd.DataFrame) -> tuple[str, str]:
    """(what the model is given, what the person is shown): their prompt, else the start of a validation example."""
    if text_format == FORMAT_INSTRUCTION:
        shown = config.sample_prompt.strip() or str(validation["prompt"].iloc[0])
        return PROMPT_TEMPLATE.format(prompt=shown), shown
    if config.sample_prompt:
        return config.sample_prompt, config.sample_prompt
    start = join_document(validation)[:60]
    start = start[:start.rfind(" ")] if " " in start[20:] else start  # end on a whole word
    return start, start


def sample_length(config: TrainConfig) -> int:
    if config.model.source == "scratch":
        return 240 if config.model.tokenizer == "char" else 80
    return 64


def build_plan(config: TrainConfig, dataset: PreparedDataset, run_dir: Path, device: DevicePlan) -> TrainingPlan:
    workspace = Workspace(run_dir.resolve().parent.parent)
    text_format = dataset_format(dataset)
    train_rows, validation_rows = dataset.frames()
    model, tokenizer, base_source = load_model(config, training_texts(train_rows, text_format), workspace, run_dir)
    if text_format == FORMAT_INSTRUCTION:
        train, validation = (tokenize_pairs(rows, tokenizer, config.max_length)
                             for rows in (train_rows, validation_rows))
        if len(train) == 0 or len(validation) == 0:
            raise ModelError(f"Every prompt is longer than the context ({config.max_length} tokens), so nothing is "
                             "left to learn from. Raise the maximum length.")
    else:
        # Validation keeps fixed blocks, so every check measures the same text and the curve is comparable.
        train = random_windows(train_rows, tokenizer, config.max_length)
        validation = text_blocks(validation_rows, tokenizer, config.max_length)
        if len(train.ids) < 2 or len(validation) == 0:
            raise ModelError("The text is too short to make even one training example. Upload a longer text.")
    validation = validation.select(range(min(len(validation), MAX_EVAL_ROWS)))
    prompt, shown = sample_prompt(config, text_format, validation_rows)
    settings = DecodingSettings(max_new_tokens=sample_length(config), top_k=40, seed=config.seed)
    sampler = SampleCallback(run_dir, tokenizer, prompt, shown, settings,
                             never_written(tokenizer, text_format, config.model.source))
    (run_dir / SAMPLES_FILE).touch()
    callbacks: list[TrainerCallback] = [sampler]
    live = live_evaluation(config, len(train))
    if live is not None:
        callbacks.append(live)

    def finish(trainer: Trainer, run_dir: Path) -> dict[str, Any]:
        loss = kept_eval_loss(trainer)
        if not any(s.get("step") == trainer.state.global_step for s in read_samples(run_dir)) or \
                trainer.args.load_best_model_at_end:
            sampler.write(trainer.model, trainer.state.global_step)
        save_model(trainer, tokenizer, run_dir / MODEL_DIR, config, text_format, base_source)
        report = {"eval_loss": loss, "perplexity": math.exp(loss) if loss < 50 else None,
                  "validation_rows": len(validation), "format": text_format, "samples": read_samples(run_dir)}
        write_json_atomic(run_dir / EVAL_FILE, report)
        return report

    packed = text_format == FORMAT_INSTRUCTION and packs(model, device)
    trainable = count_parameters(model, trainable_only=True)
    summary = {"parameters": count_parameters(model), "trainable_parameters": trainable,
               "vocabulary": len(tokenizer), "format": text_format, "context": config.max_length,
               "train_examples": len(train), "validation_examples": len(validation)}
    # Pairs of many lengths: packed end to end where that is faster, else batched with pairs of similar length.
    collator = PackedBatches() if packed else DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)
    return TrainingPlan(model=model, train_dataset=train, eval_dataset=validation, finish=finish,
                       data_collator=collator, processing_class=tokenizer, callbacks=callbacks, summary=summary,
                       remove_unused_columns=False, packed=packed,
                       group_by_length=text_format == FORMAT_INSTRUCTION and not packed)


def kept_eval_loss(trainer: Trainer) -> float:
    """The validation loss of the model that is kept: the best check with early stopping, else a check at the last
    step (measured now if training stopped between checks)."""
    state = trainer.state
    if trainer.args.load_best_model_at_end and state.best_metric is not None:
        return float(state.best_metric)
    for record in reversed(state.log_history):
        if "eval_loss" in record and record.get("step") == state.global_step:
            return float(record["eval_loss"])
    return float(trainer.evaluate()["eval_loss"])


def save_model(trainer: Trainer, tokenizer, folder: Path, config: TrainConfig, text_format: str,
               base_source: str | None) -> None:
    """Weights (a LoRA run: the adapter only, a few MB) + tokenizer + how prompts were laid out."""
    save_trained_model(trainer, folder)
    tokenizer.save_pretrained(str(folder))
    (folder / "README.md").unlink(missing_ok=True)  # peft's empty model card template
    description = {"format": text_format, "prompt_template": PROMPT_TEMPLATE if text_format == FORMAT_INSTRUCTION
                   else None, "context": config.max_length, "source": config.model.source,
                   "finetune": "lora" if config.uses_lora else ("full" if config.model.source == "pretrained"
                                                                else "scratch"),
                   "base_model": config.model.name if config.model.source == "pretrained" else None,
                   "base_model_source": base_source}
    write_json_atomic(folder / FORMAT_FILE, description)


# ---------------------------------------------------------------------------------------------------- sizing


def estimate_parameters(config: TrainConfig, dataset: PreparedDataset) -> int | None:
    """The model's size before training. A hub model is not downloaded to size it, nor is the bundled model
    converted: both are sized once they are on disk."""
    workspace = Workspace(dataset.folder.resolve().parent.parent)
    if config.model.source == "scratch":
        vocabulary = config.model.vocab_size
        if config.model.tokenizer == "char":
            train, _ = dataset.frames()
            vocabulary = len(set("".join(training_texts(train, dataset_format(dataset))))) + len(SPECIAL_TOKENS)
        elif config.model.tokenizer != "train":
            return None
        spec = config.model
        gpt = GPT2Config(vocab_size=vocabulary, n_positions=config.max_length, n_embd=spec.embedding_dim,
                         n_layer=spec.num_layers, n_head=spec.num_heads)
        with torch.device("meta"):
            return count_parameters(GPT2LMHeadModel(gpt))
    name = config.model.name
    if name.startswith(BUNDLED_PREFIX):
        folder = workspace.models / name.removeprefix(BUNDLED_PREFIX)
    else:
        folder = Path(name).expanduser()
    if not (folder / "config.json").is_file():
        return None
    with torch.device("meta"):
        return count_parameters(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder))))


def load_predictor(model_dir: Path) -> TextGeneratorPredictor:
    return TextGeneratorPredictor(model_dir)
