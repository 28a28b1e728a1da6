"""The language model a text-generation run trains: a pretrained causal LM (bundled, a local folder or a hub id,
loaded by `core.lm.loading` like every other language model), optionally wrapped with LoRA through `peft`, or a
small GPT built from `transformers.GPT2Config` with a tokenizer learned from the person's text
(`core.tasks.text_generation.tokenizers`). This module knows nothing about datasets or writing.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel

from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
from core.engine.run_folder import update_status
from core.lm.loading import load_causal_lm, model_source
from core.tasks.text_classification.models import ModelError
from core.tasks.text_generation.tokenizers import load_tokenizer, train_bpe_tokenizer, train_char_tokenizer
from core.workspace import Workspace


def scratch_tokenizer(spec: ModelSpec, texts: list[str], context: int, workspace: Workspace):
    if spec.tokenizer == "char":
        return train_char_tokenizer(texts, context)
    if spec.tokenizer == "train":
        return train_bpe_tokenizer(texts, spec.vocab_size, context)
    return load_tokenizer(model_source(spec.tokenizer, workspace.models))


def gpt_config(spec: ModelSpec, tokenizer, context: int) -> GPT2Config:
    return GPT2Config(vocab_size=len(tokenizer), n_positions=context, n_embd=spec.embedding_dim,
                      n_layer=spec.num_layers, n_head=spec.num_heads, resid_pdrop=spec.dropout,
                      embd_pdrop=spec.dropout, attn_pdrop=spec.dropout, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def build_scratch_gpt(spec: ModelSpec, tokenizer, context: int) -> GPT2LMHeadModel:
    return GPT2LMHeadModel(gpt_config(spec, tokenizer, context))


def add_lora(model: PreTrainedModel, lora: LoraSpec):
    from peft import LoraConfig, get_peft_model

    try:
        return get_peft_model(model, LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                target_modules=list(lora.target_modules), task_type="CAUSAL_LM"))
    except ValueError as error:
        names = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                        if isinstance(module, torch.nn.Linear)})
        raise ModelError(f"LoRA could not attach to {', '.join(lora.target_modules)}: this model has no such "
                         f"layers. Its layers are: {', '.join(names)}. Change the LoRA target modules.") from error


def load_model(config: TrainConfig, texts: list[str], workspace: Workspace, run_dir: Path):
    """(model, tokenizer, base model source or None) as the config asks."""
    spec = config.model
    if spec.source == "scratch":
        tokenizer = scratch_tokenizer(spec, texts, config.max_length, workspace)
        return build_scratch_gpt(spec, tokenizer, config.max_length), tokenizer, None

    def progress(message: str) -> None:
        update_status(run_dir, message=message)
        print(message, flush=True)

    source = model_source(spec.name, workspace.models, progress)
    # Loaded in float32 on the CPU whatever the device: the Trainer moves it and mixes precision on a GPU, and
    # full-precision master weights keep small updates from vanishing.
    model, tokenizer = load_causal_lm(source, workspace.models, progress, device="cpu")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if config.uses_lora:
        model = add_lora(model, config.lora)
    return model, tokenizer, source
