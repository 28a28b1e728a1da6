"""Padding-free batches of instruction pairs: the batch's examples laid end to end in one row, no padding at all.

`DataCollatorWithFlattening` lays the examples out and numbers each one's positions from 0; from those restarts
transformers' attention masks keep every example to its own tokens (a block-diagonal causal mask for SDPA and
eager attention, variable-length kernels for flash attention). The loss is the mean over the same response tokens
as with padding, so training is the same computation without the padded tokens.

Two guards, since a model that does not read the restarts would silently let examples see each other:
- the model must not build a key/value cache during training (transformers leaves packed masks out when it does),
  so every packed batch says `use_cache=False`;
- `packing_is_exact` runs the model once on two short examples, packed and one by one, before training: packing
  is used only when the answers agree, and otherwise the run says so in its log and pads as before.

Where packing is used is `core.engine.speed.packing_choice`'s decision (on GPUs; on a CPU length-grouped batches
were faster).

The boundary: batches and one check of the model; which data format gets it is the pipeline's.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DataCollatorWithFlattening

from core.engine.speed import LOG_PREFIX, PACK_SEQUENCES, packing_choice
from core.engine.training import DevicePlan

# The self-check's two examples (token ids counted from here, inside any vocabulary) and their lengths.
CHECK_FIRST_ID, CHECK_LENGTHS = 5, (7, 5)
CHECK_TOLERANCE = 1e-3


class PackedBatches:
    """The collator: each batch's examples end to end in one row, positions restarting at every example."""

    def __init__(self) -> None:
        # The first label of each example becomes -100, so no example learns to predict the next one's start.
        self.flatten = DataCollatorWithFlattening(return_position_ids=True, separator_id=-100)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.flatten([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features])
        batch["use_cache"] = False
        return batch


@torch.no_grad()
def packing_is_exact(model: torch.nn.Module) -> bool:
    """Whether the model answers two packed examples exactly as it answers each alone."""
    examples = [list(range(CHECK_FIRST_ID, CHECK_FIRST_ID + n)) for n in CHECK_LENGTHS]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        alone = torch.cat([model(input_ids=torch.tensor([ids], device=device), use_cache=False).logits[0]
                           for ids in examples])
        packed = PackedBatches()([{"input_ids": ids, "labels": ids} for ids in examples])
        packed = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in packed.items() if k != "labels"}
        together = model(**packed).logits[0]
    except (TypeError, ValueError, RuntimeError):
        return False  # a model whose forward takes no position ids, for one
    finally:
        model.train(was_training)
    scale = alone.abs().max().clamp(min=1.0)
    return bool(((together.float() - alone.float()).abs().max() / scale) < CHECK_TOLERANCE)


def packs(model: torch.nn.Module, device: DevicePlan) -> bool:
    """Whether this run's instruction pairs are packed: chosen for the device, and exact for this model."""
    if not packing_choice(device).value:
        return False
    if packing_is_exact(model):
        return True
    print(f"{LOG_PREFIX} {PACK_SEQUENCES}=False: this model's attention lets packed examples see each other, so "
          "its batches are padded instead", flush=True)
    return False
