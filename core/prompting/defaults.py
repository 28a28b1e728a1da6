"""Starting prompts that fit the dataset: the class names become the label words, and the template suits what the
names say (a sentiment, a topic, or anything else); and the few variants of both that the automatic prompt search
tries.

A person who opens the Prompt lab on news topics should not meet "Review: … Sentiment:" and the label words 1/2/3/4:
the class names "World, Sports, Business, Sci/Tech" already say what to answer and that the answer is a topic.
The boundary: class names in, templates and label words out. No model, no UI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.prompting.recipe import PromptRecipe, default_label_words

SENTIMENT_TEMPLATE = "Review: {text}\nSentiment:"
TOPIC_TEMPLATE = "Text: {text}\nTopic:"
NEUTRAL_TEMPLATE = "Text: {text}\nCategory:"  # fits any task whose class names say neither
ANSWER_TEMPLATE = "{text}\nAnswer:"  # the plainest layout, one more the search tries

# Words that, found in most class names, say what kind of answer is asked for.
SENTIMENT_WORDS = frozenset({
    "positive", "negative", "neutral", "pos", "neg", "good", "bad", "great", "terrible", "awful", "excellent",
    "poor", "happy", "sad", "angry", "joy", "love", "hate", "like", "dislike", "mixed", "favourable", "favorable",
    "unfavourable", "unfavorable", "praise", "complaint", "satisfied", "unsatisfied", "recommended"
})
TOPIC_WORDS = frozenset({
    "world", "sport", "sports", "business", "science", "sci", "tech", "technology", "politics", "political",
    "health", "entertainment", "finance", "economy", "economics", "culture", "travel", "music", "art", "arts",
    "education", "food", "weather", "crime", "religion", "environment", "games", "movies", "film", "books", "news",
    "local", "national", "international", "society", "lifestyle", "fashion", "opinion", "history"
})
# Everyday words for the usual sentiment class names, which the search also tries (SST-2 with Gemma 270M:
# "terrible"/"great" or "bad"/"good" can suit a draw of worked examples better than "negative"/"positive").
SENTIMENT_SYNONYMS = ({"negative": "bad", "positive": "good", "neutral": "okay"},
                      {"negative": "terrible", "positive": "great", "neutral": "okay"})


def _words(name: str) -> list[str]:
    return [word for word in re.split(r"[^a-z]+", str(name).casefold()) if word]


def _share_naming(labels: Sequence[str], vocabulary: frozenset[str]) -> float:
    return sum(any(word in vocabulary for word in _words(label)) for label in labels) / max(len(labels), 1)


def task_kind(labels: Sequence[str]) -> str:
    """"sentiment", "topic" or "other": what most class names say the answer is."""
    if _share_naming(labels, SENTIMENT_WORDS) > 0.5:
        return "sentiment"
    if _share_naming(labels, TOPIC_WORDS) > 0.5:
        return "topic"
    return "other"


def starting_template(labels: Sequence[str]) -> str:
    return {"sentiment": SENTIMENT_TEMPLATE, "topic": TOPIC_TEMPLATE}.get(task_kind(labels), NEUTRAL_TEMPLATE)


# Eight worked examples a set: on SST-2 with Gemma 270M the first three draws scored 0.886, 0.886 and 0.891 with
# eight and 0.883, 0.865 and 0.825 with four (adjusted on the classified texts); each set's examples are read once
# and cached, so more of them cost little per text.
STARTING_EXAMPLES = 8


def starting_recipe(labels: Sequence[str]) -> PromptRecipe:
    """What the Prompt lab opens with for a dataset: its class names as label words, a template that fits, eight
    worked examples in three sets (`PromptRecipe.draws`), adjusted for the model's lean."""
    return PromptRecipe(template=starting_template(labels), label_words=default_label_words(labels),
                        few_shot_k=STARTING_EXAMPLES)


def names_are_numbers(labels: Sequence[str]) -> bool:
    """Classes stored as numbers (1, 2, 3, 4) give label words the model cannot relate to the texts."""
    return all(re.fullmatch(r"\s*-?\d+([.,]\d+)?\s*", str(label)) for label in labels)


def template_variants(labels: Sequence[str], first: str | None = None) -> list[str]:
    """The templates the search tries: the one in use (or the starting one), then the other plain layouts."""
    ordered = [first or starting_template(labels), starting_template(labels), NEUTRAL_TEMPLATE, ANSWER_TEMPLATE]
    return list(dict.fromkeys(ordered))


def label_word_variants(labels: Sequence[str], first: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The label words the search tries: those in use (or the class names), the names as written, and everyday
    synonyms for sentiment names. Every variant gives each class its own word."""
    as_named = default_label_words(labels)
    variants = [dict(first) if first else as_named, as_named, {str(label): str(label).strip() for label in labels}]
    current = variants[0]
    for synonyms in SENTIMENT_SYNONYMS:
        swapped = {label: synonyms.get(word.casefold(), word) for label, word in current.items()}
        if swapped != current:
            variants.append(swapped)
    unique: dict[str, dict[str, str]] = {}
    for words in variants:
        if len(set(words.values())) == len(words) and all(word.strip() for word in words.values()):
            unique.setdefault(repr(sorted(words.items())), words)
    return list(unique.values())
