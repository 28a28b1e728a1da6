"""The messages people read: `PlainError`, the one base of every error whose message is shown as it is, and counts
in plain words ("1 row was left out", "3 rows were left out", never "row(s)").

The boundary: a `PlainError`'s message is written for the person using the app (what went wrong and how to fix it);
the worker and the pages show it as it is and never a traceback. Any other exception is a bug, reported as such.
"""

from __future__ import annotations


class PlainError(Exception):
    """An error whose message a person reads as it is: it says what is wrong and how to fix it."""


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """"1 run", "3 runs", "1,204 files"; `plural` for nouns that do not just take an s."""
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def agree(count: int, singular: str, plural: str) -> str:
    """The word that goes with `count`: agree(1, "was", "were") is "was", agree(3, "was", "were") is "were"."""
    return singular if count == 1 else plural
