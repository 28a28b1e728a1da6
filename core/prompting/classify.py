"""Prompt-based classification with a causal language model: prompts, predictions, calibration, evaluation.

This module turns a `PromptRecipe` (`core.prompting.recipe`) plus training examples into the exact prompts the model
reads, scores every label word by its log-likelihood after the prompt ("rank classification", done by
`core.prompting.scoring`), corrects the model's bias (calibration), and evaluates on held-out examples. Which worked
examples a prompt shows is decided in `core.prompting.examples`. It knows nothing about Streamlit or about where a
model comes from (`core.lm.loading` loads them); examples are plain dicts `{"text": str, "label": str}`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.engine.metrics import classification_report, softmax
from core.prompting.examples import SimilarityIndex, select_examples, similar_examples, usable_examples
from core.prompting.recipe import (
    CALIBRATION_TEXTS,
    CONTENT_FREE_INPUT,
    MIN_TEXTS_FOR_BATCH_CALIBRATION,
    TEXT_PLACEHOLDER,
    Example,
    PromptRecipe,
    one_text_calibration,
    rendered_instructions,
)
from core.prompting.scoring import Progress, encode, encode_after, leading_special_ids, score_continuations

# ------------------------------------------------------------------------------------------- building prompts


def render_query(template: str, text: str) -> str:
    # Trailing spaces are dropped because the label word brings its own leading space (" great" is one token).
    return template.replace(TEXT_PLACEHOLDER, str(text).strip()).rstrip(" \t")


def label_continuation(rendered_query: str, label_word: str) -> str:
    """What follows the prompt when the model says `label_word`: a space, unless the prompt ends a line."""
    word = label_word.strip()
    return word if rendered_query.endswith("\n") or not rendered_query else " " + word


def render_example(template: str, text: str, label_word: str) -> str:
    query = render_query(template, text)
    return query + label_continuation(query, label_word)


def examples_prefix(recipe: PromptRecipe, examples: Sequence[Example]) -> str:
    """The instructions and the worked examples, each followed by the separator: everything before the query."""
    instructions = rendered_instructions(recipe)
    parts = [instructions] if instructions else []
    parts += [render_example(recipe.template, example["text"], recipe.label_words[example["label"]])
              for example in examples]
    return "".join(part + recipe.example_separator for part in parts)


def build_prompt(recipe: PromptRecipe, examples: Sequence[Example], query_text: str) -> str:
    return examples_prefix(recipe, examples) + render_query(recipe.template, query_text)


@dataclass(frozen=True)
class AssembledPrompt:
    text: str
    examples: list[Example]
    token_count: int | None  # None when no tokenizer was given
    context_limit: int | None
    warning: str | None  # set when the prompt (plus the longest label word) will not fit


def assemble_prompt(recipe: PromptRecipe, train_examples: Sequence[Example], query_text: str,
                    tokenizer: PreTrainedTokenizerBase | None = None, model: PreTrainedModel | None = None,
                    max_tokens: int | None = None, index: SimilarityIndex | None = None) -> AssembledPrompt:
    """The exact prompt the model will read for `query_text`, its length in tokens, and a warning if too long."""
    examples = select_examples(recipe, train_examples, query_text, index)
    text = build_prompt(recipe, examples, query_text)
    limit = context_limit(model, tokenizer, max_tokens)
    if tokenizer is None:
        return AssembledPrompt(text, examples, None, limit, None)
    token_count = len(leading_special_ids(tokenizer)) + len(encode(tokenizer, text))
    longest_word = max(len(ids) for ids in label_token_ids(tokenizer, recipe))
    return AssembledPrompt(text, examples, token_count, limit,
                           prompt_length_warning(token_count + longest_word - 1, limit))


def context_limit(model: PreTrainedModel | None = None, tokenizer: PreTrainedTokenizerBase | None = None,
                  max_tokens: int | None = None) -> int | None:
    """The most tokens a prompt may have: the smallest of the model's context, the tokenizer's and `max_tokens`."""
    candidates = [max_tokens] if max_tokens else []
    if model is not None:
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                candidates.append(value)
                break
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 10_000_000:
        candidates.append(int(tokenizer.model_max_length))  # tokenizers without a limit report ~1e30
    return min(candidates) if candidates else None


def prompt_length_warning(token_count: int, limit: int | None) -> str | None:
    if limit is None or token_count <= limit:
        return None
    return (f"This prompt is {token_count} tokens long but the model reads at most {limit}: the oldest "
            f"{token_count - limit} tokens will be cut. Use fewer or shorter worked examples.")


def label_token_ids(tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe) -> list[list[int]]:
    """Each label word's tokens as they follow the prompt, leading space included (" great", not "great")."""
    anchor = render_query(recipe.template, "text")
    continuations = [label_continuation(anchor, recipe.label_words[label]) for label in recipe.labels]
    token_ids = encode_after(tokenizer, anchor, continuations)
    for label, ids in zip(recipe.labels, token_ids):
        if not ids:
            raise ValueError(f"The label word for {label!r} gives no tokens.")
    return token_ids


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
    """Probability of each class for each text, by rank classification over the recipe's label words.

    `leave_out_self` is for texts taken from the training examples themselves: "similar" selection then never
    shows a text as its own worked example.
    """
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
    pad_id = _pad_id(tokenizer)
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


def calibration_texts(recipe: PromptRecipe, pool: Sequence[Example], shown: Sequence[Example]) -> list[str]:
    """The training texts whose average answer measures the bias: a fixed sample, none of them a shown example."""
    shown_texts = {example["text"] for example in shown}
    candidates = list(dict.fromkeys(example["text"] for example in pool if example["text"] not in shown_texts))
    return random.Random(recipe.seed).sample(candidates, min(CALIBRATION_TEXTS, len(candidates)))


def _training_text_bias(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                        pool: list[Example], shown: list[Example], index: SimilarityIndex | None,
                        max_tokens: int | None, batch_size: int) -> np.ndarray | None:
    texts = calibration_texts(recipe, pool, shown)
    if not texts:
        return None
    plain = replace(recipe, calibrate=False)
    answers = predict_probabilities(model, tokenizer, plain, pool, texts, index=index, max_tokens=max_tokens,
                                    batch_size=batch_size, leave_out_self=True)
    return answers.probabilities.mean(axis=0)


def classify_text(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                  train_examples: Sequence[Example], text: str, *,
                  index: SimilarityIndex | None = None, bias: np.ndarray | None = None) -> dict[str, float]:
    """One text's class probabilities, for trying a recipe by hand.

    One text cannot be its own average, so a recipe calibrated on the texts being classified is calibrated on the
    training texts here; `bias` is that average from `training_text_bias`, passed in so that a person trying text
    after text with the same recipe does not wait for the training texts to be scored again each time.
    """
    if bias is not None and one_text_calibration(recipe) == "training-texts":
        raw = predict_probabilities(model, tokenizer, replace(recipe, calibrate=False), train_examples, [text],
                                    index=index).probabilities
        probabilities = calibrate_probabilities(raw, bias)[0]
    else:
        probabilities = predict_probabilities(model, tokenizer, recipe, train_examples, [text],
                                              index=index).probabilities[0]
    return {label: float(p) for label, p in zip(recipe.labels, probabilities)}


def training_text_bias(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                       train_examples: Sequence[Example], *, index: SimilarityIndex | None = None,
                       batch_size: int = 16) -> np.ndarray | None:
    """The model's average answer over a fixed sample of training texts with this recipe (None without any)."""
    pool = usable_examples(recipe, train_examples)
    shown = select_examples(recipe, pool) if recipe.selection != "similar" else []
    return _training_text_bias(model, tokenizer, recipe, pool, shown, index, None, batch_size)


def _pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


# ------------------------------------------------------------------------------------------------- evaluating


@dataclass(frozen=True)
class EvaluationResult:
    accuracy: float
    macro_f1: float
    labels: list[str]
    confusion_matrix: list[list[int]]  # rows: true class, columns: predicted class
    per_class: list[dict[str, Any]]
    rows: list[dict[str, Any]]  # text, gold, predicted, probability (of the prediction), probabilities, correct
    seconds: float
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_recipe(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                    train_examples: Sequence[Example], eval_examples: Sequence[Example], *,
                    index: SimilarityIndex | None = None, max_tokens: int | None = None, batch_size: int = 16,
                    progress: Progress = None) -> EvaluationResult:
    """Score held-out examples with a recipe: accuracy, macro-F1, confusion matrix and one row per example."""
    if not eval_examples:
        raise ValueError("There are no examples to evaluate on.")
    unknown = sorted({str(example["label"]) for example in eval_examples} - set(recipe.labels))
    if unknown:
        raise ValueError(f"These classes have no label word: {', '.join(unknown)}.")
    started = time.perf_counter()
    predictions = predict_probabilities(model, tokenizer, recipe, train_examples,
                                        [example["text"] for example in eval_examples], index=index,
                                        max_tokens=max_tokens, batch_size=batch_size, progress=progress)
    labels = recipe.labels
    gold = [labels.index(str(example["label"])) for example in eval_examples]
    predicted = predictions.probabilities.argmax(axis=1).tolist()
    report = classification_report(gold, predicted, labels)
    rows = [{"text": example["text"], "gold": labels[g], "predicted": labels[p],
             "probability": float(probabilities[p]),
             "probabilities": {label: float(value) for label, value in zip(labels, probabilities)},
             "correct": g == p}
            for example, g, p, probabilities in zip(eval_examples, gold, predicted, predictions.probabilities)]
    return EvaluationResult(report["accuracy"], report["macro_f1"], labels, report["confusion_matrix"],
                            report["per_class"], rows, time.perf_counter() - started, predictions.warnings)


# ---------------------------------------------------------------------------------------------------- example draws

DRAW_TEXTS = 200  # training texts each draw of worked examples is scored on
MIN_DRAW_TEXTS = 20


@dataclass(frozen=True)
class ExampleDraw:
    """One draw of worked examples, and how the prompt did with it on training texts it did not show."""
    seed: int
    accuracy: float
    macro_f1: float
    examples: list[Example]


def compare_example_draws(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                          train_examples: Sequence[Example], draws: int, *, texts: int = DRAW_TEXTS,
                          batch_size: int = 16, progress: Progress = None) -> list[ExampleDraw]:
    """Few-shot accuracy swings with which examples happen to be drawn. Score `draws` draws (seeds `recipe.seed`,
    `recipe.seed + 1`, …) on one fixed sample of the training examples, each draw's own worked examples left out,
    so the held-out examples stay untouched for the final evaluation. Best first; a seed reproduces its draw."""
    if recipe.few_shot_k == 0 or recipe.selection == "similar":
        raise ValueError("Only randomly drawn worked examples change with the seed: choose k above 0 and random "
                         "or class-balanced selection.")
    usable = usable_examples(recipe, train_examples)
    sample = random.Random(0).sample(usable, min(texts, len(usable)))
    if len(sample) - recipe.few_shot_k < MIN_DRAW_TEXTS:
        raise ValueError(f"Comparing draws needs at least {MIN_DRAW_TEXTS + recipe.few_shot_k} labelled training "
                         f"examples (this dataset has {len(usable)}).")
    plans = []  # (recipe with the draw's seed, the examples it shows, the sample texts it is scored on)
    for number in range(draws):
        drawn = replace(recipe, seed=recipe.seed + number)
        shown = select_examples(drawn, train_examples)
        plans.append((drawn, shown, [example for example in sample if example not in shown]))
    total, done_before, results = sum(len(scored) for _, _, scored in plans), 0, []
    for drawn, shown, scored in plans:
        result = evaluate_recipe(model, tokenizer, drawn, train_examples, scored, batch_size=batch_size,
                                 progress=_overall(progress, done_before, total))
        done_before += len(scored)
        results.append(ExampleDraw(drawn.seed, result.accuracy, result.macro_f1, shown))
    return sorted(results, key=lambda draw: (-draw.accuracy, -draw.macro_f1, draw.seed))


def _overall(progress: Progress, done_before: int, total: int) -> Progress:
    """One draw's progress (done, of its own total) as progress over all the draws."""
    if progress is None:
        return None
    return lambda done, _own_total: progress(done_before + done, total)
