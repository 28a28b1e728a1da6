"""Prompt or fine-tune? Several ways of classifying scored on the same held-out examples, side by side.

An approach is anything that turns texts into class names: a prompt recipe read by a language model (zero-shot or
few-shot) or a classifier fine-tuned in a training run (`core.tasks.text_classification.pipeline.load_predictor`). Every
approach sees exactly the same examples, so the accuracies compare like with like, and the examples on which they
disagree show where each one is stronger; guessing and always answering the most common class are measured on the
same examples, as the floor (`with_baselines`). A fine-tuned classifier reads each text cut where its run cut it.
This module knows nothing about Streamlit.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from core.engine.baselines import chance_rung, majority_rung
from core.engine.metrics import classification_report
from core.prompting.classify import predict_probabilities
from core.prompting.examples import SimilarityIndex
from core.prompting.recipe import Example, PromptRecipe

# texts, and a progress callback (done, total) → one class name per text
Classify = Callable[[list[str], Callable[[int, int], None] | None], list[str]]


@dataclass(frozen=True)
class Approach:
    name: str
    kind: str  # "prompt" or "fine-tuned"
    classify: Classify


@dataclass(frozen=True)
class Comparison:
    labels: list[str]
    summary: list[dict[str, Any]]  # per approach: approach, kind ("prompt", "fine-tuned", "baseline"), accuracy,
    # macro_f1, seconds
    rows: list[dict[str, Any]]  # per example: text, gold, then each approach's prediction under its name
    approaches: list[str]

    @property
    def disagreements(self) -> list[dict[str, Any]]:
        """The examples on which the approaches do not all give the same answer."""
        return [row for row in self.rows if len({row[name] for name in self.approaches}) > 1]

    @property
    def best(self) -> dict[str, Any]:
        """The best approach (the baselines are the floor, never the answer)."""
        contenders = [entry for entry in self.summary if entry["kind"] != "baseline"]
        return max(contenders, key=lambda entry: (entry["accuracy"], entry["macro_f1"]))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prompt_approach(name: str, model: Any, tokenizer: Any, recipe: PromptRecipe, train_examples: Sequence[Example],
                    index: SimilarityIndex | None = None, batch_size: int = 16) -> Approach:
    def classify(texts: list[str], progress: Callable[[int, int], None] | None) -> list[str]:
        predictions = predict_probabilities(model, tokenizer, recipe, train_examples, texts, index=index,
                                            batch_size=batch_size, progress=progress)
        return [predictions.labels[i] for i in predictions.probabilities.argmax(axis=1)]

    return Approach(name, "prompt", classify)


def classifier_approach(name: str, predictor: Any, batch_size: int = 32, max_tokens: int | None = None) -> Approach:
    """A fine-tuned classifier whose `predict(texts)` gives, per text, class → probability (most likely first).

    `max_tokens` is the length the run trained and was evaluated with: each text is cut there first, so the model
    reads what it read on the Runs page (its predictor alone would read up to 512 tokens, and answer differently
    for longer texts)."""
    def classify(texts: list[str], progress: Callable[[int, int], None] | None) -> list[str]:
        if max_tokens:
            texts = [cut_to_tokens(predictor.tokenizer, text, max_tokens) for text in texts]
        predicted = []
        for start in range(0, len(texts), batch_size):
            results = predictor.predict(texts[start:start + batch_size])
            predicted += [max(result, key=result.get) for result in results]
            if progress is not None:
                progress(len(predicted), len(texts))
        return predicted

    return Approach(name, "fine-tuned", classify)


def cut_to_tokens(tokenizer: Any, text: str, max_tokens: int) -> str:
    """The start of `text` that `tokenizer(text, truncation=True, max_length=max_tokens)` reads (special tokens
    such as [CLS] and [SEP] included in the count), as text, so any later tokenizing reads the same tokens."""
    encoded = tokenizer(text, truncation=True, max_length=max_tokens, return_offsets_mapping=True)
    ends = [end for start, end in encoded["offset_mapping"] if end > start]
    full = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    if not ends or len(encoded["offset_mapping"]) >= len(full):
        return text
    return text[:max(ends)]


def compare(approaches: Sequence[Approach], eval_examples: Sequence[Example], labels: Sequence[str],
            progress: Callable[[int, int, str], None] | None = None) -> Comparison:
    """Run every approach on the same examples. `progress(done, total, approach name)` counts examples over all."""
    if not approaches:
        raise ValueError("Choose at least one approach to compare.")
    if not eval_examples:
        raise ValueError("There are no held-out examples to compare on.")
    names = [approach.name for approach in approaches]
    if len(set(names)) != len(names):
        raise ValueError("Two approaches have the same name.")
    labels = list(labels)
    texts = [str(example["text"]) for example in eval_examples]
    gold = [str(example["label"]) for example in eval_examples]
    unknown = sorted(set(gold) - set(labels))
    if unknown:
        raise ValueError(f"These classes are not among the compared classes: {', '.join(unknown)}.")
    total = len(texts) * len(approaches)
    summary, predictions = [], {}
    for position, approach in enumerate(approaches):
        done_before = position * len(texts)

        def step(done: int, _total: int, done_before: int = done_before, name: str = approach.name) -> None:
            if progress is not None:
                progress(done_before + done, total, name)

        started = time.perf_counter()
        predicted = [str(label) for label in approach.classify(texts, step)]
        seconds = time.perf_counter() - started
        if len(predicted) != len(texts):
            raise ValueError(f"{approach.name} gave {len(predicted)} answers for {len(texts)} texts.")
        predictions[approach.name] = predicted
        summary.append(_summary(approach, gold, predicted, labels, seconds))
        step(len(texts), len(texts))
    rows = [{"text": text, "gold": answer, **{name: predictions[name][i] for name in names}}
            for i, (text, answer) in enumerate(zip(texts, gold))]
    return Comparison(labels, summary, rows, names)


def with_baselines(comparison: Comparison, train_labels: Sequence[str]) -> Comparison:
    """The comparison with its floor in the same table, measured on the same rows: guessing among the classes
    (its expected score) and always answering the most common training class."""
    gold = [row["gold"] for row in comparison.rows]
    index = {label: i for i, label in enumerate(comparison.labels)}
    guess, always = chance_rung(comparison.labels), majority_rung(list(train_labels), gold)
    most_common = Counter(train_labels).most_common(1)[0][0]
    always_report = classification_report([index[g] for g in gold], [index.get(most_common, -1)] * len(gold),
                                          comparison.labels)
    floor = [{"approach": guess.name, "kind": "baseline", "accuracy": guess.score,
              "macro_f1": _guessing_macro_f1(gold, comparison.labels), "seconds": 0.0},
             {"approach": always.name, "kind": "baseline", "accuracy": always.score,
              "macro_f1": always_report["macro_f1"], "seconds": 0.0}]
    return replace(comparison, summary=[*comparison.summary, *floor])


def _guessing_macro_f1(gold: Sequence[str], labels: Sequence[str]) -> float:
    """The macro-F1 that picking a class at random scores on average: for a class of share p among n classes,
    precision p and recall 1/n."""
    share = Counter(gold)
    chance = 1 / len(labels)
    scores = [2 * (share[label] / len(gold)) * chance / ((share[label] / len(gold)) + chance) for label in labels]
    return float(sum(scores) / len(scores))


def _summary(approach: Approach, gold: list[str], predicted: list[str], labels: list[str],
             seconds: float) -> dict[str, Any]:
    # A classifier trained on other data may answer with a class this dataset lacks: it counts as wrong.
    index = {label: i for i, label in enumerate(labels)}
    report = classification_report([index[g] for g in gold], [index.get(p, -1) for p in predicted], labels)
    return {"approach": approach.name, "kind": approach.kind, "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"], "seconds": seconds}
