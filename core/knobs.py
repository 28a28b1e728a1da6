"""`knob`: a dataclass field that carries the plain-English line the UI shows beside it.

Every settings dataclass (TrainConfig and its parts, image and table preprocessing, prompt recipes, generation,
installation settings) declares its fields this way, so the UI, the docs and the tests read one `help` per field,
and, for numbers, the range the UI offers. A leaf module: the dataclasses that use it import nothing else of core
for it.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any


def knob(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field with its help text and any extra metadata (for numbers `min`/`max`, or UI options)."""
    return field(default=default, metadata={"help": help, **limits})
