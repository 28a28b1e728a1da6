"""What the sizes of a dataset's classes mean for the scores a model will get, said before anything is trained.

87 % of the SMS spam corpus is "ham": a model that always answers "ham" scores 87 % without reading a message, so
an accuracy of 88 % is nothing to celebrate, and the Runs page measures that floor beside every accuracy
(`core.engine.baselines`). Wine quality has classes of 10 and 18 rows: a fifth of them is two or three validation
rows, too few to learn from or to trust a score on. The Data page says both for texts, images and tables.

The boundary: counts per class in, `Check`s (plain sentences) out. Class names come from a person's data: the pages
show these messages as text, never as Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.config.glossary import explain
from core.data.loaded import Check
from core.messages import agree, counted, percent

# A most common class this large makes "always answer it" a score that looks good (70 % and up).
MAJORITY_SHARE = 0.7
# Below this many rows a class gets a handful of validation rows (3 or 4 of 20 with a 20 % split), so its
# scores jump from one run to the next and the model sees few examples of it.
TINY_CLASS = 20
# Largest over smallest beyond this, and the small classes can be missed while the accuracy looks fine.
SPREAD = 10


def majority(counts: Mapping[str, int]) -> tuple[str, float]:
    """(the most common class, its share of all rows)."""
    name = max(counts, key=counts.get)
    return name, counts[name] / sum(counts.values())


def class_balance_checks(counts: Mapping[str, int], noun: str = "row") -> list[Check]:
    """Warnings about an uneven or tiny class, each with what it means for the scores and what to do."""
    counts = {str(name): int(count) for name, count in counts.items() if count > 0}
    if len(counts) < 2:
        return []
    checks = []
    name, share = majority(counts)
    if share >= MAJORITY_SHARE or max(counts.values()) > SPREAD * min(counts.values()):
        checks.append(Check("warning", uneven(name, share, noun)))
    tiny = sorted((count, label) for label, count in counts.items() if count < TINY_CLASS)
    if tiny:
        checks.append(Check("warning", too_small(tiny, noun)))
    return checks


def uneven(name: str, share: float, noun: str) -> str:
    return (f"The classes are uneven: {percent(share)} of the {noun}s are “{name}”. A model that always answers "
            f"“{name}”, without looking, is right {percent(share)} of the time, so judge an accuracy against that "
            f"(the Runs page shows it beside every accuracy) and watch the macro-F1, {_lowered(explain('macro-F1'))} "
            "The Train page's class weights make mistakes on the rarer classes count more.")


def too_small(tiny: list[tuple[int, str]], noun: str) -> str:
    named = [f"“{label}” ({counted(count, noun)})" for count, label in tiny[:5]]
    if len(tiny) > 5:
        named.append(f"{len(tiny) - 5} more")
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    return (f"{agree(len(tiny), 'Class', 'Classes')} {listed} {agree(len(tiny), 'is', 'are')} tiny: the model "
            f"has few examples to learn {agree(len(tiny), 'it', 'them')} from, and with a few validation {noun}s "
            f"each, {agree(len(tiny), 'its score jumps', 'their scores jump')} from one run to the next. Add "
            f"{noun}s of {agree(len(tiny), 'it', 'them')}, or merge {agree(len(tiny), 'it', 'them')} with a "
            "neighbouring class.")


def _lowered(sentence: str) -> str:
    return sentence[:1].lower() + sentence[1:]
