"""What a settings search tries: the settings that matter for a task and model source, each with a range around the
person's own settings and a sentence that says what it is; and the run config each tried combination makes.

A search space is plain data (`Dimension`), stored in the search's folder and read back by the page that shows the
search: learning rate (log scale, around the chosen one), epochs (from the "quick" to the "thorough" preset's),
batch size (half, as chosen, double), dropout (models built from zero), and the model's size where the model has
one (the width of a model built from zero; LoRA's rank for a language model). The person's own settings are always
one point of the space (`starting_point`), so a search tries them first and never ends below them.

The boundary: settings only. Sampling is Optuna's (`core.search.driver`); checking that a config may be launched is
the page's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from core.coach.remedies import apply_remedy
from core.config.catalog import architecture
from core.config.knobs import knob_help, knob_label, knob_limits
from core.config.presets import PRESETS
from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
from core.messages import plain_number

WIDTH = "model_width"  # not a TrainConfig field: a factor on every width of a model built from zero
WIDTH_FACTORS = (0.5, 1.0, 2.0)
WIDTH_KNOBS = ("embedding_dim", "hidden_size", "dense_size")  # single widths (whole numbers with limits)
WIDTH_LISTS = ("conv_channels", "hidden_sizes")  # a width per layer
LEARNING_RATE_SPAN = (1 / 5, 3.0)  # tried from a fifth of the chosen rate to three times it
DROPOUT_RANGE = (0.0, 0.5)
LORA_RANKS = (4, 8, 16)
LOG_WORDS = ", spread evenly on a log scale (a tenth as large matters as much as ten times as large)"
FEW_AND_MANY_WORDS = ", trying few as often as many"


@dataclass(frozen=True)
class Dimension:
    """One setting a search varies. `kind`: "log" (a number spread on a log scale), "float", "int" (whole numbers,
    on a log scale when `log`), or "choice" (one of `choices`)."""

    name: str  # the setting, dotted for the model's ("model.dropout", "lora.rank"), or WIDTH
    label: str
    words: str  # what it is and what is tried, for the person
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    log: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "choices": list(self.choices)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dimension:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**{**known, "choices": tuple(known.get("choices") or ())})

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        return isinstance(value, (int, float)) and self.low <= value <= self.high


def search_space(config: TrainConfig) -> tuple[Dimension, ...]:
    """The settings a search varies for this config's task and model, each around the config's own value."""
    # A run with a fixed number of steps ignores its epochs: they are not worth trying.
    dimensions = [_learning_rate(config), *([_epochs(config)] if config.max_steps <= 0 else []), _batch_size(config)]
    if config.model.source == "scratch":
        knobs = architecture(config.task, config.model.name).knobs
        if "dropout" in knobs:
            dimensions.append(_dropout(config.model.dropout))
        if any(name in knobs for name in WIDTH_KNOBS + WIDTH_LISTS):
            dimensions.append(_width())
    elif config.uses_lora:
        dimensions.append(_lora_rank(config.lora.rank))
    return tuple(dimensions)


def _range_words(low: float, high: float, chosen: float, scale: str = "") -> str:
    return f"Tried from {plain_number(low)} to {plain_number(high)}{scale}; yours: {plain_number(chosen)}."


def _within(cls: type, name: str, value: float) -> float:
    low, high = knob_limits(cls, name)
    return min(max(value, low), high)


def _learning_rate(config: TrainConfig) -> Dimension:
    chosen = config.learning_rate
    low, high = (_within(TrainConfig, "learning_rate", float(f"{chosen * f:.3g}")) for f in LEARNING_RATE_SPAN)
    return Dimension("learning_rate", knob_label(TrainConfig, "learning_rate"),
                     f"{knob_help(TrainConfig, 'learning_rate')} {_range_words(low, high, chosen, LOG_WORDS)}",
                     "log", low, high, log=True)


def _epochs(config: TrainConfig) -> Dimension:
    """From the "quick" preset's epochs to the "thorough" one's, and always the config's own."""
    presets = PRESETS[(config.task, config.model.source)]
    low = min(presets["quick"]["epochs"], config.epochs)
    high = max(presets["thorough"]["epochs"], config.epochs)
    whole = all(float(v).is_integer() for v in (low, high, config.epochs))
    log = high / low >= 4
    return Dimension("epochs", knob_label(TrainConfig, "epochs"),
                     f"{knob_help(TrainConfig, 'epochs')} "
                     f"{_range_words(low, high, config.epochs, FEW_AND_MANY_WORDS if log else '')}",
                     "int" if whole else "float", int(low) if whole else low, int(high) if whole else high, log=log)


def _batch_size(config: TrainConfig) -> Dimension:
    chosen = config.batch_size
    # A language model's memory grows fastest with the batch: never more than the person chose.
    factors = (0.5, 1.0) if config.task == "text-generation" else (0.5, 1.0, 2.0)
    choices = sorted({int(_within(TrainConfig, "batch_size", max(1, round(chosen * f)))) for f in factors})
    shown = ", ".join(plain_number(c) for c in choices)
    return Dimension("batch_size", knob_label(TrainConfig, "batch_size"),
                     f"{knob_help(TrainConfig, 'batch_size')} Tried: {shown}; yours: {chosen}.", "choice",
                     choices=tuple(choices))


def _dropout(chosen: float) -> Dimension:
    low, high = DROPOUT_RANGE[0], max(DROPOUT_RANGE[1], chosen)
    return Dimension("model.dropout", knob_label(ModelSpec, "dropout"),
                     f"{knob_help(ModelSpec, 'dropout')} {_range_words(low, high, chosen)}", "float", low, high)


def _width() -> Dimension:
    return Dimension(WIDTH, "Model size", "How wide the model's layers are: half as wide as you chose, as you "
                     "chose, or twice as wide. Wider can learn more but trains slower and can memorise more.",
                     "choice", choices=WIDTH_FACTORS)


def _lora_rank(chosen: int) -> Dimension:
    choices = tuple(sorted({*LORA_RANKS, chosen}))
    return Dimension("lora.rank", "LoRA rank", f"{knob_help(LoraSpec, 'rank')} Tried: "
                     f"{', '.join(str(c) for c in choices)}; yours: {chosen}.", "choice", choices=choices)


# ---------------------------------------------------------------------------------------------------- configs


def starting_point(config: TrainConfig, space: tuple[Dimension, ...]) -> dict[str, Any]:
    """The values that make the config itself: what a search tries first."""
    values = {"learning_rate": config.learning_rate, "epochs": config.epochs, "batch_size": config.batch_size,
              "model.dropout": config.model.dropout, WIDTH: 1.0, "lora.rank": config.lora.rank}
    point = {}
    for dimension in space:
        value = values[dimension.name]
        point[dimension.name] = int(value) if dimension.kind == "int" else value
    return point


def config_for(base: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """The base config with a combination of values; a KnobError or ConfigError (plain messages) if impossible."""
    changes = {name: value for name, value in values.items() if name != WIDTH}
    if "epochs" in changes:
        changes["epochs"] = float(changes["epochs"])
    if "lora.rank" in changes:  # keep LoRA's strength (alpha ÷ rank) as chosen
        changes["lora.alpha"] = max(1, round(base.lora.alpha / base.lora.rank * changes["lora.rank"]))
    if values.get(WIDTH, 1.0) != 1.0:
        changes.update(widths(base, float(values[WIDTH])))
    return apply_remedy(base, changes)


def widths(config: TrainConfig, factor: float) -> dict[str, Any]:
    """The model's widths times `factor`, as changes to its settings: each inside its limits, and the width a
    Transformer splits between its attention heads kept a multiple of their number."""
    spec, knobs = config.model, architecture(config.task, config.model.name).knobs
    changes: dict[str, Any] = {}
    for name in (n for n in WIDTH_KNOBS if n in knobs):
        multiple = spec.num_heads if name == "embedding_dim" and "num_heads" in knobs else 1
        scaled = max(multiple, round(getattr(spec, name) * factor / multiple) * multiple)
        low, high = knob_limits(ModelSpec, name)
        scaled = min(max(scaled, math.ceil(low / multiple) * multiple), high // multiple * multiple)
        changes[f"model.{name}"] = int(scaled)
    for name in (n for n in WIDTH_LISTS if n in knobs):
        changes[f"model.{name}"] = [max(1, round(width * factor)) for width in getattr(spec, name)]
    return changes


def heaviest(base: TrainConfig, space: tuple[Dimension, ...]) -> TrainConfig:
    """The longest run the search may start (most epochs, smallest batches, widest model): the one to check
    against a person's limits before the search starts."""
    values = {}
    for dimension in space:
        if dimension.name == "batch_size":
            values[dimension.name] = min(dimension.choices)
        elif dimension.kind == "choice":
            values[dimension.name] = max(dimension.choices)
        elif dimension.name == "epochs":
            values[dimension.name] = dimension.high
    return config_for(base, values)


def shown_value(dimension: Dimension, value: Any) -> str:
    """A tried value as the search's table shows it: "×2" for a width, numbers as people write them."""
    if dimension.name == WIDTH and isinstance(value, (int, float)):
        return {0.5: "half", 1.0: "as chosen", 2.0: "double"}.get(float(value), f"×{plain_number(value)}")
    return plain_number(value)

