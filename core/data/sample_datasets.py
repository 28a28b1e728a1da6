"""The built-in sample dataset, so a person with no file of their own can try every step.

"Café feedback": short customer messages in three classes (praise, complaint, question), written from phrase
lists by a seeded generator, so it is the same on every machine and needs no download.
"""

from __future__ import annotations

import random

import pandas as pd

SAMPLE_NAME = "cafe-feedback-sample"

_SUBJECTS = ["the coffee", "the latte", "the croissant", "the service", "the staff", "the cake", "the sandwich",
             "the tea", "the music", "the terrace", "the barista", "the breakfast", "the soup", "the hot chocolate"]
_PRAISE = ["was absolutely delicious", "made my day", "was wonderful as always", "is the best in town",
           "was friendly and quick", "was perfect", "exceeded my expectations", "was lovely and fresh",
           "felt warm and welcoming", "was great value"]
_COMPLAINT = ["was cold and bland", "took forever to arrive", "was rude to us", "was stale", "was far too expensive",
              "was a big disappointment", "tasted burnt", "was dirty", "was wrong again", "ruined our visit"]
_QUESTIONS = ["Do you have {x} without sugar?", "Is {x} available for takeaway?", "What time does {x} start?",
              "Can I order {x} for a party of ten?", "Does {x} contain nuts?", "Is {x} vegan?",
              "How much is {x} on weekends?", "Could you tell me if {x} is gluten free?",
              "Is {x} still on the menu?", "Can I book {x} for Sunday?", "Does {x} come in a smaller size?",
              "Is {x} made fresh every morning?"]
_QUESTION_OPENERS = ["", "Hi! ", "Quick question: ", "Hello! "]
_PRAISE_OPENERS = ["", "Honestly, ", "Wow, ", "Thank you! ", "Five stars: ", "Just wanted to say "]
_COMPLAINT_OPENERS = ["", "Sadly, ", "Not happy: ", "Really? ", "One star. ", "Disappointed, "]
_PRAISE_CLOSERS = ["", " We will be back!", " Keep it up.", " Highly recommended.", " Lovely place."]
_COMPLAINT_CLOSERS = ["", " Never again.", " Please fix this.", " Not worth it.", " Very annoying."]


def _sentence(rng: random.Random, openers, verbs, closers) -> str:
    text = f"{rng.choice(openers)}{rng.choice(_SUBJECTS)} {rng.choice(verbs)}.{rng.choice(closers)}"
    return text[0].upper() + text[1:]


def cafe_feedback(rows_per_class: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    makers = {
        "praise": lambda: _sentence(rng, _PRAISE_OPENERS, _PRAISE, _PRAISE_CLOSERS),
        "complaint": lambda: _sentence(rng, _COMPLAINT_OPENERS, _COMPLAINT, _COMPLAINT_CLOSERS),
        "question": lambda: rng.choice(_QUESTION_OPENERS) + rng.choice(_QUESTIONS).format(x=rng.choice(_SUBJECTS)),
    }
    records = []
    for label, make in makers.items():
        # Distinct texts only: duplicates would be dropped by the checks and make the sample look faulty.
        texts: dict[str, None] = {}
        for _ in range(rows_per_class * 50):  # bounded: asking for more texts than the phrases allow must not hang
            texts[make()] = None
            if len(texts) == rows_per_class:
                break
        records += [(text, label) for text in texts]
    rng.shuffle(records)
    return pd.DataFrame(records, columns=["message", "category"])
