"""How a text-generation run's model writes: `Sampling` (the decoding knobs), `generate_ids` (which keeps
writing past a small GPT's short context, nanoGPT-style), stop sequences, and `sample_text` for a sample taken
during training without disturbing its random state.

Shared by the training samples (`core.tasks.text_generation.callbacks`) and the Playground's predictor
(`core.lm.predictor`), so a
sample during training and the Playground write the same way. `core.lm.generation` is the prompt lab's separate
generator for bundled models; this module serves the models the pipeline trains. It knows nothing about run folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from core.tasks.text_generation.data import FORMAT_INSTRUCTION


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked. Temperature 0 always takes the likeliest token (same output every time)."""

    max_new_tokens: int = 100
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.0
    seed: int = 0
    stop_sequences: tuple[str, ...] = ()
    never_write: tuple[int, ...] = ()  # token ids that must not be sampled (see `never_written`)

    def generate_arguments(self, tokenizer) -> dict[str, Any]:
        arguments: dict[str, Any] = {"pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
                                     "repetition_penalty": self.repetition_penalty}
        if self.temperature <= 0:
            arguments["do_sample"] = False
        else:
            arguments.update(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k or None)
        if self.stop_sequences:
            arguments.update(stop_strings=list(self.stop_sequences), tokenizer=tokenizer)
        if self.never_write:
            arguments["suppress_tokens"] = list(self.never_write)
        return arguments


def never_written(tokenizer, text_format: str, source: str) -> tuple[int, ...]:
    """A GPT trained from scratch on one text never saw an end, padding or unknown token, yet a half-trained one
    still gives them some probability: sampled, an end token would cut its writing short for no reason."""
    if text_format == FORMAT_INSTRUCTION or source != "scratch":
        return ()
    return tuple(sorted(set(tokenizer.all_special_ids)))


def context_of(model) -> int:
    return int(getattr(model.config, "max_position_embeddings", 0) or 2048)


def _end_ids(model, tokenizer) -> set[int]:
    ends = getattr(model.generation_config, "eos_token_id", None)
    ends = ends if isinstance(ends, list) else [ends]
    return {i for i in [*ends, tokenizer.eos_token_id] if i is not None}


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    ids = tokenizer(prompt)["input_ids"] if prompt else []
    return ids or [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]


@torch.inference_mode()
def generate_ids(model, tokenizer, ids: list[int], sampling: Sampling, streamer=None) -> list[int]:
    """The new token ids after `ids`. A model with a short context (a small GPT) keeps writing past it: each round
    generates up to half a context from the latest tokens, the way nanoGPT crops its input."""
    context = context_of(model)
    device = next(model.parameters()).device
    arguments = sampling.generate_arguments(tokenizer)
    ends = _end_ids(model, tokenizer)
    ids, new = list(ids), []
    torch.manual_seed(sampling.seed)
    while len(new) < sampling.max_new_tokens:
        remaining = sampling.max_new_tokens - len(new)
        chunk = remaining if len(ids) + remaining <= context else min(remaining, max(1, context // 2))
        window = ids[-(context - chunk):]
        inputs = torch.tensor([window], device=device)
        output = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=chunk,
                                streamer=streamer, **arguments)
        produced = output[0, len(window):].tolist()
        ids += produced
        new += produced
        if len(produced) < chunk or (produced and produced[-1] in ends):
            break  # the model ended its text, or a stop sequence was written
    return new


def cut_at_stop(text: str, stop_sequences: tuple[str, ...]) -> str:
    positions = [text.find(s) for s in stop_sequences if s and s in text]
    return text[:min(positions)] if positions else text


def sample_text(model, tokenizer, prompt: str, sampling: Sampling) -> str:
    """One continuation of `prompt`, without disturbing the caller's random state (training stays reproducible)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            new = generate_ids(model, tokenizer, prompt_ids(tokenizer, prompt), sampling)
    finally:
        model.train(was_training)
    return cut_at_stop(tokenizer.decode(new, skip_special_tokens=True), sampling.stop_sequences)
