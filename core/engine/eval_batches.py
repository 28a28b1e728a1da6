"""Evaluation batches of texts split into parts of similar length, so a check pads less, in the split's own order.

A check pads every text of a batch to the batch's longest one. On SST-2's validation sentences (25 tokens on
average, some 64) a batch of 64 in the split's order took MiniLM 4.3 s on a CPU; the same batches, each sorted by
length and cut into four parts of 16 trimmed to their own longest text, took 2.3 s. The batches themselves stay
as they were (the same rows, in the split's order, so the stop's "first K rows" and every per-row report hold):
only inside one batch are the rows regrouped, run part by part, and put back in their places.

The boundary: one batch's tensors in, parts out, and the parts' results merged back; which models may be trimmed
this way is the task pipeline's to say (`TrainingPlan.trim_eval_padding`), calling the model is the Trainer's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

# A batch is cut into this many parts: enough to pad little, few enough that each part still fills the cores.
PARTS_PER_BATCH = 4


@dataclass(frozen=True)
class Part:
    rows: torch.Tensor  # which rows of the batch, shortest texts first
    inputs: dict[str, Any]  # those rows, trimmed to the longest of them


def length_sorted_parts(inputs: Mapping[str, Any], parts: int = PARTS_PER_BATCH) -> list[Part] | None:
    """The batch as parts of similar length, each trimmed of the padding it does not need; None when the batch
    cannot be split this way (no attention mask, padding on the left, or a single row)."""
    mask = inputs.get("attention_mask")
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2 or len(mask) < 2:
        return None
    if not bool(mask[:, 0].all()):
        return None  # padded on the left (or a row with no text): trimming the right would cut real tokens
    width = mask.shape[1]
    lengths = mask.sum(dim=1)
    order = torch.argsort(lengths, stable=True)
    size = -(-len(order) // parts)
    return [Part(rows, _trimmed(inputs, rows, int(lengths[rows].max()), width)) for rows in order.split(size)]


def _trimmed(inputs: Mapping[str, Any], rows: torch.Tensor, length: int, width: int) -> dict[str, Any]:
    batch = len(inputs["attention_mask"])
    part = {}
    for name, value in inputs.items():
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and len(value) == batch:
            value = value[rows.to(value.device)]
            if value.dim() == 2 and value.shape[1] == width:  # one entry per token: ids, mask, token types
                value = value[:, :length]
        part[name] = value
    return part


def merged(parts: list[Part], results: list[tuple[Any, Any, Any]]) -> tuple[Any, Any, Any]:
    """The parts' (loss, logits, labels) as the whole batch's, every row back in its place; the loss is the
    row-weighted mean of the parts' mean losses."""
    rows = torch.cat([part.rows for part in parts])
    places = torch.argsort(rows)
    losses = [loss for loss, _, _ in results]
    loss = None
    if all(value is not None for value in losses):
        counts = torch.tensor([len(part.rows) for part in parts], dtype=torch.float32)
        stacked = torch.stack([value.detach().float().reshape(()).cpu() for value in losses])
        loss = (stacked * counts).sum() / counts.sum()
        loss = loss.to(losses[0].device)
    return loss, _restore([r[1] for r in results], places), _restore([r[2] for r in results], places)


def _restore(pieces: list[Any], places: torch.Tensor) -> Any:
    if any(piece is None for piece in pieces):
        return None
    if isinstance(pieces[0], (tuple, list)):
        return type(pieces[0])(_restore([piece[i] for piece in pieces], places) for i in range(len(pieces[0])))
    whole = torch.cat(pieces)
    return whole[places.to(whole.device)]
