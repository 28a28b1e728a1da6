"""The messages people read: `PlainError`, the one base of every error whose message is shown as it is, and counts
in plain words ("1 row was left out", "3 rows were left out", never "row(s)").

The boundary: a `PlainError`'s message is written for the person using the app (what went wrong and how to fix it);
the worker and the pages show it as it is and never a traceback. Any other exception is a bug, reported as such.
"""

from __future__ import annotations

import math


class PlainError(Exception):
    """An error whose message a person reads as it is: it says what is wrong and how to fix it."""


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """"1 run", "3 runs", "1,204 files"; `plural` for nouns that do not just take an s."""
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def agree(count: int, singular: str, plural: str) -> str:
    """The word that goes with `count`: agree(1, "was", "were") is "was", agree(3, "was", "were") is "were"."""
    return singular if count == 1 else plural


def plain_number(value: object, significant: int = 3) -> str:
    """A number as a person writes it: 10.0 → "10", 0.00005 → "0.00005", 0.12345 → "0.123", 12345.6 → "12,346",
    True → "on"; anything that is not a number is shown as it is, and a missing one as "–"."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "on" if value else "off"
    if not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "infinite" if value > 0 else "minus infinite"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 10 ** significant:
        return f"{round(value):,}"
    rounded = float(f"{value:.{significant}g}")  # keeps `significant` digits whatever the size
    if rounded.is_integer():
        return f"{int(rounded):,}"
    return f"{rounded:,.{max(significant - 1 - _exponent(rounded), 0)}f}".rstrip("0").rstrip(".")


def _exponent(value: float) -> int:
    """The power of ten of a number's first digit: 123 → 2, 0.05 → -2."""
    return int(f"{abs(value):e}".split("e")[1])


def percent(share: float | None, digits: int = 1) -> str:
    """A share as a percentage a person reads: 0.8763 → "87.6 %", 0.25 → "25 %", None → "–"."""
    if share is None or share != share:
        return "–"
    text = f"{share * 100:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{share * 100:.0f}"
    return f"{text} %"
