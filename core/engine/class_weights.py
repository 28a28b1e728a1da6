"""Class weights: a classifier's cross-entropy with mistakes on rare classes counting more (the class_weights knob).

With 87 % "ham", a model that always answers "ham" is right 87 % of the time and the plain loss barely pushes it
to find the rest. Weighting each class by how rare it is (scikit-learn's "balanced" rule: rows ÷ (classes × that
class's rows)) makes every class count as much in total, so collapsing onto the common class stops paying off.

The boundary: the weights and the loss function the engine hands the Trainer (`compute_loss_func`); a task
pipeline only says which class each training row has (`TrainingPlan.class_weights`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional


def balanced_weights(label_ids: Sequence[int] | np.ndarray, classes: int) -> list[float]:
    """One weight per class: rows ÷ (classes × the class's rows). Over the training rows they average 1, so the
    loss keeps its usual size; a class with no training row gets 1."""
    ids = np.asarray(label_ids, dtype=np.int64)
    counts = np.bincount(ids, minlength=classes).astype(np.float64)
    weights = np.where(counts > 0, len(ids) / (classes * np.maximum(counts, 1.0)), 1.0)
    return [float(w) for w in weights]


def weighted_cross_entropy(weights: Sequence[float]) -> Callable[..., torch.Tensor]:
    """The loss the Trainer calls as `compute_loss_func(outputs, labels, num_items_in_batch)`."""
    weight = torch.tensor(list(weights), dtype=torch.float32)

    def loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        logits = logits.float().reshape(-1, logits.shape[-1])
        labels = labels.reshape(-1).long().to(logits.device)
        per_row = functional.cross_entropy(logits, labels, weight=weight.to(logits.device), reduction="none")
        # The Trainer divides by the rows of all processes (and accumulated batches) when it counted them; else
        # this is the batch's weighted mean.
        if num_items_in_batch:
            return per_row.sum() / num_items_in_batch
        return per_row.sum() / weight.to(logits.device)[labels].sum().clamp(min=1e-12)

    return loss
