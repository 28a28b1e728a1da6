"""How well a prompt recipe classifies: scored on held-out examples, and compared across draws of worked examples.

The boundary: a `PromptRecipe`, a model and labelled examples in; accuracy, macro-F1, a confusion matrix and one row
per example out (`evaluate_recipe`), or the same per draw of worked examples (`compare_example_draws`). The
predictions themselves come from `core.prompting.classify`; the numbers from `core.engine.metrics`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.engine.metrics import classification_report
from core.prompting.classify import predict_probabilities
from core.prompting.examples import SimilarityIndex, select_examples, usable_examples
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
