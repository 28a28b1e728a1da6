"""Trainer callbacks of a text-generation run: `SampleCallback` appends what the model writes from a fixed prompt
at every check to `run_dir/samples.jsonl` (the live panel shows it, see `ui.runs.samples_view`), and `LiveEvaluation`
adds checks when one epoch would give a chart of one point.

Pipeline-private (only `core.tasks.text_generation.pipeline` builds them), yet in `core/` beside
`core.engine.training`'s
MetricsCallback, the other writer of the run folder. This module knows nothing about datasets or model loading.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from core.config.train_config import TrainConfig
from core.engine.run_folder import SAMPLES_FILE
from core.engine.training import steps_per_epoch, total_steps
from core.lm.decoding import DecodingSettings
from core.lm.writing import sample_text

LIVE_EVALUATIONS = 8  # checks per run when the person left "check every" at once per epoch and runs few epochs


class SampleCallback(TrainerCallback):
    """At every evaluation, continues one fixed prompt and appends {"step", "prompt", "text"} to samples.jsonl, so
    a person can read how the writing improves."""

    def __init__(self, run_dir: Path, tokenizer, prompt: str, shown_prompt: str, settings: DecodingSettings,
                 never_write: tuple[int, ...] = ()):
        self.path = run_dir / SAMPLES_FILE
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.shown_prompt = shown_prompt
        self.settings = settings
        self.never_write = never_write

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and model is not None:
            self.write(model, state.global_step)

    def write(self, model, step: int) -> dict[str, Any]:
        record = {"step": step, "prompt": self.shown_prompt,
                  "text": sample_text(model, self.tokenizer, self.prompt, self.settings, self.never_write)}
        with open(self.path, "a") as file:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
        return record


class LiveEvaluation(TrainerCallback):
    """Checks the validation loss `LIVE_EVALUATIONS` times in a run of few epochs, when the person left "check
    every" at once per epoch: one pass over a large text is a single epoch, and a live chart with one point says
    nothing. Steps where an epoch ends are skipped, since the engine checks there already."""

    def __init__(self, every: int, epoch_steps: int, save: bool):
        self.every = every
        self.epoch_steps = epoch_steps
        self.save = save  # with early stopping the best check must be a saved checkpoint

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if step % self.every == 0 and step % self.epoch_steps and step != state.max_steps:
            control.should_evaluate = True
            control.should_save = control.should_save or self.save
        return control


def live_evaluation(config: TrainConfig, train_rows: int) -> LiveEvaluation | None:
    if config.eval_every > 0 or (config.max_steps <= 0 and config.epochs >= LIVE_EVALUATIONS):
        return None
    steps = total_steps(config, train_rows)
    every = max(1, math.ceil(steps / LIVE_EVALUATIONS))
    return LiveEvaluation(every, steps_per_epoch(train_rows, config.batch_size),
                          save=config.early_stopping_patience > 0)
