"""Fixtures of the text-generation tests: instruction pairs saved as a dataset, and a tiny Gemma 3 to train on them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

from core.tasks.text_generation.data import PROMPT_TEMPLATE, check_pairs, guess_pair_columns, split_pairs
from core.tasks.text_generation.samples import small_instructions
from core.tasks.text_generation.saving import save_pairs
from core.tasks.text_generation.tokenizers import train_bpe_tokenizer


@pytest.fixture
def pairs_dataset(workspace):
    frame = small_instructions()
    checked = check_pairs(frame, guess_pair_columns(frame))
    train, validation = split_pairs(checked.frame, 0.1)
    return save_pairs(workspace, "pairs", train, validation, "JSON", checked.checks, guess_pair_columns(frame))


@pytest.fixture(scope="session")
def tiny_gemma_folder(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide Gemma 3 with a BPE vocabulary learned from the sample pairs: the bundled model's
    architecture (q/k/v/o projections, sliding-window layers) at a size a test trains in seconds."""
    folder = tmp_path_factory.mktemp("tiny-gemma")
    frame = small_instructions()
    texts = [PROMPT_TEMPLATE.format(prompt=f"{i}\n\n{x}") + o for i, x, o in frame.itertuples(index=False)]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=400, context=256)
    config = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
                              sliding_window=64, pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    torch.manual_seed(0)
    Gemma3ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
