"""Prompt-based classification with a causal language model: each class's probability, calibrated.

The boundary: a `PromptRecipe` (`core.prompting.recipe`), training examples and texts in; class probabilities out.
Every label word is scored by its log-likelihood after the prompt ("rank classification", done by
`core.prompting.scoring`) and the model's bias is divided out (calibration). The prompts themselves are built in
`core.prompting.prompts`, the worked examples chosen in `core.prompting.examples`; scoring a recipe on held-out
examples is `core.prompting.evaluation`. It knows nothing about Streamlit or about where a model comes from
(`core.lm.loading` loads them); examples are plain dicts `{"text": str, "label": str}`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.engine.metrics import softmax
from core.prompting.examples import SimilarityIndex, select_examples, similar_examples, usable_examples
from core.prompting.prompts import context_limit, examples_prefix, label_token_ids, render_query
from core.prompting.recipe import (
    CALIBRATION_TEXTS,
    CONTENT_FREE_INPUT,
    MIN_TEXTS_FOR_BATCH_CALIBRATION,
    Example,
    PromptRecipe,
)
from core.prompting.scoring import Progress, encode, encode_after, leading_special_ids, score_continuations


def calibrate_probabilities(probabilities: np.ndarray, content_free: np.ndarray) -> np.ndarray:
    """Contextual calibration (Zhao et al., 2021): divide out what the model says about an empty input.

    A model that favours "positive" for every input also favours it for "N/A"; dividing by that content-free
    distribution and renormalising removes the bias without any training.
    """
    adjusted = np.asarray(probabilities) / np.clip(np.asarray(content_free), 1e-12, None)
    return adjusted / adjusted.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------------------- predicting


@dataclass(frozen=True)
class Predictions:
    labels: list[str]
    probabilities: np.ndarray  # (texts, labels), rows sum to 1
    warnings: list[str]


@dataclass(frozen=True)
class _Batch:
    """Token ids for scoring: one prefix shared by all contexts, or (prefix empty but for <bos>) none shared."""
    prefix_ids: list[int]
    contexts: list[list[int]]
    content_free: list[list[int]]  # one per context when prefixes differ, else a single one
    shared: bool


def _tokenize_for_scoring(tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe, texts: Sequence[str],
                          examples_per_text: list[list[Example]] | None,
                          fixed_examples: list[Example]) -> _Batch:
    lead = leading_special_ids(tokenizer)
    queries = [render_query(recipe.template, text) for text in texts]
    content_free_query = render_query(recipe.template, CONTENT_FREE_INPUT)
    if examples_per_text is None:
        prefix = examples_prefix(recipe, fixed_examples)
        contexts = encode_after(tokenizer, prefix, queries)
        content_free = encode_after(tokenizer, prefix, [content_free_query])
        return _Batch(lead + encode(tokenizer, prefix), contexts, content_free, shared=True)
    prefixes = [examples_prefix(recipe, examples) for examples in examples_per_text]
    contexts = encode_after(tokenizer, "", [prefix + query for prefix, query in zip(prefixes, queries)])
    content_free = encode_after(tokenizer, "", [prefix + content_free_query for prefix in prefixes])
    return _Batch(lead, contexts, content_free, shared=False)


def _fit_to_context(batch: _Batch, lead_length: int, longest_word: int, limit: int | None) -> tuple[_Batch, list[str]]:
    """Cut the oldest tokens (after <bos>) of prompts that would not fit, and say so."""
    if limit is None:
        return batch, []
    budget = limit - (longest_word - 1)
    overlong = sum(len(batch.prefix_ids) + len(context) > budget for context in batch.contexts)
    if not overlong:
        return batch, []
    lead, prefix = batch.prefix_ids[:lead_length], batch.prefix_ids[lead_length:]
    if batch.shared:
        longest = max(len(context) for context in batch.contexts + batch.content_free)
        keep = max(0, budget - lead_length - longest)
        prefix = prefix[len(prefix) - keep:] if keep else []
    room = max(1, budget - lead_length - len(prefix))
    fitted = _Batch(lead + prefix, [context[-room:] for context in batch.contexts],
                    [context[-room:] for context in batch.content_free], batch.shared)
    warning = (f"{overlong} of {len(batch.contexts)} prompts were longer than the {limit} tokens the model reads; "
               f"their oldest tokens were cut. Use fewer or shorter worked examples.")
    return fitted, [warning]


def predict_probabilities(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                          train_examples: Sequence[Example], texts: Sequence[str], *,
                          index: SimilarityIndex | None = None, max_tokens: int | None = None,
                          batch_size: int = 16, progress: Progress = None,
                          leave_out_self: bool = False) -> Predictions:
    """Probability of each class for each text, by rank classification over the recipe's label words: with several
    sets of worked examples (`recipe.draws`), each set's answers (adjusted for the model's lean on their own) are
    averaged.

    `leave_out_self` is for texts taken from the training examples themselves: "similar" selection then never
    shows a text as its own worked example.
    """
    seeds = recipe.seeds
    if len(seeds) == 1:
        return _one_set(model, tokenizer, recipe.one_set(seeds[0]), train_examples, texts, index=index,
                        max_tokens=max_tokens, batch_size=batch_size, progress=progress,
                        leave_out_self=leave_out_self)
    answers = []
    for number, seed in enumerate(seeds):
        answers.append(_one_set(model, tokenizer, recipe.one_set(seed), train_examples, texts, index=index,
                                max_tokens=max_tokens, batch_size=batch_size, leave_out_self=leave_out_self,
                                progress=_of_sets(progress, number, len(seeds), len(texts))))
    average = np.mean([answer.probabilities for answer in answers], axis=0)
    warnings = list(dict.fromkeys(warning for answer in answers for warning in answer.warnings))
    return Predictions(recipe.labels, average / average.sum(axis=-1, keepdims=True), warnings)


def _of_sets(progress: Progress, number: int, sets: int, texts: int) -> Progress:
    """One set's progress (done of its texts) as progress over every set's texts."""
    if progress is None:
        return None
    return lambda done, _total: progress(number * texts + done, sets * texts)


def _one_set(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
             train_examples: Sequence[Example], texts: Sequence[str], *, index: SimilarityIndex | None,
             max_tokens: int | None, batch_size: int, progress: Progress, leave_out_self: bool) -> Predictions:
    texts = [str(text) for text in texts]
    pool = usable_examples(recipe, train_examples)
    per_text = None
    if recipe.selection == "similar" and recipe.few_shot_k > 0 and pool:
        index = index if index is not None and len(index) == len(pool) else SimilarityIndex.from_examples(pool)
        k = recipe.few_shot_k
        nearest_lists = index.nearest(texts, k + 1 if leave_out_self else k)
        if leave_out_self:
            nearest_lists = [[i for i in nearest if pool[i]["text"] != text][:k]
                             for text, nearest in zip(texts, nearest_lists)]
        per_text = [similar_examples(recipe, pool, nearest) for nearest in nearest_lists]
    fixed = select_examples(recipe, pool) if per_text is None else []
    continuations = label_token_ids(tokenizer, recipe)
    batch = _tokenize_for_scoring(tokenizer, recipe, texts, per_text, fixed)
    batch, warnings = _fit_to_context(batch, len(leading_special_ids(tokenizer)),
                                      max(len(ids) for ids in continuations), context_limit(model, tokenizer,
                                                                                            max_tokens))
    pad_id = pad_id_of(tokenizer)
    log_likelihoods = score_continuations(model, batch.prefix_ids, batch.contexts, continuations,
                                          share_prefix_cache=batch.shared, batch_size=batch_size, pad_id=pad_id,
                                          progress=progress)
    probabilities = softmax(log_likelihoods)
    if not recipe.calibrate:
        return Predictions(recipe.labels, probabilities, warnings)
    if recipe.calibrate_against == "classified-texts":
        if len(texts) >= MIN_TEXTS_FOR_BATCH_CALIBRATION:
            return Predictions(recipe.labels, calibrate_probabilities(probabilities, probabilities.mean(axis=0)),
                               warnings)
        warnings = [*warnings, f"Calibrating on the texts themselves needs at least "
                    f"{MIN_TEXTS_FOR_BATCH_CALIBRATION} of them; your training texts were used instead."]
    if recipe.calibrate_against in ("training-texts", "classified-texts"):
        bias = _training_text_bias(model, tokenizer, recipe, pool, fixed, index, max_tokens, batch_size)
        if bias is not None:
            return Predictions(recipe.labels, calibrate_probabilities(probabilities, bias), warnings)
        warnings = [*warnings, "There are no training texts to calibrate against; the empty input (N/A) was used."]
    content_free = softmax(score_continuations(model, batch.prefix_ids, batch.content_free, continuations,
                                               share_prefix_cache=batch.shared, batch_size=batch_size,
                                               pad_id=pad_id))
    return Predictions(recipe.labels, calibrate_probabilities(probabilities, content_free), warnings)


def calibration_texts(recipe: PromptRecipe, pool: Sequence[Example], shown: Sequence[Example],
                      count: int = CALIBRATION_TEXTS) -> list[str]:
    """The training texts whose average answer measures the bias: a fixed sample, none of them a shown example."""
    shown_texts = {example["text"] for example in shown}
    candidates = list(dict.fromkeys(example["text"] for example in pool if example["text"] not in shown_texts))
    return random.Random(recipe.seed).sample(candidates, min(count, len(candidates)))


def _training_text_bias(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                        pool: list[Example], shown: list[Example], index: SimilarityIndex | None,
                        max_tokens: int | None, batch_size: int, progress: Progress = None,
                        count: int = CALIBRATION_TEXTS) -> np.ndarray | None:
    texts = calibration_texts(recipe, pool, shown, count)
    if not texts:
        return None
    plain = replace(recipe, calibrate=False)
    answers = predict_probabilities(model, tokenizer, plain, pool, texts, index=index, max_tokens=max_tokens,
                                    batch_size=batch_size, leave_out_self=True, progress=progress)
    return answers.probabilities.mean(axis=0)


def training_text_bias(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                       train_examples: Sequence[Example], *, index: SimilarityIndex | None = None,
                       batch_size: int = 16, progress: Progress = None,
                       count: int = CALIBRATION_TEXTS) -> np.ndarray | None:
    """The model's average answer over a fixed sample of `count` training texts with this recipe's first set of
    worked examples (None without any training texts)."""
    recipe = recipe.one_set(recipe.seed)
    pool = usable_examples(recipe, train_examples)
    shown = select_examples(recipe, pool) if recipe.selection != "similar" else []
    return _training_text_bias(model, tokenizer, recipe, pool, shown, index, None, batch_size, progress, count)


def pad_id_of(tokenizer: PreTrainedTokenizerBase) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0
