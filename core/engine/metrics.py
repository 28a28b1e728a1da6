"""Classification metrics shared by training runs and prompt evaluations, as plain JSON-ready dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def classification_report(gold: list[int] | np.ndarray, predicted: list[int] | np.ndarray,
                          labels: list[str]) -> dict[str, Any]:
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(gold, predicted, labels=ids, zero_division=0)
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=ids, average="macro", zero_division=0)),
        "labels": labels,
        "confusion_matrix": confusion_matrix(gold, predicted, labels=ids).tolist(),
        "per_class": [
            {"label": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(labels, precision, recall, f1, support)
        ],
    }


def accuracy_and_f1(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The two numbers logged at every evaluation during training."""
    return {"accuracy": float(accuracy_score(gold, predicted)),
            "f1": float(f1_score(gold, predicted, average="macro", zero_division=0))}


def ranked_answers(labels: list[str], probabilities) -> dict[str, float]:
    """Each class with its probability, the likeliest first: how every classifier's predictor answers."""
    return dict(sorted(zip(labels, np.asarray(probabilities, dtype=float).tolist()), key=lambda pair: -pair[1]))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def regression_report(gold: np.ndarray, predicted: np.ndarray, max_points: int = 2000) -> dict[str, Any]:
    """MAE, RMSE and R², plus (actual, predicted) pairs for the scatter and residual plots."""
    gold = np.asarray(gold, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    errors = predicted - gold
    spread = float(((gold - gold.mean()) ** 2).sum())
    keep = np.linspace(0, len(gold) - 1, num=min(len(gold), max_points)).astype(int) if len(gold) else []
    return {
        "mae": float(np.abs(errors).mean()) if len(gold) else float("nan"),
        "rmse": float(np.sqrt((errors ** 2).mean())) if len(gold) else float("nan"),
        "r2": float(1.0 - (errors ** 2).sum() / spread) if spread > 0 else float("nan"),
        "points": {"actual": gold[keep].tolist(), "predicted": predicted[keep].tolist()},
    }


def largest_errors(gold: np.ndarray, predicted: np.ndarray, examples: list[dict[str, Any]],
                   shown: int = 20) -> list[dict[str, Any]]:
    """The validation rows a regression model missed by most: actual, predicted and error first, then the row."""
    gold = np.asarray(gold, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    order = np.argsort(-np.abs(predicted - gold), kind="stable")[:shown]
    return [{"actual": float(gold[i]), "predicted": float(predicted[i]), "error": float(predicted[i] - gold[i]),
             **examples[i]} for i in order]


def regression_metrics(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The numbers logged at every evaluation of a regression run."""
    report = regression_report(gold, predicted, max_points=0)
    return {k: report[k] for k in ("mae", "rmse", "r2")}


def classification_evaluation(logits: np.ndarray, gold: np.ndarray, labels: list[str],
                              examples: list[dict[str, Any]], worst_shown: int = 20) -> dict[str, Any]:
    """eval.json for any classifier: metrics, confusion matrix, per-class scores and the worst mistakes.

    `examples` are what a person should see of each validation row (its text, image path or table row), in the
    same order as `logits`.
    """
    probabilities = softmax(np.asarray(logits, dtype=np.float64))
    predicted = probabilities.argmax(-1)
    gold = np.asarray(gold).astype(int)
    report = classification_report(gold, predicted, labels)
    report["validation_rows"] = int(len(gold))
    wrong = [i for i in range(len(gold)) if predicted[i] != gold[i]]
    # The wrong answers the model was surest of: where label errors and blind spots show first.
    wrong.sort(key=lambda i: -probabilities[i, predicted[i]])
    report["worst_mistakes"] = [
        {**examples[i], "gold": labels[gold[i]], "predicted": labels[predicted[i]],
         "confidence": float(probabilities[i, predicted[i]])} for i in wrong[:worst_shown]]
    return report
