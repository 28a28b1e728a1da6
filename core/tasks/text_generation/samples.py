"""Built-in sample data for text generation: a lighthouse keeper's log (one plain text to continue) and short
instructions with exact answers (pairs to learn), so a person with no file can try each step.

Written for this project: no download, the same on every machine. Knows nothing about checking or saving.
"""

from __future__ import annotations

import random

import pandas as pd

SAMPLE_LOG_NAME = "lighthouse-log-sample"
SAMPLE_PAIRS_NAME = "small-instructions-sample"

_MONTHS = [("January", 31), ("February", 28), ("March", 31), ("April", 30), ("May", 31), ("June", 30),
           ("July", 31), ("August", 31), ("September", 30), ("October", 31), ("November", 30), ("December", 31)]
_WINDS = ["north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"]
_STRENGTHS = ["light", "moderate", "fresh", "strong", "a gale"]
_SEAS = {"light": "calm", "moderate": "slight", "fresh": "moderate", "strong": "rough", "a gale": "very rough"}
_SKIES = ["Clear sky all day.", "Low cloud in the morning, clearing by noon.", "Rain showers on and off.",
          "Fog until mid-morning.", "Overcast and grey.", "Steady rain from dawn.", "Bright with high cloud.",
          "Sleet in the afternoon."]
_EVENTS = ["Two fishing boats came in before dark.", "A steamer passed to the south, heading for port.",
           "Painted the gallery rail.", "Cleaned the lens and trimmed the wick.", "The supply boat brought oil "
           "and letters.", "Seals on the rocks below the tower.", "Mended the rain barrel.", "Gulls nesting on the "
           "north ledge.", "Saw no ships all day.", "Helped a rowing boat around the point.", "Wrote to my "
           "sister.", "Checked the foghorn; it sounds well."]


def lighthouse_log(year: int = 1887, seed: int = 0) -> str:
    """A year of a lighthouse keeper's daily log: regular enough to learn in minutes, varied enough to read."""
    rng = random.Random(seed)
    entries, wind = [], rng.randrange(len(_WINDS))
    for month_index, (month, days) in enumerate(_MONTHS):
        # Lit at dusk: about 16:00 in midwinter, 21:00 in midsummer.
        hour = 16 + int(5.5 - abs(5.5 - month_index))
        for day in range(1, days + 1):
            wind = (wind + rng.choice([-1, 0, 0, 1])) % len(_WINDS)  # the wind veers slowly, as it does
            strength = rng.choice(_STRENGTHS)
            minute = rng.randrange(0, 60, 5)
            events = " ".join(rng.sample(_EVENTS, rng.choice([1, 1, 2])))
            entries.append(f"{day} {month} {year}. Wind {_WINDS[wind]}, {strength}. Sea {_SEAS[strength]}. "
                           f"{rng.choice(_SKIES)} {events} Lamp lit at {hour}:{minute:02d}. All well.\n")
    return "".join(entries)


_OPPOSITES = {"hot": "cold", "tall": "short", "early": "late", "happy": "sad", "open": "closed", "light": "dark",
              "fast": "slow", "full": "empty", "loud": "quiet", "up": "down", "wet": "dry", "old": "young",
              "strong": "weak", "rich": "poor", "hard": "soft", "first": "last", "near": "far", "clean": "dirty"}
_PLURALS = {"mouse": "mice", "child": "children", "box": "boxes", "city": "cities", "leaf": "leaves",
            "tooth": "teeth", "bus": "buses", "knife": "knives", "person": "people", "fish": "fish",
            "baby": "babies", "foot": "feet", "woman": "women", "potato": "potatoes", "sheep": "sheep"}
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _number_words(number: int) -> str:
    if number < 20:
        return _UNITS[number]
    tens, units = divmod(number, 10)
    return _TENS[tens] + ("-" + _UNITS[units] if units else "")


def small_instructions(seed: int = 0) -> pd.DataFrame:
    """About 300 short instruction/input/output records (opposites, plurals, numbers, comparisons), with an
    exact answer each, so you can see a fine-tuned model get them right."""
    rng = random.Random(seed)
    records = [("Give the opposite of the word.", word, opposite) for word, opposite in _OPPOSITES.items()]
    records += [("Give the opposite of the word.", opposite, word) for word, opposite in _OPPOSITES.items()]
    records += [("Write the plural of the word.", word, plural) for word, plural in _PLURALS.items()]
    records += [("Write the number in words.", str(n), _number_words(n)) for n in range(100)]
    pairs = set()
    while len(pairs) < 120:
        pairs.add(tuple(rng.sample(range(1, 100), 2)))
    records += [("Which number is larger?", f"{a} or {b}", str(max(a, b))) for a, b in sorted(pairs)]
    rng.shuffle(records)
    return pd.DataFrame(records, columns=["instruction", "input", "output"])
