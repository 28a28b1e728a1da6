"""`knob`: a dataclass field that carries the plain-English line the UI shows beside it; and settings dataclasses
to and from the plain JSON a run folder or dataset folder stores.

Every settings dataclass (TrainConfig and its parts, image and table preprocessing, prompt recipes, generation,
installation settings) declares its fields this way, so the UI, the docs and the tests read one `help` per field,
and, for numbers, the range the UI offers. A leaf module: the dataclasses that use it import nothing else of core
for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, asdict, field, fields
from typing import Any

from core.messages import PlainError


class KnobError(PlainError, ValueError):
    """A setting outside what it allows; the message names the setting, the value and the allowed range."""


def knob(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field with its help text and any extra metadata (for numbers `min`/`max`, a `label` where the
    field's name does not read well, or UI options)."""
    return field(default=default, metadata={"help": help, **limits})


def knob_field(cls: type, name: str) -> Field:
    """The dataclass field `name` of `cls` (a KeyError names it when it is not one)."""
    for item in fields(cls):
        if item.name == name:
            return item
    raise KeyError(f"{cls.__name__} has no setting {name!r}")


def knob_help(cls: type, name: str) -> str:
    """The plain-English line written beside the field: what the setting does, for the person turning it."""
    return knob_field(cls, name).metadata.get("help", "")


def knob_label(cls: type, name: str) -> str:
    """What a form calls the field: its `label` metadata, else its name as a person reads it."""
    return knob_field(cls, name).metadata.get("label") or label_of(name)


def knob_limits(cls: type, name: str) -> tuple[Any, Any]:
    """The smallest and largest value the field allows (None where it sets none)."""
    metadata = knob_field(cls, name).metadata
    return metadata.get("min"), metadata.get("max")


def knob_default(cls: type, name: str) -> Any:
    """The field's default, so the UI never writes a default again."""
    return knob_field(cls, name).default


def all_help(cls: type) -> dict[str, str]:
    """Every field's help line, by field name."""
    return {item.name: item.metadata.get("help", "") for item in fields(cls)}


def label_of(name: str) -> str:
    """A field name as a person reads it: "learning_rate" becomes "Learning rate"."""
    return name.replace("_", " ").capitalize()


def check_limits(settings: Any, label: Callable[[str], str] = label_of) -> None:
    """Raise `KnobError` for the first field with limits whose value is not a number or is outside its `min`/`max`.

    Every settings dataclass calls it from `__post_init__`, so an impossible setting is refused where it is built,
    whoever builds it (the UI, an old config.json, a saved recipe, a test). The message names the field by its
    `label` metadata when it has one, else by `label(name)`: as a person reads it by default, as written in a
    settings file for `core.hosting.settings`.
    """
    for item in fields(settings):
        low, high = item.metadata.get("min"), item.metadata.get("max")
        if low is None and high is None:
            continue
        value = getattr(settings, item.name)
        name, help_text = item.metadata.get("label") or label(item.name), item.metadata.get("help", "")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # value != value: NaN
            raise KnobError(f"{name} must be a number {_allowed(low, high)}, not {value!r}. {help_text}".strip())
        if (low is not None and value < low) or (high is not None and value > high):
            raise KnobError(f"{name} is {_number(value)}, but it must be {_allowed(low, high)}. {help_text}".strip())


def _allowed(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {_number(low)} and {_number(high)}"
    return f"at least {_number(low)}" if low is not None else f"at most {_number(high)}"


def _number(value: float) -> str:
    """4096 and 4096.0 as "4,096", 1e-07 as "1e-07", 0.5 as "0.5": whole numbers with commas, others short."""
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """Only the entries that are fields of `cls`: a file written by an older version may hold fields since dropped."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def to_plain(settings: Any) -> dict[str, Any]:
    """A flat settings dataclass as JSON-ready values: its tuples become lists, as they will be in the file."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(settings).items()}


def from_plain(cls: type, values: dict[str, Any]) -> Any:
    """`to_plain`'s output back into `cls`: lists become tuples again, unknown keys are ignored."""
    return cls(**{key: tuple(value) if isinstance(value, list) else value
                  for key, value in known_fields(cls, values).items()})
