"""Prompt or fine-tune? Several ways of classifying scored on the same held-out examples, side by side.

An approach is anything that turns texts into class names: a prompt recipe read by a language model (zero-shot or
few-shot) or a classifier fine-tuned in a training run (`core.tasks.text_classification.pipeline.load_predictor`). Every
approach sees exactly the same examples, so the accuracies compare like with like, and the examples on which they
disagree show where each one is stronger. This module knows nothing about Streamlit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

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
    summary: list[dict[str, Any]]  # per approach: approach, kind, accuracy, macro_f1, seconds
    rows: list[dict[str, Any]]  # per example: text, gold, then each approach's prediction under its name
    approaches: list[str]

    @property
    def disagreements(self) -> list[dict[str, Any]]:
        """The examples on which the approaches do not all give the same answer."""
        return [row for row in self.rows if len({row[name] for name in self.approaches}) > 1]

    @property
    def best(self) -> dict[str, Any]:
        return max(self.summary, key=lambda entry: (entry["accuracy"], entry["macro_f1"]))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prompt_approach(name: str, model: Any, tokenizer: Any, recipe: PromptRecipe, train_examples: Sequence[Example],
                    index: SimilarityIndex | None = None, batch_size: int = 16) -> Approach:
    def classify(texts: list[str], progress: Callable[[int, int], None] | None) -> list[str]:
        predictions = predict_probabilities(model, tokenizer, recipe, train_examples, texts, index=index,
                                            batch_size=batch_size, progress=progress)
        return [predictions.labels[i] for i in predictions.probabilities.argmax(axis=1)]

    return Approach(name, "prompt", classify)


def classifier_approach(name: str, predictor: Any, batch_size: int = 32) -> Approach:
    """A fine-tuned classifier whose `predict(texts)` gives, per text, class → probability (most likely first)."""
    def classify(texts: list[str], progress: Callable[[int, int], None] | None) -> list[str]:
        predicted = []
        for start in range(0, len(texts), batch_size):
            results = predictor.predict(texts[start:start + batch_size])
            predicted += [max(result, key=result.get) for result in results]
            if progress is not None:
                progress(len(predicted), len(texts))
        return predicted

    return Approach(name, "fine-tuned", classify)


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


def _summary(approach: Approach, gold: list[str], predicted: list[str], labels: list[str],
             seconds: float) -> dict[str, Any]:
    # A classifier trained on other data may answer with a class this dataset lacks: it counts as wrong.
    index = {label: i for i, label in enumerate(labels)}
    report = classification_report([index[g] for g in gold], [index.get(p, -1) for p in predicted], labels)
    return {"approach": approach.name, "kind": approach.kind, "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"], "seconds": seconds}
