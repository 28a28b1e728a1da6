"""The prompt recipe: how to ask a language model to classify, as one frozen, checked, serialisable dataclass.

A `PromptRecipe` says how to ask (template, label words, which worked examples to show, calibration); its field
help is the text the UI shows. This module holds only the recipe, its checks and its plain-data form, so that
code which stores or edits recipes (`core.prompting.saved_recipes`, the Prompt lab forms) needs neither torch nor a
model.
Choosing examples lives in `core.prompting.examples`, scoring in `core.prompting.scoring`, and turning a recipe into
prompts and predictions in `core.prompting.classify`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from core.config.knobs import all_help, check_limits, knob

TEXT_PLACEHOLDER = "{text}"
LABELS_PLACEHOLDER = "{labels}"  # in the instructions: the label words, "positive or negative"
SELECTIONS = ("random", "class-balanced", "similar")
ORDERS = ("as-selected", "shuffled", "by-class")
# Zhao et al. (2021) estimate the model's bias from an input that carries no content.
CONTENT_FREE_INPUT = "N/A"
# ... or from the average answer over real in-domain texts (Fei et al., 2023), which with worked examples is much
# steadier; or over the very texts being classified ("batch calibration", Zhou et al., 2024), which needs no extra
# scoring and matches their style (SST-2 4-shot with Gemma 270M over six draws: 0.51-0.87 raw, 0.80-0.87 on
# training texts, 0.85-0.88 on the texts themselves; over twenty draws, 0.51-0.88 raw and 0.83-0.89 on the texts
# themselves). That is why a new recipe calibrates on the texts being classified: without it an unlucky draw of
# worked examples gives a coin toss, and a person would blame the model, not the draw.
CALIBRATIONS = ("content-free", "training-texts", "classified-texts")
CALIBRATION_TEXTS = 64  # training texts averaged: enough for a steady mean, cheap next to an evaluation
# Fewer texts than this give a noisy average (and one text would always come out 50/50): use training texts instead.
MIN_TEXTS_FOR_BATCH_CALIBRATION = 16

Example = dict[str, str]


@dataclass(frozen=True)
class PromptRecipe:
    template: str = knob("Review: {text}\nSentiment:",
                         "How each text is shown to the model; {text} marks where the text goes, and the model "
                         "answers right after the last line. Technical name: the prompt template.")
    # Empty by default because they did not help the default recipe. SST-2, Gemma 270M, "Classify each text as
    # {labels}.", six draws of 4 worked examples: raw 0.51-0.87 (mean 0.735) became 0.60-0.87 (mean 0.777), but
    # calibrated on the classified texts 0.856-0.881 became 0.830-0.881, and zero-shot so calibrated 0.830 -> 0.759.
    instructions: str = knob("", "Words shown once at the top of the prompt, before the worked examples, e.g. "
                             "\"Classify each review as {labels}.\" ({labels} becomes your label words: "
                             "\"positive or negative\"). Whether they help depends on the model and your data: "
                             "evaluate the prompt with and without them.")
    label_words: dict[str, str] = field(default_factory=dict, metadata={
        "help": "The word the model should answer with for this class; a common word works best (Sports → "
                "sports). Technical name: the label word (or verbalizer)."})
    few_shot_k: int = knob(4, "How many training texts, each with its right answer, the model reads before yours, "
                           "so it sees what is asked (0 = none). Technical name: k, the number of shots (0 = "
                           "zero-shot, more = few-shot).", min=0, max=64, label="Worked examples")
    selection: str = knob("class-balanced", "Which worked examples to show: any at random, the same number from "
                          "each class, or those most like the text being classified (found by a second small "
                          "model, MiniLM, so each text gets its own).", options=SELECTIONS)
    order: str = knob("shuffled", "In which order the worked examples appear: as picked, shuffled, or grouped "
                      "by class.", options=ORDERS)
    calibrate: bool = knob(True, "A language model leans towards some answers whatever the text; this measures "
                           "that lean and takes it out of every answer. Usually a clear gain. Technical name: "
                           "calibration.")
    calibrate_against: str = knob("classified-texts", "Where the lean is measured: the model's answer for a blank "
                                  "text (the input \"N/A\"), its average answer over up to 64 of your training "
                                  "texts, or its average answer over the texts being classified (the steadiest; "
                                  f"it needs at least {MIN_TEXTS_FOR_BATCH_CALIBRATION} texts at once, so one text "
                                  "tried by hand is measured against your training texts).",
                                  options=CALIBRATIONS)
    example_separator: str = knob("\n\n", "What goes between two worked examples (a blank line).")
    seed: int = knob(0, "Which worked examples are drawn: the first set with this number, any further set with "
                     "the numbers after it; another number draws others (and shuffles them differently). "
                     "Technical name: the random seed.", min=0, max=2**31 - 1)
    # Which worked examples happen to be drawn moves SST-2 4-shot accuracy (Gemma 270M, adjusted on the texts being
    # classified) between 0.83 and 0.89 over 20 draws; averaging the answers of three draws kept every combination
    # of seven draws at 0.860 or more (median 0.877): a person no longer depends on a lucky draw.
    draws: int = knob(3, "How many sets of worked examples the model answers with, each set on its own; the answers "
                      "are averaged, which is steadier than trusting one set. Each set takes as long as one. "
                      "Technical name: a prompt ensemble.", min=1, max=8, label="Sets of worked examples")

    def __post_init__(self) -> None:
        # A private copy, so that changing the caller's dict later cannot change a frozen recipe.
        object.__setattr__(self, "label_words", {str(k): str(v) for k, v in dict(self.label_words).items()})
        check_limits(self)  # how many worked examples, the seed
        problems = recipe_problems(self)
        if problems:
            raise ValueError(" ".join(problems))

    @property
    def labels(self) -> list[str]:
        return list(self.label_words)

    @property
    def seeds(self) -> list[int]:
        """The seeds of the sets of worked examples averaged: `seed` and the next ones. One set when nothing is
        drawn at random (no worked examples, or the most similar ones, which are the same whatever the seed)."""
        if self.few_shot_k == 0 or self.selection == "similar":
            return [self.seed]
        return [(self.seed + number) % 2**31 for number in range(self.draws)]

    def one_set(self, seed: int) -> PromptRecipe:
        """This recipe with one set of worked examples only, the one `seed` draws."""
        return replace(self, seed=seed, draws=1)


# What a new recipe starts from, for forms that fill their widgets before a recipe exists.
RECIPE_DEFAULTS = {f.name: f.default for f in fields(PromptRecipe) if f.default is not MISSING}


def recipe_problems(recipe: PromptRecipe) -> list[str]:
    """Plain-English reasons a recipe cannot be used (empty when it is fine)."""
    problems = []
    if recipe.template.count(TEXT_PLACEHOLDER) != 1:
        problems.append("The template must contain {text} exactly once.")
    if TEXT_PLACEHOLDER in recipe.instructions:
        problems.append("The instructions come once, before any text: they cannot contain {text}.")
    if len(recipe.label_words) < 2:
        problems.append("Give at least two classes a label word.")
    words = [word.strip() for word in recipe.label_words.values()]
    if any(not word for word in words):
        problems.append("Every label word must be non-empty.")
    elif len(set(words)) != len(words):
        problems.append("Two classes share the same label word; the model could not tell them apart.")
    if recipe.selection not in SELECTIONS:
        problems.append(f"Example selection must be one of {', '.join(SELECTIONS)}.")
    if recipe.order not in ORDERS:
        problems.append(f"Example order must be one of {', '.join(ORDERS)}.")
    if recipe.calibrate_against not in CALIBRATIONS:
        problems.append(f"Calibration must be against one of {', '.join(CALIBRATIONS)}.")
    return problems


def one_text_calibration(recipe: PromptRecipe) -> str | None:
    """What one text on its own is calibrated on (None: not calibrated). A text cannot be its own average, so
    "the texts being classified" means the training texts for it."""
    if not recipe.calibrate:
        return None
    return "training-texts" if recipe.calibrate_against == "classified-texts" else recipe.calibrate_against


def rendered_instructions(recipe: PromptRecipe) -> str:
    """The instructions as the model reads them: {labels} spelled out as "a, b or c"."""
    words = [word.strip() for word in recipe.label_words.values()]
    spelled = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)
    return recipe.instructions.strip().replace(LABELS_PLACEHOLDER, spelled)


def recipe_help() -> dict[str, str]:
    return all_help(PromptRecipe)


def default_label_words(labels: Sequence[str]) -> dict[str, str]:
    """A starting point for the UI: each class is its own label word."""
    return {str(label): str(label).strip().lower() for label in labels}


# ------------------------------------------------------------------------------------- recipes as plain data


def recipe_to_dict(recipe: PromptRecipe) -> dict[str, Any]:
    return asdict(recipe)


def recipe_from_dict(data: dict[str, Any]) -> PromptRecipe:
    known = {f.name: f for f in fields(PromptRecipe)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"Unknown recipe settings: {', '.join(unknown)}.")
    expected_types = {name: type(default) for name, default in RECIPE_DEFAULTS.items()}  # all but the label words
    for name, kind in expected_types.items():
        value = data.get(name)
        # bool is a subclass of int: reject `true` where a count is expected.
        if name in data and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            raise ValueError(f"The recipe setting {name!r} should be a {kind.__name__}.")
    words = data.get("label_words", {})
    if not isinstance(words, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in words.items()):
        raise ValueError("The recipe's label words should map class names to words.")
    # A recipe saved before it could average several sets of worked examples read one set: it still does.
    return PromptRecipe(**{"draws": 1, **data})
