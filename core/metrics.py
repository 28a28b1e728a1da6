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


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
