"""The baseline ladder: what a trained model's score is worth, measured on the same validation rows.

A number alone says nothing to someone who has never trained a model: 25 % is poor on ten classes only if one knows
that guessing gets 10 %, and 87.6 % is no success when 87.6 % of the rows are "ham". So after training, the worker
measures the rungs below the model on the very rows the model was measured on: chance, always answering the most
common class (or the average, for amounts), and a classical model that scikit-learn trains in seconds (TF-IDF +
logistic regression for texts, gradient boosting for tables, logistic regression on shrunken pixels for images).

The boundary: pure functions from training and validation rows to rungs, a JSON-ready ladder and the sentence that
sums it up (`core.engine.ladder_data` gathers each task's rows from a prepared dataset). No UI, no run folder: the
worker stores the ladder in eval.json under `LADDER_KEY`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.messages import counted, percent, plain_number

LADDER_KEY = "ladder"  # eval.json's key for the ladder
# A classical baseline must stay a matter of seconds on any dataset: beyond this many training rows it learns
# from a random sample of them (the validation rows are never sampled: every rung is measured on all of them).
MAX_BASELINE_TRAIN_ROWS = 20_000
# Within this many accuracy points (or this much R²) two rungs are level: a validation set of a few hundred rows
# cannot tell them apart.
LEVEL_POINTS = 1.0
LEVEL_R2 = 0.02


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: what it is, in plain words, its score on the validation rows and its cost."""

    name: str
    description: str
    score: float
    seconds: float
    kind: str  # "chance", "majority", "mean", "classical" or "model"


# ---------------------------------------------------------------------------------------------------- floors


def chance_rung(classes: Sequence[str]) -> Rung:
    share = 1.0 / max(len(classes), 1)
    return Rung("Guessing", f"Picking one of the {len(classes)} classes at random is right {percent(share)} of the "
                            "time, whatever the data.", share, 0.0, "chance")


def majority_rung(train_labels: Sequence[Any], validation_labels: Sequence[Any]) -> Rung:
    """Always answering the class most common in the training rows, scored on the validation rows."""
    most_common = Counter(train_labels).most_common(1)[0][0]
    share = float(np.mean([label == most_common for label in validation_labels]))
    return Rung(f"Always “{most_common}”", f"Answering “{most_common}” (the most common class) for every row, "
                                           f"without looking at it, is right {percent(share)} of the time.",
                share, 0.0, "majority")


def mean_rung(train_targets: np.ndarray, validation_targets: np.ndarray) -> Rung:
    average = float(np.mean(train_targets))
    return Rung("Always the average", f"Answering the training rows' average ({plain_number(average)}) for every "
                                      "row, without looking at it. Its R² is about 0 by definition.",
                r2_score(validation_targets, np.full(len(validation_targets), average)), 0.0, "mean")


def r2_score(gold: np.ndarray, predicted: np.ndarray) -> float:
    gold, predicted = np.asarray(gold, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    spread = float(((gold - gold.mean()) ** 2).sum())
    return float(1.0 - ((predicted - gold) ** 2).sum() / spread) if spread > 0 else 0.0


# ---------------------------------------------------------------------------------------------------- classical


def sampled(rows: int, seed: int = 0) -> np.ndarray:
    """The training rows a classical baseline learns from: all of them, or a fixed random sample of a big set."""
    if rows <= MAX_BASELINE_TRAIN_ROWS:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, MAX_BASELINE_TRAIN_ROWS, replace=False))


def _sample_note(rows: int) -> str:
    if rows <= MAX_BASELINE_TRAIN_ROWS:
        return ""
    return f" It learned from {counted(MAX_BASELINE_TRAIN_ROWS, 'row')} of the {rows:,} training rows, to stay quick."


def timed_fit(build: Callable[[], Any], train_inputs: Any, train_targets: Any, validation_inputs: Any
              ) -> tuple[np.ndarray, float]:
    """(validation predictions, seconds spent learning and predicting) of a fresh scikit-learn model."""
    started = time.perf_counter()
    model = build().fit(train_inputs, train_targets)
    predictions = model.predict(validation_inputs)
    return np.asarray(predictions), time.perf_counter() - started


def text_rung(train_texts: Sequence[str], train_labels: Sequence[str], validation_texts: Sequence[str],
              validation_labels: Sequence[str]) -> Rung:
    """TF-IDF of words, word pairs and letter groups + logistic regression: 0.77 on SST-2's dev set from 3,000
    training sentences, in about 3 seconds on a small CPU."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    def build():
        words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        letters = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        return make_pipeline(make_union(words, letters), LogisticRegression(C=10.0, max_iter=2000))

    keep = sampled(len(train_texts))
    predictions, seconds = timed_fit(build, [str(train_texts[i]) for i in keep],
                                     [str(train_labels[i]) for i in keep], [str(t) for t in validation_texts])
    return _accuracy_rung("Word counts + logistic regression",
                          "A classic text classifier (TF-IDF + logistic regression): it weighs which words and "
                          "word pieces go with each class, and knows nothing about their meaning."
                          + _sample_note(len(train_texts)), predictions, validation_labels, seconds)


def table_rung(train_features: np.ndarray, train_labels: np.ndarray, validation_features: np.ndarray,
               validation_labels: np.ndarray) -> Rung:
    from sklearn.ensemble import HistGradientBoostingClassifier

    keep = sampled(len(train_labels))
    predictions, seconds = timed_fit(lambda: HistGradientBoostingClassifier(random_state=0),
                                     train_features[keep], train_labels[keep], validation_features)
    return _accuracy_rung("Gradient boosting", "Hundreds of small decision trees, each fixing the last one's "
                                               "mistakes, on the same prepared columns: the usual strong choice "
                                               "for tables." + _sample_note(len(train_labels)),
                          predictions, validation_labels, seconds)


def image_rung(train_pixels: np.ndarray, train_labels: np.ndarray, validation_pixels: np.ndarray,
               validation_labels: np.ndarray, side: int, of_rows: int | None = None) -> Rung:
    """`of_rows`: how many training images there were, when only a sample of them was read (see `sampled`)."""
    from sklearn.linear_model import LogisticRegression

    keep = sampled(len(train_labels))
    predictions, seconds = timed_fit(lambda: LogisticRegression(max_iter=1000), train_pixels[keep],
                                     train_labels[keep], validation_pixels)
    return _accuracy_rung("Pixels + logistic regression",
                          f"Each image shrunk to {side}×{side} dots, and a simple weighing of which dots are dark "
                          "or light in each class: no notion of shapes." + _sample_note(of_rows or len(train_labels)),
                          predictions, validation_labels, seconds)


def _accuracy_rung(name: str, description: str, predictions: np.ndarray, gold: Sequence[Any],
                   seconds: float) -> Rung:
    score = float(np.mean(np.asarray(predictions) == np.asarray(gold)))
    return Rung(name, f"{description} Right {percent(score)} of the time.", score, seconds, "classical")


def regression_rungs(train_features: np.ndarray, train_targets: np.ndarray, validation_features: np.ndarray,
                     validation_targets: np.ndarray) -> list[Rung]:
    """Always the average, a straight-line fit and gradient boosting, each with its R² on the validation rows."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV

    keep = sampled(len(train_targets))
    rungs = [mean_rung(train_targets, validation_targets)]
    for name, description, build in (
            ("Straight-line fit", "A weighted sum of the prepared columns (linear regression).", RidgeCV),
            ("Gradient boosting", "Hundreds of small decision trees, each fixing the last one's mistakes, on the "
                                  "same prepared columns.", lambda: HistGradientBoostingRegressor(random_state=0))):
        predictions, seconds = timed_fit(build, train_features[keep], train_targets[keep], validation_features)
        score = r2_score(validation_targets, predictions)
        rungs.append(Rung(name, f"{description}{_sample_note(len(train_targets))} R² {plain_number(score)}.",
                          score, seconds, "classical"))
    return rungs


def model_rung(score: float, seconds: float | None, metric: str) -> Rung:
    said = percent(score) if metric == "accuracy" else f"R² {plain_number(score)}"
    return Rung("Your model", f"The model this run trained, measured on the same validation rows: {said}.",
                float(score), float(seconds or 0.0), "model")


# ---------------------------------------------------------------------------------------------------- ladder


def ladder(metric: str, rungs: list[Rung], train_rows: int, validation_rows: int) -> dict[str, Any]:
    """The JSON-ready ladder eval.json keeps: the metric, the rows it was measured on, the rungs lowest first."""
    return {"metric": metric, "train_rows": int(train_rows), "validation_rows": int(validation_rows),
            "rungs": [asdict(rung) for rung in sorted(rungs, key=lambda r: (r.kind == "model", r.score))]}


def rungs_of(stored: dict[str, Any]) -> list[Rung]:
    return [Rung(**{k: r[k] for k in ("name", "description", "score", "seconds", "kind")})
            for r in stored.get("rungs", [])]


def how_long(seconds: float) -> str:
    """ "a 3-second baseline", "an 11-second baseline", "a baseline trained in under a second"."""
    if seconds < 1.0:
        return "a baseline trained in under a second"
    count = str(round(seconds))
    article = "an" if count.startswith("8") or count in ("11", "18") else "a"  # "an 8-second", "an 11-second"
    return f"{article} {count}-second baseline"


def verdict(stored: dict[str, Any]) -> str:
    """One sentence that places the model on its ladder, in points of accuracy (or R²) a person can weigh."""
    rungs = rungs_of(stored)
    model = next((r for r in rungs if r.kind == "model"), None)
    if model is None:
        return ""
    accuracy = stored.get("metric") == "accuracy"
    level = LEVEL_POINTS / 100 if accuracy else LEVEL_R2
    said = (lambda r: percent(r.score)) if accuracy else (lambda r: f"R² {plain_number(r.score)}")
    floors = [r for r in rungs if r.kind in ("chance", "majority", "mean")]
    best_floor = max(floors, key=lambda r: r.score, default=None)
    if best_floor is not None and model.score <= best_floor.score + level:
        return f"Your model does no better than {floor_phrase(best_floor)} ({said(best_floor)})."
    classical = max((r for r in rungs if r.kind == "classical"), key=lambda r: r.score, default=None)
    if classical is None:
        return f"Your model ({said(model)}) does better than {floor_phrase(best_floor)}."
    gap = (model.score - classical.score) * (100 if accuracy else 1)
    units = (lambda g: counted(round(abs(g)), "point")) if accuracy else (lambda g: f"{plain_number(abs(g))} of R²")
    baseline = f"{how_long(classical.seconds)} ({classical.name.lower()}, {said(classical)})"
    if abs(gap) < (LEVEL_POINTS if accuracy else LEVEL_R2):
        return f"Your model ({said(model)}) is level with {baseline}."
    if gap > 0:
        return f"Your model ({said(model)}) beats {baseline} by {units(gap)}."
    return f"{baseline[0].upper()}{baseline[1:]} beats your model ({said(model)}) by {units(gap)}."


def floor_phrase(floor: Rung | None) -> str:
    if floor is None or floor.kind == "chance":
        return "guessing at random"
    if floor.kind == "mean":
        return "always answering the average"
    return f"always answering {floor.name.removeprefix('Always ')}"
