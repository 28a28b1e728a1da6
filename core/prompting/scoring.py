"""Rank-classification scoring: token ids in, the log-likelihood of each continuation out.

`score_continuations` reads many contexts that share one prefix (the worked examples) and returns how likely each
continuation (each label word's tokens) is after each of them. Speed matters because a person waits for an
evaluation: rows are batched longest first, the output layer runs only where a label token is read, and when every
context shares the prefix its key/value cache is computed once and reused, so each query only pays for its own
tokens. The tokenizing helpers here cut text the way the scorer needs it (leading <bos>, tokens that follow a given
string). This module knows nothing about recipes, templates or calibration; `core.prompting.prompts` and
`core.prompting.classify` build the token ids.
"""

from __future__ import annotations

import copy
import inspect
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

Progress = Callable[[int, int], None] | None


# ------------------------------------------------------------------------------------------------- tokenizing


def encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def leading_special_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The special tokens the tokenizer puts before a text (e.g. Gemma's <bos>); models are trained with them."""
    with_special = list(tokenizer("a", add_special_tokens=True)["input_ids"])
    plain = encode(tokenizer, "a")
    position = len(with_special) - len(plain)
    if position >= 0 and with_special[position:position + len(plain)] == plain:
        return with_special[:position]
    return []


def encode_after(tokenizer: PreTrainedTokenizerBase, before: str, texts: Sequence[str]) -> list[list[int]]:
    """The tokens of each text as the tokenizer cuts it when it follows `before` in one string.

    Tokenizing the joined string keeps word boundaries natural; when the join changes the tokens of `before`
    itself (a merge across the seam) we fall back to tokenizing the text alone.
    """
    if not texts:
        return []
    if not before:
        return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    before_ids = encode(tokenizer, before)
    joined = tokenizer([before + text for text in texts], add_special_tokens=False)["input_ids"]
    result = []
    for text, ids in zip(texts, joined):
        ids = list(ids)
        result.append(ids[len(before_ids):] if ids[:len(before_ids)] == before_ids else encode(tokenizer, text))
    return result


# ----------------------------------------------------------------------------------------------------- scoring


@dataclass
class _Row:
    """One sequence the model reads, and where in it to read off the log-probability of which token."""
    tokens: list[int]
    reads: list[tuple[int, int, int, int]]  # (position, target token, context index, continuation index)


def _rows_to_score(contexts: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]]) -> list[_Row]:
    if all(len(ids) == 1 for ids in continuations):
        # The usual case (" great" / " terrible" are single tokens): one row per query gives every label's score.
        return [_Row(list(context), [(len(context) - 1, ids[0], c, j) for j, ids in enumerate(continuations)])
                for c, context in enumerate(contexts)]
    rows = []
    for c, context in enumerate(contexts):
        for j, ids in enumerate(continuations):
            reads = [(len(context) - 1 + t, token, c, j) for t, token in enumerate(ids)]
            rows.append(_Row(list(context) + list(ids[:-1]), reads))
    return rows


_HEAD_IS_EXACT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _output_logits(model: PreTrainedModel, hidden: torch.Tensor) -> torch.Tensor:
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def _head_is_exact(model: PreTrainedModel) -> bool:
    """Whether base model + output layer reproduce the model's own logits.

    Applying the output layer only where a label token is read saves most of the work (Gemma's vocabulary has
    262 k entries), but a few architectures scale their logits in ways we do not mirror; those get full logits.
    """
    if model not in _HEAD_IS_EXACT:
        ids = torch.arange(1, 6, device=model.device).unsqueeze(0) % model.config.get_text_config().vocab_size
        try:
            with torch.inference_mode():
                full = model(input_ids=ids).logits
                ours = _output_logits(model, model.base_model(input_ids=ids).last_hidden_state)
            _HEAD_IS_EXACT[model] = bool(torch.allclose(full, ours, atol=1e-4, rtol=1e-4))
        except (AttributeError, TypeError):
            _HEAD_IS_EXACT[model] = False
    return _HEAD_IS_EXACT[model]


def _log_probs_at(model: PreTrainedModel, input_ids: torch.Tensor, cache: Any,
                  rows: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Next-token log-probabilities at the given (row, position) pairs: shape (pairs, vocabulary)."""
    if _head_is_exact(model):
        hidden = model.base_model(input_ids=input_ids, use_cache=cache is not None, **_with_cache(model, cache))
        logits = _output_logits(model, hidden.last_hidden_state[rows, positions])
    else:
        logits = model(input_ids=input_ids, use_cache=cache is not None, **_with_cache(model, cache)).logits
        logits = logits[rows, positions]
    return torch.log_softmax(logits.float(), dim=-1)


def _batches(rows: list[_Row], batch_size: int, max_batch_tokens: int) -> list[list[_Row]]:
    """Rows grouped longest first, so each batch pads little and the biggest batch fails early if memory is short."""
    ordered = sorted(rows, key=lambda row: len(row.tokens), reverse=True)
    batches, start = [], 0
    while start < len(ordered):
        size = max(1, min(batch_size, max_batch_tokens // max(1, len(ordered[start].tokens))))
        batches.append(ordered[start:start + size])
        start += size
    return batches


def _padded(batch: list[_Row], prefix: Sequence[int], pad_id: int, device: torch.device) -> torch.Tensor:
    # Right padding needs no attention mask: causal attention never lets a real token see the pads after it.
    width = max(len(prefix) + len(row.tokens) for row in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    for i, row in enumerate(batch):
        tokens = list(prefix) + row.tokens
        ids[i, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    return ids.to(device)


@torch.inference_mode()
def prefix_cache(model: PreTrainedModel, prefix_ids: Sequence[int]) -> Any:
    """The key/value cache of the shared prefix (the worked examples), read once; `score_continuations` copies it
    for each batch and never changes it, so one cache serves text after text."""
    ids = torch.tensor([list(prefix_ids)], dtype=torch.long, device=model.device)
    return returned_cache(model.base_model(input_ids=ids, use_cache=True))


def _with_cache(model: PreTrainedModel, cache: Any) -> dict[str, Any]:
    # transformers 5.24 renamed the forward argument `past_key_values` to `cache` (the old name goes in 5.40);
    # the GPU machine runs 5.17, which only knows the old one. Ask the model which name it takes.
    return {cache_keyword(model.base_model): cache}


def cache_keyword(module: torch.nn.Module) -> str:
    """The name under which this model's forward takes a key/value cache: `cache` (new) or `past_key_values`."""
    parameters = inspect.signature(module.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def returned_cache(output: Any) -> Any:
    """The key/value cache a forward returned, under its new (`cache`) or old (`past_key_values`) name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _cache_for_batch(prefix_cache: Any, batch_size: int) -> Any:
    # Each forward appends to the cache it is given, so every batch gets its own copy, widened to the batch.
    cache = copy.deepcopy(prefix_cache)
    cache.batch_repeat_interleave(batch_size)
    return cache


@torch.inference_mode()
def score_continuations(model: PreTrainedModel, prefix_ids: Sequence[int], contexts: Sequence[Sequence[int]],
                        continuations: Sequence[Sequence[int]], *, share_prefix_cache: bool = True,
                        batch_size: int = 16, max_batch_tokens: int = 4096, pad_id: int = 0,
                        progress: Progress = None, cached_prefix: Any = None) -> np.ndarray:
    """Log-likelihood of each continuation after `prefix_ids + context`: shape (contexts, continuations).

    With `share_prefix_cache` the prefix is read once and its key/value cache reused for every batch; without it
    each row re-reads the prefix. Both give the same numbers (up to float rounding). `cached_prefix` is that cache
    already read (`prefix_cache`), for a caller that scores the same prefix again and again.
    """
    if any(len(context) == 0 for context in contexts):
        raise ValueError("Every context needs at least one token.")
    scores = np.zeros((len(contexts), len(continuations)), dtype=np.float64)
    rows = _rows_to_score(contexts, continuations)
    shared = None
    if share_prefix_cache and len(prefix_ids) > 0:
        shared = cached_prefix if cached_prefix is not None else prefix_cache(model, prefix_ids)
    offset = 0 if shared is not None else len(prefix_ids)
    done = 0
    for batch in _batches(rows, batch_size, max_batch_tokens):
        input_ids = _padded(batch, [] if shared is not None else prefix_ids, pad_id, model.device)
        cache = _cache_for_batch(shared, len(batch)) if shared is not None else None
        # Several label words are often read at the same place: run the output layer once per place.
        places: dict[tuple[int, int], int] = {}
        reads = [(places.setdefault((i, position + offset), len(places)), target, c, j)
                 for i, row in enumerate(batch) for position, target, c, j in row.reads]
        row_index = torch.tensor([place[0] for place in places], device=model.device)
        positions = torch.tensor([place[1] for place in places], device=model.device)
        log_probs = _log_probs_at(model, input_ids, cache, row_index, positions)
        picked = log_probs[torch.tensor([read[0] for read in reads], device=model.device),
                           torch.tensor([read[1] for read in reads], device=model.device)].cpu().numpy()
        for (_, _, c, j), value in zip(reads, picked):
            scores[c, j] += value
        done += len(batch)
        if progress is not None:
            progress(done * len(contexts) // len(rows), len(contexts))
    return scores
