"""Remedies as settings changes: applying one to a run's config, and saying what it changes.

A remedy is a plain dict from a `TrainConfig` field to its new value; a dotted name ("model.source",
"model.dropout") reaches into the model's settings. `apply_remedy` builds the new run's config from the old one (every
knob is checked again on the way, so an impossible value never reaches a run); `settings_diff` lists each change as
the person reads it ("Epochs: 10 → 20").

A run started from a remedy remembers which run it improves on, and why, in its own `parent.json`
(`record_parent`, `read_parent`): a file no one else writes, so it cannot race the worker's status updates.

The boundary: settings and that one file; which remedy fits which run is `core.coach.diagnosis`, starting the new
run is the page's (`core.engine.runs.create_run` and the queue).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config.catalog import BUNDLED_PREFIX
from core.config.knobs import knob_label, knob_limits
from core.config.train_config import ModelSpec, TrainConfig
from core.engine.run_folder import read_json_object, write_json_atomic
from core.messages import plain_number

# The hyperparameters a switch to a pretrained model takes from that model's "balanced" preset: a model that
# already knows a lot wants small careful steps and few passes.
PRETRAINED_SETTINGS = ("epochs", "learning_rate", "batch_size", "max_length")
PARENT_FILE = "parent.json"  # in a run started from a diagnosis: the run it improves on, the diagnosis, the change


@dataclass(frozen=True)
class Change:
    name: str  # "epochs", "model.dropout"
    label: str  # "Epochs", "Model: dropout"
    before: Any
    after: Any

    @property
    def before_text(self) -> str:
        return plain_number(self.before)

    @property
    def after_text(self) -> str:
        return plain_number(self.after)


def _owner(name: str) -> tuple[type, str]:
    """(the settings class that holds a dotted field, the field's own name)."""
    if name.startswith("model."):
        return ModelSpec, name.removeprefix("model.")
    return TrainConfig, name


def clamped(name: str, value: float) -> float:
    """A suggested number kept inside its knob's limits (twice 1,000 epochs is still 1,000), to three significant
    digits: a tenth of 0.003 is 0.0003 in the new run's settings, not 0.00030000000000000003."""
    value = float(f"{value:.3g}")
    low, high = knob_limits(*_owner(name))
    value = max(value, low) if low is not None else value
    value = min(value, high) if high is not None else value
    return int(value) if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool) else value


def current_value(config: TrainConfig, name: str) -> Any:
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


def apply_remedy(config: TrainConfig, remedy: dict[str, Any]) -> TrainConfig:
    """The config with the remedy's changes; a KnobError or ConfigError (plain messages) if one is impossible."""
    data = config.to_dict()
    for name, value in remedy.items():
        target = data
        *path, last = name.split(".")
        for part in path:
            target = target[part]
        if last not in target:
            raise KeyError(f"{name} is not a setting")
        target[last] = list(value) if isinstance(value, tuple) else value
    return TrainConfig.from_dict(data)


def settings_diff(config: TrainConfig, remedy: dict[str, Any]) -> list[Change]:
    """Each setting the remedy changes, with its value now and after; settings it leaves as they are are left out."""
    changes = []
    for name, value in remedy.items():
        before = current_value(config, name)
        if before == value:
            continue
        owner, field_name = _owner(name)
        label = knob_label(owner, field_name)
        changes.append(Change(name, f"Model: {label.lower()}" if owner is ModelSpec else label, before, value))
    return changes


def pretrained_switch(config: TrainConfig) -> tuple[dict[str, Any], str]:
    """The change from a model built from zero to the task's default pretrained model, with that model's own
    "balanced" hyperparameters, and a note that says so (and when the model must first be downloaded)."""
    from core.config.presets import default_config

    target = default_config(config.task, config.dataset, "pretrained")
    remedy: dict[str, Any] = {"model.source": "pretrained", "model.name": target.model.name,
                              "model.finetune": target.model.finetune}
    remedy.update({name: getattr(target, name) for name in PRETRAINED_SETTINGS
                   if getattr(target, name) != getattr(config, name)})
    name = target.model.name
    shown = name.removeprefix(BUNDLED_PREFIX)
    where = ("it comes with the app" if name.startswith(BUNDLED_PREFIX)
             else "it is downloaded from Hugging Face the first time, which needs an internet connection")
    return remedy, (f"Start from the pretrained model {shown} ({where}) with its usual settings: it already "
                    "knows a lot, so a few examples per class go a long way.")


def record_parent(run_dir: Path, parent_run: str, diagnosis: str, remedy: dict[str, Any]) -> None:
    write_json_atomic(run_dir / PARENT_FILE, {"parent_run": parent_run, "diagnosis": diagnosis, "change": remedy})


def read_parent(run_dir: Path) -> dict[str, Any] | None:
    """{"parent_run", "diagnosis", "change"} of a run started from a diagnosis; None for any other run (or a file
    that holds something else)."""
    parent = read_json_object(run_dir / PARENT_FILE)
    if not parent or not isinstance(parent.get("parent_run"), str) or not isinstance(parent.get("change"), dict):
        return None
    return parent
