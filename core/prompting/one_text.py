"""One typed text at a time, fast: the worked examples read once, the model's lean measured once, then each text
costs one short forward pass over its own few tokens.

A person tries text after text with the same prompt. Reading the worked examples again for every text, and scoring
64 training texts again to measure the model's lean, made one answer take minutes on a 2-core CPU; a `ReadyPrompt`
keeps the worked examples' key/value cache and the lean, so a text costs well under a second (measured in
bench/prompting_sst2.py). Its answers are exactly `core.prompting.classify.classify_text`'s with that lean.

The boundary: a recipe, a model and the training examples in, a reusable object that answers one text out. With
"similar" worked examples every text has its own examples, so nothing can be shared but the lean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.engine.metrics import softmax
from core.prompting.classify import calibrate_probabilities, pad_id_of, predict_probabilities, training_text_bias
from core.prompting.examples import SimilarityIndex, select_examples, usable_examples
from core.prompting.prompts import context_limit, examples_prefix, label_token_ids, render_query
from core.prompting.recipe import (
    CALIBRATION_TEXTS,
    CONTENT_FREE_INPUT,
    MIN_TEXTS_FOR_BATCH_CALIBRATION,
    Example,
    PromptRecipe,
    one_text_calibration,
)
from core.prompting.scoring import (
    Progress,
    encode,
    encode_after,
    leading_special_ids,
    prefix_cache,
    score_continuations,
)


@dataclass(frozen=True)
class ReadySet:
    """One set of worked examples ready to answer one text after another."""

    recipe: PromptRecipe  # with this one set (`PromptRecipe.one_set`)
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    train_examples: Sequence[Example]
    index: SimilarityIndex | None
    bias: np.ndarray | None  # the model's lean, divided out of every answer (None: not adjusted, or per text)
    prefix: str | None  # the instructions and worked examples when every text shares them, else None
    prefix_ids: list[int]
    cache: Any  # the prefix's key/value cache, read once
    continuations: list[list[int]]

    def probabilities(self, text: str) -> np.ndarray:
        if self.prefix is not None and self._fits(text):
            context = encode_after(self.tokenizer, self.prefix, [render_query(self.recipe.template, text)])
            raw = softmax(score_continuations(self.model, self.prefix_ids, context, self.continuations,
                                              pad_id=pad_id_of(self.tokenizer), cached_prefix=self.cache))[0]
            return raw if self.bias is None else calibrate_probabilities(raw, self.bias)
        # Similar worked examples, or a text too long to fit beside the cached examples: the general path picks
        # this text's own examples and cuts what does not fit.
        if self.bias is None:
            return predict_probabilities(self.model, self.tokenizer, self.recipe, self.train_examples, [text],
                                         index=self.index).probabilities[0]
        raw = predict_probabilities(self.model, self.tokenizer, replace(self.recipe, calibrate=False),
                                    self.train_examples, [text], index=self.index).probabilities[0]
        return calibrate_probabilities(raw, self.bias)

    def _fits(self, text: str) -> bool:
        limit = context_limit(self.model, self.tokenizer)
        longest = max(len(ids) for ids in self.continuations)
        needed = len(self.prefix_ids) + len(encode(self.tokenizer, render_query(self.recipe.template, text)))
        return limit is None or needed + longest - 1 <= limit


@dataclass(frozen=True)
class ReadyPrompt:
    """A recipe ready to answer one text after another (`classify`): each set of worked examples answers on its
    own, and the answers are averaged, as `predict_probabilities` does for many texts."""

    recipe: PromptRecipe
    sets: list[ReadySet]

    def classify(self, text: str) -> dict[str, float]:
        """Each class's probability for one text."""
        average = np.mean([ready.probabilities(text) for ready in self.sets], axis=0)
        return {label: float(p) for label, p in zip(self.recipe.labels, average / average.sum())}


def ready_prompt(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                 train_examples: Sequence[Example], *, index: SimilarityIndex | None = None,
                 progress: Progress = None) -> ReadyPrompt:
    """Read the worked examples once and measure the model's lean once (the slow part, with `progress` over the
    training texts it scores), so that every text after costs only its own tokens. With several sets of worked
    examples the 64 training texts that measure the lean are shared out among them (at least 16 each)."""
    seeds = recipe.seeds
    count = max(MIN_TEXTS_FOR_BATCH_CALIBRATION, CALIBRATION_TEXTS // len(seeds))
    sets = []
    for number, seed in enumerate(seeds):
        def step(done: int, total: int, number: int = number) -> None:
            if progress is not None:
                progress(number * total + done, len(seeds) * total)

        sets.append(_ready_set(model, tokenizer, recipe.one_set(seed), train_examples, index, step, count))
    return ReadyPrompt(recipe, sets)


def _ready_set(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
               train_examples: Sequence[Example], index: SimilarityIndex | None, progress: Progress,
               count: int) -> ReadySet:
    continuations = label_token_ids(tokenizer, recipe)
    against = one_text_calibration(recipe)
    bias = None
    if against == "training-texts":
        bias = training_text_bias(model, tokenizer, recipe, train_examples, index=index, progress=progress,
                                  count=count)
    if recipe.selection == "similar" and recipe.few_shot_k > 0:
        return ReadySet(recipe, model, tokenizer, train_examples, index, bias, None, [], None, continuations)
    prefix = examples_prefix(recipe, select_examples(recipe, usable_examples(recipe, train_examples)))
    prefix_ids = leading_special_ids(tokenizer) + encode(tokenizer, prefix)
    cache = prefix_cache(model, prefix_ids) if prefix_ids else None
    if against is not None and bias is None:  # a blank input, or no training texts to average: measured once
        blank = encode_after(tokenizer, prefix, [render_query(recipe.template, CONTENT_FREE_INPUT)])
        bias = softmax(score_continuations(model, prefix_ids, blank, continuations, pad_id=pad_id_of(tokenizer),
                                           cached_prefix=cache))[0]
    return ReadySet(recipe, model, tokenizer, train_examples, index, bias, prefix, prefix_ids, cache,
                    continuations)
