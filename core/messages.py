"""Counts in plain words for the messages people read: "1 row was left out", "3 rows were left out", never "row(s)"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """"1 run", "3 runs", "1,204 files"; `plural` for nouns that do not just take an s."""
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def agree(count: int, singular: str, plural: str) -> str:
    """The word that goes with `count`: agree(1, "was", "were") is "was", agree(3, "was", "were") is "were"."""
    return singular if count == 1 else plural
