"""How well a prompt recipe classifies, scored on held-out examples.

The boundary: a `PromptRecipe`, a model and labelled examples in; accuracy, macro-F1, a confusion matrix and one row
per example out (`evaluate_recipe`). The predictions themselves come from `core.prompting.classify`, the numbers
from `core.engine.metrics`. Choosing among prompts (and draws of worked examples) on training texts is
`core.prompting.search`'s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.engine.metrics import classification_report
from core.prompting.classify import predict_probabilities
from core.prompting.examples import SimilarityIndex
from core.prompting.recipe import Example, PromptRecipe
from core.prompting.scoring import Progress

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
