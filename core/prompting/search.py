"""Find the best prompt: try a small set of templates, label words and draws of worked examples, each scored on
training texts held apart, within a time budget, and keep the winner.

Few-shot accuracy depends on luck: with Gemma 270M on SST-2, which four worked examples are drawn moves the
accuracy between 0.83 and 0.89. A person should get near the top without knowing that. The search scores every
candidate on the same slice of *training* texts held apart (never on the held-out examples that give the final
score, so that score stays honest), adjusted for the model's lean the way the final evaluation is (on the texts
being classified), and keeps the best.

The boundary: a model, a starting recipe and training examples in; the winning recipe and one row per candidate
tried out. It never touches the held-out examples and knows nothing about pages or processes
(`core.prompting.search_job` runs it in its own process).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from core.config.knobs import check_limits, knob
from core.prompting.classify import predict_probabilities
from core.prompting.defaults import label_word_variants, template_variants
from core.prompting.examples import select_examples, usable_examples
from core.prompting.recipe import Example, PromptRecipe

# (candidates tried, candidates planned, what is being tried now)
SearchProgress = Callable[[int, int, str], None] | None
MIN_HELD_APART = 16
CLEAR_GAIN = 0.02  # how much better (in accuracy on the texts held apart) another template or answer words must do


@dataclass(frozen=True)
class SearchSettings:
    seconds: int = knob(120, "How long the search may take at most. It tries the most promising prompts first and "
                        "stops when the time is up, keeping the best so far.", min=10, max=3600,
                        label="Time budget (seconds)")
    held_apart: int = knob(128, "How many training texts are set aside to score every prompt tried. More gives a "
                           "steadier choice but takes longer.", min=MIN_HELD_APART, max=2000,
                           label="Training texts to score on")
    draws: int = knob(6, "How many different choices of worked examples are tried (each with as many sets as the "
                      "prompt averages).", min=1, max=64, label="Choices of worked examples")
    seed: int = knob(0, "Fixes which training texts are set aside and which worked examples are drawn.", min=0,
                     max=2**31 - 1)

    def __post_init__(self) -> None:
        check_limits(self)


@dataclass(frozen=True)
class Tried:
    """One candidate prompt and how it did on the texts held apart."""
    recipe: PromptRecipe
    accuracy: float
    log_likelihood: float  # mean log-probability of the right class, after adjusting for the model's lean
    examples: list[Example]
    seconds: float
    stage: str  # "worked examples", "template" or "label words"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recipe": asdict(self.recipe)}


@dataclass(frozen=True)
class SearchResult:
    best: PromptRecipe
    tried: list[Tried]  # in the order they were tried
    held_apart: int  # training texts each candidate was scored on
    planned: int  # how many candidates the search had planned
    out_of_time: bool  # stopped by the time budget before trying them all
    seconds: float

    @property
    def ranked(self) -> list[Tried]:
        return sorted(self.tried, key=_rank)


def _rank(tried: Tried) -> tuple[float, float]:
    # Accuracy first; the likelihood of the right answers breaks ties (it moves with every text, not in steps).
    return (-tried.accuracy, -tried.log_likelihood)


def hold_apart(examples: Sequence[Example], count: int, seed: int) -> list[Example]:
    """`count` training examples, the same share of each class as in the data, drawn with `seed`."""
    rng = random.Random(seed)
    shuffled = list(examples)
    rng.shuffle(shuffled)
    if count >= len(shuffled):
        return shuffled
    by_class: dict[str, list[Example]] = {}
    for example in shuffled:
        by_class.setdefault(example["label"], []).append(example)
    picked = []
    for members in by_class.values():
        picked += members[:max(1, round(count * len(members) / len(shuffled)))]
    return picked[:count]


def score_candidate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, recipe: PromptRecipe,
                    train_examples: Sequence[Example], held: Sequence[Example],
                    batch_size: int = 16) -> tuple[float, float, list[Example]]:
    """(accuracy, mean log-probability of the right class, the worked examples shown) on the texts held apart that
    this candidate does not show, adjusted for the model's lean as `recipe` says (on those very texts, for the
    recipes the search tries)."""
    shown = [example for seed in recipe.seeds for example in select_examples(recipe.one_set(seed), train_examples)]
    scored = [example for example in held if example not in shown]
    answers = predict_probabilities(model, tokenizer, recipe, train_examples,
                                    [example["text"] for example in scored], batch_size=batch_size).probabilities
    gold = np.array([recipe.labels.index(example["label"]) for example in scored])
    accuracy = float((answers.argmax(axis=1) == gold).mean())
    log_likelihood = float(np.log(np.clip(answers[np.arange(len(gold)), gold], 1e-12, None)).mean())
    return accuracy, log_likelihood, shown


class SearchError(ValueError):
    """The search cannot start; the message says why and what to change."""


def draw_seeds(settings: SearchSettings, recipe: PromptRecipe) -> list[int]:
    """The first seeds of the candidates' sets of worked examples: candidate `number` reads the sets drawn by
    `recipe.draws` seeds from its own, none shared with another candidate. One candidate only when nothing is drawn
    at random."""
    if recipe.few_shot_k == 0 or recipe.selection == "similar":
        return [recipe.seed]
    return [settings.seed * 1000 + number * recipe.draws for number in range(settings.draws)]


def planned_count(start: PromptRecipe, settings: SearchSettings) -> int:
    """How many candidates a search from `start` tries when time allows: every set of worked examples, then every
    other template, then every other set of label words."""
    return (len(draw_seeds(settings, start)) + len(template_variants(start.labels, start.template)) - 1
            + len(label_word_variants(start.labels, start.label_words)) - 1)


def find_best_prompt(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, start: PromptRecipe,
                     train_examples: Sequence[Example], settings: SearchSettings = SearchSettings(), *,
                     progress: SearchProgress = None, on_tried: Callable[[Tried], None] | None = None,
                     clock: Callable[[], float] = time.monotonic, batch_size: int = 16) -> SearchResult:
    """Try candidates in three stages, each building on the best so far: worked examples, then templates, then
    answer words (a change of template or words is kept only for a clear gain); stop when `settings.seconds` would
    be overrun. Every candidate is adjusted for the model's lean on the texts it classifies, as the evaluation of
    the winner will be."""
    pool = usable_examples(start, train_examples)
    held_count = min(settings.held_apart, len(pool) - start.few_shot_k)
    if held_count < MIN_HELD_APART:
        raise SearchError(f"Finding the best prompt needs at least {MIN_HELD_APART + start.few_shot_k} labelled "
                          f"training examples (this dataset has {len(pool)}).")
    start = replace(start, calibrate=True, calibrate_against="classified-texts")
    held = hold_apart(pool, held_count, settings.seed)
    templates = template_variants(start.labels, start.template)
    word_sets = label_word_variants(start.labels, start.label_words)
    seeds = draw_seeds(settings, start)
    planned = planned_count(start, settings)
    began, tried = clock(), []

    def attempt(recipe: PromptRecipe, stage: str, what: str) -> bool:
        elapsed = clock() - began
        typical = elapsed / len(tried) if tried else 0.0
        if tried and elapsed + typical > settings.seconds:
            return False
        if progress is not None:
            progress(len(tried), planned, what)
        started = clock()
        accuracy, log_likelihood, shown = score_candidate(model, tokenizer, recipe, pool, held, batch_size)
        tried.append(Tried(recipe, accuracy, log_likelihood, shown, clock() - started, stage))
        if on_tried is not None:
            on_tried(tried[-1])
        return True

    finished = all(attempt(replace(start, seed=seed), "worked examples", f"worked examples, choice {number + 1} "
                               f"of {len(seeds)}") for number, seed in enumerate(seeds))
    best = min(tried, key=_rank)
    for stage, field_name, options in (("template", "template", templates), ("label words", "label_words", word_sets)):
        first = len(tried)
        finished = finished and all(attempt(replace(best.recipe, **{field_name: option}), stage, f"another {stage}")
                                    for option in options if option != getattr(best.recipe, field_name))
        best = _keep_unless_clearly_beaten(best, tried[first:])
    if progress is not None:
        progress(len(tried), len(tried), "done")
    return SearchResult(best.recipe, tried, len(held), planned, not finished, clock() - began)


def _keep_unless_clearly_beaten(incumbent: Tried, challengers: list[Tried]) -> Tried:
    """The best challenger if it beats the incumbent by `CLEAR_GAIN`, else the incumbent. A few hundred training
    texts measure accuracy to within a few points, so the best of several templates or answer words scores a little
    above its worth by luck alone; a change must show a clear gain to be kept."""
    better = [tried for tried in challengers if tried.accuracy >= incumbent.accuracy + CLEAR_GAIN]
    return min(better, key=_rank) if better else incumbent
