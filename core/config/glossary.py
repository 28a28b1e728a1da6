"""The glossary: every word of the trade the app shows, each with one plain line a newcomer understands.

One place for these explanations, so the Runs page, the Train page and the Playground say the same thing about
"macro-F1" or "learning rate". `explain(term)` gives a term's line; `terms_in(text)` finds the terms a sentence
uses (plurals and other spellings included), so a view can explain the words of a message it shows.

The boundary: words only; no UI. A term listed here must appear somewhere in what the app shows
(tests/core/config/test_glossary.py checks it), so the glossary never explains words nobody reads.
"""

from __future__ import annotations

import re

GLOSSARY: dict[str, str] = {
    "accuracy": "The share of examples the model got right: 0.9 means 9 out of 10.",
    "macro-F1": "A score from 0 to 1 that averages how well each class is found, so rare classes count as much as "
                "common ones; far below the accuracy means some classes are mostly missed.",
    "R²": "How much of the ups and downs of the number to predict the model explains: 1 is perfect, 0 is no better "
          "than always answering the average, below 0 is worse than that.",
    "perplexity": "Roughly how many next words a language model hesitates between at each step: lower is better.",
    "loss": "The model's error as training measures it: it should go down; the validation loss is the one that "
            "counts.",
    "validation": "Examples kept aside and never trained on, so the scores show how the model does on new data.",
    "baseline": "A simple method that needs no training run, measured on the same examples, to show what a score is "
                "worth.",
    "epoch": "One full pass of the model over all the training examples.",
    "batch size": "How many examples the model reads together before each correction step.",
    "learning rate": "How big each correction step is: too big and training jumps around or blows up, too small "
                     "and it barely learns.",
    "warmup": "A short start of training during which the learning rate grows from zero, so the first steps stay "
              "gentle.",
    "weight decay": "A gentle pull of the model's numbers towards zero, which makes memorising harder.",
    "gradient clipping": "A cap on how big a single correction step may be, so one odd batch cannot derail "
                         "training.",
    "dropout": "Randomly hiding some of the model's values while it trains, so it cannot rely on any single one.",
    "early stopping": "Ending training once the validation score has stopped improving, and keeping the best "
                      "check's model.",
    "checkpoint": "A saved copy of the model during training, to resume from or to keep the best one.",
    "class weights": "Counting mistakes on rare classes more while training, so always answering the most common "
                     "class stops paying off.",
    "over-fitting": "When a model learns its training examples by heart: training loss keeps falling while the "
                    "validation loss rises.",
    "under-fitting": "When a model stops before it has learned what it could: its loss is still falling at the end.",
    "pretrained": "A model that has already learned from a huge amount of data, which you then adapt to your task.",
    "tokens": "The pieces a text is cut into before a model reads it: whole words, parts of words or single "
              "characters.",
    "stratified split": "Setting aside validation examples so that each class keeps the same share in both parts.",
    "safetensors": "A file format for model weights that holds numbers only, so opening a model cannot run "
                   "hidden code.",
    "LoRA rank": "The size of the small add-on matrices LoRA trains instead of the whole model: bigger can learn "
                 "more but costs more memory.",
    "LoRA alpha": "How strongly LoRA's add-ons count against the original model (scaled by alpha ÷ rank).",
    "target modules": "Which layers of a language model get LoRA add-ons, usually the attention projections.",
    "top-p": "When writing, pick the next word only among the likeliest ones whose chances add up to p (0.9 = the "
             "top 90 %).",
    "top-k": "When writing, pick the next word only among the k likeliest ones.",
    "prompt": "The text a language model is given; it answers by carrying on from where that text stops.",
    "worked examples": "Training texts shown with their right answers before the text to classify, so the model "
                       "sees what is asked (“few-shot”; none at all is “zero-shot”).",
    "answer words": "The word the model should say for each class, such as “sports” for the class Sports "
                    "(technical name: label words).",
    "the model's lean": "A language model's habit of favouring some answers whatever the text; adjusting for it "
                        "divides that habit out (technical name: calibration).",
}

# Other spellings a text may use for a term (plurals are matched without listing them).
ALIASES: dict[str, tuple[str, ...]] = {
    "macro-F1": ("macro F1",),
    "over-fitting": ("overfitting", "over-fit", "memorised", "memorising"),
    "under-fitting": ("underfitting",),
    "tokens": ("token",),
    "LoRA rank": ("rank",),
    "LoRA alpha": ("alpha",),
    "target modules": ("target module",),
    "worked examples": ("worked example", "few-shot", "zero-shot"),
    "answer words": ("answer word", "label word", "label words"),
    "the model's lean": ("model's lean", "calibration", "calibrated"),
}


def explain(term: str) -> str:
    """The plain line for a term of the glossary (a KeyError names a term that is not in it: a bug to fix here)."""
    return GLOSSARY[term]


def _pattern(word: str) -> re.Pattern[str]:
    # Whole words only, with an optional plural: "epoch" finds "epochs" but not "epochal".
    return re.compile(rf"(?<![\w-]){re.escape(word)}(?:s|es)?(?![\w-])", re.IGNORECASE)


_PATTERNS = {term: [_pattern(word) for word in (term, *ALIASES.get(term, ()))] for term in GLOSSARY}


def terms_in(text: str) -> list[str]:
    """The glossary terms a text uses, in the glossary's order."""
    return [term for term, patterns in _PATTERNS.items() if any(p.search(text) for p in patterns)]
