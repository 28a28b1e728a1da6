"""`knob`: a dataclass field that carries the plain-English line the UI shows beside it; and settings dataclasses
to and from the plain JSON a run folder or dataset folder stores.

Every settings dataclass (TrainConfig and its parts, image and table preprocessing, prompt recipes, generation,
installation settings) declares its fields this way, so the UI, the docs and the tests read one `help` per field,
and, for numbers, the range the UI offers. A leaf module: the dataclasses that use it import nothing else of core
for it.
"""

from __future__ import annotations

from dataclasses import asdict, field, fields
from typing import Any


def knob(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field with its help text and any extra metadata (for numbers `min`/`max`, or UI options)."""
    return field(default=default, metadata={"help": help, **limits})


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
