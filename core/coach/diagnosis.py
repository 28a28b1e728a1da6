"""Diagnoses in plain words: what a finished run's curves and evaluation show, the evidence, and the settings change
that usually helps.

Each detector looks at one thing a person who has trained many models would spot: over-fitting (validation loss
rising while training loss falls), under-fitting (loss still falling at the end), a learning rate too high (spikes,
blow-ups) or too low (a flat loss), a classifier that collapsed onto one class, too little data for a model built
from zero, and a model no better than the classical baseline. Each `Diagnosis` carries its remedy as a settings
change (`{"epochs": 20.0}`, `{"class_weights": True}`, `{"model.source": "pretrained", …}`: dotted names reach into
the model's settings), which `core.coach.remedies` applies to the run's config.

The boundary: pure functions over metrics.jsonl's records, eval.json's report (with its baseline ladder) and the
run's `TrainConfig`; no files, no UI. The thresholds are deliberately wide: a wrong diagnosis costs a person a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.coach.curves import Curves, quarters, smoothed, spikes, where
from core.coach.remedies import clamped, pretrained_switch
from core.config.train_config import TrainConfig
from core.engine.baselines import LADDER_KEY, rungs_of, verdict
from core.messages import counted, percent, plain_number

# Below this many training rows, a model built from zero rarely learns what words or shapes are (the 240 photos
# that scored 25 % on ten classes); a pretrained model needs only a few examples per class.
LITTLE_DATA = {"text-classification": 2000, "image-classification": 1000}
# A score this close to perfect leaves nothing to win: no baseline or data-size advice for it, even when a classical
# model scores as well (an easy dataset).
NEAR_PERFECT = 0.99


TITLES = {
    "learning-rate-high": "Learning rate too high: its steps overshoot",
    "collapse": "Collapse onto one class: it mostly answers the same thing",
    "too-little-data": "Too little data for a model built from zero",
    "over-fitting": "Over-fitting: it memorised the training examples",
    "under-fitting": "Under-fitting: it stopped while still learning",
    "learning-rate-low": "Learning rate too low: it hardly learned",
    "no-better-than-baseline": "No better than a classical baseline",
}


@dataclass(frozen=True)
class Diagnosis:
    key: str  # "over-fitting", "under-fitting", "learning-rate-high", "learning-rate-low", "collapse", …
    title: str
    evidence: str  # what was seen, with its numbers
    remedy: dict[str, Any]  # TrainConfig field (dotted for the model's) → the new value
    remedy_note: str  # the change in plain words


def finding(key: str, evidence: str, remedy: dict[str, Any], note: str) -> Diagnosis:
    return Diagnosis(key, TITLES[key], evidence, remedy, note)


# ---------------------------------------------------------------------------------------------------- curves


def over_fitting(curves: Curves, config: TrainConfig, kept_epoch: float | None) -> Diagnosis | None:
    checks = curves.validation
    if len(checks) < 3:
        return None
    best_index = int(np.argmin([loss for _, _, loss in checks]))
    best, last = checks[best_index], checks[-1]
    if best_index == len(checks) - 1 or last[2] < best[2] * 1.1 + 0.01:
        return None
    previous_step = checks[best_index - 1][0] if best_index > 0 else -1
    train_then = curves.train_between(previous_step, best[0])
    train_end = curves.train_between(checks[-2][0], last[0])
    if train_then is None or train_end is None or train_end > train_then * 0.95:
        return None
    evidence = (f"The validation loss was lowest at {where(best)} ({plain_number(best[2])}) and rose to "
                f"{plain_number(last[2])} by {where(last)}, while the training loss kept falling "
                f"({plain_number(train_then)} → {plain_number(train_end)}): the model learned its training examples "
                "by heart instead of what they have in common.")
    if config.early_stopping_patience > 0:
        kept = f"epoch {plain_number(round(kept_epoch, 1))}" if kept_epoch is not None else "the best check"
        evidence += f" The model from {kept} (the best check) was kept, so the results above are its."
        return finding("over-fitting", evidence, *_more_regularisation(config))
    evidence += " The model kept is the last one, which is worse than the best check's."
    best_epoch = best[1] if best[1] is not None else config.epochs * best_index / len(checks)
    epochs = clamped("epochs", min(config.epochs, math.ceil(best_epoch) + 2))
    return finding("over-fitting", evidence, {"early_stopping_patience": 2, "epochs": epochs},
                   f"Stop once the validation score has not improved for 2 checks and keep the best check's "
                   f"model; train at most {plain_number(epochs)} epochs instead of {plain_number(config.epochs)}.")


def _more_regularisation(config: TrainConfig) -> tuple[dict[str, Any], str]:
    decay = clamped("weight_decay", max(0.1, config.weight_decay * 10))
    remedy: dict[str, Any] = {"weight_decay": decay}
    note = f"Pull the weights harder towards zero (weight decay {plain_number(config.weight_decay)} → " \
           f"{plain_number(decay)})"
    if config.model.source == "scratch":
        dropout = round(min(0.5, config.model.dropout + 0.2), 2)
        remedy["model.dropout"] = dropout
        note += f" and hide more values while training (dropout {plain_number(config.model.dropout)} → " \
                f"{plain_number(dropout)})"
    return remedy, note + ": both make memorising harder."


def under_fitting(curves: Curves, config: TrainConfig) -> Diagnosis | None:
    losses = curves.train_losses()
    if len(losses) < 8:
        return None
    _, third, last = quarters(losses)
    if last > third * 0.92:
        return None
    checks = [loss for _, _, loss in curves.validation]
    if checks and checks[-1] > min(checks) * 1.02:
        return None
    evidence = (f"The training loss was still falling at the end ({plain_number(third)} → {plain_number(last)} "
                "over the last quarter of the run)")
    evidence += (" and the validation loss was at its lowest at the last check" if checks else "") + \
        ": the model had not finished learning."
    return finding("under-fitting", evidence, *twice_as_long(config))


def twice_as_long(config: TrainConfig) -> tuple[dict[str, Any], str]:
    if config.max_steps > 0:
        steps = clamped("max_steps", config.max_steps * 2)
        return {"max_steps": steps}, f"Train twice as long: {steps:,} steps instead of {config.max_steps:,}."
    epochs = clamped("epochs", config.epochs * 2)
    return {"epochs": epochs}, (f"Train twice as long: {plain_number(epochs)} epochs instead of "
                                f"{plain_number(config.epochs)}.")


def learning_rate_too_high(curves: Curves, config: TrainConfig, message: str) -> Diagnosis | None:
    smaller = clamped("learning_rate", config.learning_rate / 10)
    remedy = {"learning_rate": smaller}
    note = (f"Take steps ten times smaller: a learning rate of {plain_number(smaller)} instead of "
            f"{plain_number(config.learning_rate)}.")
    if any(word in message for word in ("exploded", "not-a-number", "infinite")):
        return finding("learning-rate-high", f"The run was stopped: {message}", remedy, note)
    losses = curves.train_losses()
    if len(losses) < 8:
        return None
    jumps = spikes(losses)
    first, _, last = quarters(losses)
    if jumps:
        smooth = smoothed(losses)
        worst = max(jumps, key=lambda i: smooth[i])
        step = curves.train[worst + len(losses) - len(smooth)][0]  # the last point of the averaged window
        evidence = (f"The training loss jumped back up to {plain_number(smooth[worst])} around step {step:,}, "
                    f"against {plain_number(smooth[:worst].min())} before (averaged over a few steps): each step "
                    "overshoots what it corrects.")
    elif last > first * 1.1:
        evidence = (f"The training loss ended higher than it started ({plain_number(first)} → {plain_number(last)}): "
                    "the steps are so big that the model gets worse.")
    else:
        return None
    return finding("learning-rate-high", evidence, remedy, note)


def learning_rate_too_low(curves: Curves, config: TrainConfig) -> Diagnosis | None:
    losses = curves.train_losses()
    if len(losses) < 8 or spikes(losses):
        return None
    first, _, last = quarters(losses)
    if first < 0.05 or last < first * 0.95:
        return None
    larger = clamped("learning_rate", config.learning_rate * 10)
    if larger <= config.learning_rate:
        return None
    return finding("learning-rate-low", f"The training loss hardly moved ({plain_number(first)} at the start, "
                   f"{plain_number(last)} at the end): steps this small teach the model almost nothing.",
                   {"learning_rate": larger}, f"Take steps ten times bigger: a learning rate of {plain_number(larger)} "
                                              f"instead of {plain_number(config.learning_rate)}.")


# ---------------------------------------------------------------------------------------------------- evaluation


def collapse(report: dict[str, Any], config: TrainConfig) -> Diagnosis | None:
    matrix = np.asarray(report.get("confusion_matrix") or [], dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.sum() == 0:
        return None
    said, truly = matrix.sum(axis=0) / matrix.sum(), matrix.sum(axis=1) / matrix.sum()
    top = int(said.argmax())
    accuracy, macro_f1 = float(report.get("accuracy", 0.0)), float(report.get("macro_f1", 0.0))
    one_column = said[top] >= 0.9 and said[top] > truly[top] + 0.05
    never_found = any(matrix[i, i] == 0 and matrix[i].sum() > 0 for i in range(len(matrix)))
    if not one_column and not (accuracy - macro_f1 >= 0.25 and never_found):
        return None
    label = report["labels"][top]
    evidence = (f"It answered “{label}” for {percent(said[top])} of the validation rows, which are "
                f"{percent(truly[top])} “{label}”: accuracy {percent(accuracy)} looks good, but macro-F1 is "
                f"{plain_number(macro_f1)}, because the other classes are hardly ever found.")
    if not config.class_weights:
        return finding("collapse", evidence, {"class_weights": True},
                       "Count mistakes on the rarer classes more while training (class weights), so always "
                       "answering the common class stops paying off.")
    smaller = clamped("learning_rate", config.learning_rate / 10)
    return finding("collapse", evidence + " Class weights were already on.", {"learning_rate": smaller},
                   f"Take steps ten times smaller ({plain_number(smaller)}): a model that gives one answer "
                   "whatever it reads often took steps so big that it settled on the safest one.")


def ladder_scores(report: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(model, best classical baseline, best of chance and the most common answer) from eval.json's ladder."""
    rungs = rungs_of(report.get(LADDER_KEY) or {})

    def best(*kinds: str) -> float | None:
        return max((r.score for r in rungs if r.kind in kinds), default=None)

    return best("model"), best("classical"), best("chance", "majority", "mean")


def too_little_data(report: dict[str, Any], config: TrainConfig) -> Diagnosis | None:
    rows = (report.get(LADDER_KEY) or {}).get("train_rows")
    model, classical, _ = ladder_scores(report)
    if config.model.source != "scratch" or config.task not in LITTLE_DATA or not rows or model is None:
        return None
    if rows >= LITTLE_DATA[config.task] or model >= NEAR_PERFECT:
        return None
    if classical is not None and model > classical + 0.01:
        return None
    things = "photos" if config.task == "image-classification" else "texts"
    what = "what shapes and objects look like" if things == "photos" else "what words mean"
    remedy, note = pretrained_switch(config)
    return finding("too-little-data", f"A model built from zero learned from only {counted(rows, things[:-1])}: it "
                   f"must learn {what} from those alone, which takes many thousands. A pretrained model already "
                   "knows, and needs only a few examples per class.", remedy, note)


def no_better_than_baseline(report: dict[str, Any], config: TrainConfig) -> Diagnosis | None:
    model, classical, floor = ladder_scores(report)
    level = 0.01 if config.task != "tabular-regression" else 0.02
    if model is None or classical is None or model > classical + level or model >= NEAR_PERFECT:
        return None
    if floor is not None and model <= floor + level:
        return None  # no better than answering without looking: collapse says it more precisely
    evidence = verdict(report[LADDER_KEY]) + " A model that trains for minutes should beat one that trains in seconds."
    if config.model.source == "scratch" and config.task in LITTLE_DATA:
        remedy, note = pretrained_switch(config)
    else:
        remedy, note = twice_as_long(config)
        remedy["early_stopping_patience"] = patience = max(config.early_stopping_patience, 3)
        note += f" Keep the best check's model (stop after {patience} checks without progress), so it cannot end worse."
    return finding("no-better-than-baseline", evidence, remedy, note)


# ---------------------------------------------------------------------------------------------------- all


def diagnose(records: list[dict[str, Any]], report: dict[str, Any] | None, config: TrainConfig, message: str = "",
             kept_epoch: float | None = None) -> list[Diagnosis]:
    """Every diagnosis that applies, the most pressing first. Two that suggest the same change become one, with
    both pieces of evidence. `message` is the run's status message (it says why a run was stopped)."""
    curves, report = Curves.of(records), report or {}
    found = [learning_rate_too_high(curves, config, message), collapse(report, config),
             too_little_data(report, config), over_fitting(curves, config, kept_epoch),
             under_fitting(curves, config), learning_rate_too_low(curves, config),
             no_better_than_baseline(report, config)]
    merged: list[Diagnosis] = []
    for diagnosis in filter(None, found):
        same = next((i for i, d in enumerate(merged) if d.remedy == diagnosis.remedy), None)
        if same is None:
            merged.append(diagnosis)
        else:
            first = merged[same]
            merged[same] = Diagnosis(first.key, first.title, f"{first.evidence} {diagnosis.evidence}", first.remedy,
                                     first.remedy_note)
    return merged
