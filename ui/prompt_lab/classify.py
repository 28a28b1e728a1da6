"""Classify with a prompt: the dataset, the recipe (template, label words, worked examples), saved recipes, and one
text tried by hand with the exact prompt the model reads.

Every widget keeps its value in `st.session_state` under a `prompt_` key; loading a saved recipe writes those keys
in a button callback, before the widgets are drawn, which is the one moment Streamlit allows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.data.dataset_store import PreparedDataset, list_datasets
from core.engine import charts
from core.prompting.classify import classify_text, training_text_bias
from core.prompting.examples import SimilarityIndex
from core.prompting.prompts import assemble_prompt
from core.prompting.recipe import (
    ORDERS,
    RECIPE_DEFAULTS,
    SELECTIONS,
    PromptRecipe,
    default_label_words,
    one_text_calibration,
    recipe_help,
    recipe_to_dict,
)
from core.prompting.saved_recipes import RecipeError, list_recipes, load_recipe, save_recipe
from core.workspace import Workspace
from ui.prompt_lab.models import LoadedModel

SELECTION_NAMES = {"random": "Random", "class-balanced": "Class-balanced", "similar": "Most similar (MiniLM)"}
ORDER_NAMES = {"as-selected": "As picked", "shuffled": "Shuffled", "by-class": "Grouped by class"}
BIAS_KEY = "prompt_try_bias"  # (what it was measured for, the training texts' average answer)
SEED_KEY = "prompt_seed"  # the recipe's seed box; the draws panel sets it too
# The widget that edits each recipe setting (the label words have one box per class, see _word_key): the one
# mapping the form's defaults, the recipe it builds and the loading of a saved recipe all go through.
WIDGET_KEYS = {"template": "prompt_template", "instructions": "prompt_instructions", "few_shot_k": "prompt_k",
               "selection": "prompt_selection", "order": "prompt_order", "calibrate": "prompt_calibrate",
               "calibrate_against": "prompt_calibrate_against", "seed": SEED_KEY}
DEFAULTS = {key: RECIPE_DEFAULTS[name] for name, key in WIDGET_KEYS.items()}
CALIBRATION_NAMES = {"content-free": "an empty input (N/A)", "training-texts": "your training texts (average)",
                     "classified-texts": "the texts being classified (average)"}


@dataclass(frozen=True)
class PromptSetup:
    """What the evaluation and comparison views need: the data, the recipe, and the similarity index on demand."""
    dataset: PreparedDataset
    recipe: PromptRecipe
    train: list[dict[str, str]]
    validation: list[dict[str, str]]
    similarity_index: Callable[[], SimilarityIndex | None]


def render(workspace: Workspace, lm: LoadedModel) -> PromptSetup | None:
    dataset = _pick_dataset(workspace)
    if dataset is None:
        return None
    train, validation = examples_of(dataset)
    labels = list(dataset.info.labels)
    recipe = _recipe_editor(dataset, labels)
    if recipe is None:
        return None
    setup = PromptSetup(dataset, recipe, train, validation, lambda: similarity_index_for(dataset, recipe, train))
    _saved_recipes(workspace, dataset, recipe, labels)
    st.divider()
    _try_one_text(lm, setup)
    return setup


# ----------------------------------------------------------------------------------------------------- data


def _pick_dataset(workspace: Workspace) -> PreparedDataset | None:
    saved = list_datasets(workspace, task="text-classification")
    if not saved:
        st.info("Save a dataset of texts with labels on the Data page first (there is a built-in sample): its "
                "classes become the answers and its examples the worked examples.", icon=":material/dataset:")
        st.page_link("pages/data.py", label="Go to the Data page →", icon=":material/dataset:")
        return None
    by_name = {d.name: d for d in saved}
    name = st.selectbox("Dataset (texts with labels)", list(by_name), key="prompt_dataset",
                        help="Worked examples come from its training part; evaluation uses its held-out part.")
    dataset = by_name[name]
    st.caption(f"{dataset.info.train_rows} training examples · {dataset.info.validation_rows} held-out · "
               f"classes: {', '.join(dataset.info.labels)}")
    return dataset


def _stamp(dataset: PreparedDataset) -> float:
    return (dataset.folder / "dataset.json").stat().st_mtime


def examples_of(dataset: PreparedDataset) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    return _examples(str(dataset.folder), _stamp(dataset), dataset)


@st.cache_data(max_entries=4, show_spinner=False)
def _examples(folder: str, stamp: float, _dataset: PreparedDataset) -> tuple[list[dict[str, str]],
                                                                               list[dict[str, str]]]:
    """Training and held-out rows as {"text", "label"}, read once per saved version of the dataset."""
    return _rows(_dataset.records("train")), _rows(_dataset.records("validation"))


def _rows(records: list[dict]) -> list[dict[str, str]]:
    return [{"text": str(row["text"]), "label": str(row["label"])} for row in records]


@st.cache_resource(max_entries=1, show_spinner="Loading MiniLM to compare texts…")
def _embedder():
    from core.prompting.examples import SentenceEmbedder

    return SentenceEmbedder()


@st.cache_resource(max_entries=4, show_spinner="Reading the training texts once to find similar examples…")
def _index(folder: str, stamp: float, labels: tuple[str, ...], _train: list[dict[str, str]]) -> SimilarityIndex:
    # The same examples, in the same order, as core.prompting.examples.usable_examples picks for these label words.
    pool = [row for row in _train if row["label"] in labels and row["text"].strip()]
    return SimilarityIndex.from_examples(pool, _embedder())


def similarity_index_for(dataset: PreparedDataset, recipe: PromptRecipe,
                         train: list[dict[str, str]]) -> SimilarityIndex | None:
    if recipe.selection != "similar" or recipe.few_shot_k == 0:
        return None
    return _index(str(dataset.folder), _stamp(dataset), tuple(recipe.labels), train)


# ----------------------------------------------------------------------------------------------------- recipe


def _word_key(dataset: PreparedDataset, label: str) -> str:
    return f"prompt_word_{dataset.name}_{label}"


def _recipe_editor(dataset: PreparedDataset, labels: list[str]) -> PromptRecipe | None:
    help_for = recipe_help()
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    for label, word in default_label_words(labels).items():
        st.session_state.setdefault(_word_key(dataset, label), word)

    st.text_input("Instructions (optional)", key="prompt_instructions", help=help_for["instructions"],
                  placeholder="Classify each review as {labels}.")
    st.text_area("Template", key="prompt_template", height=90, help=help_for["template"])
    st.markdown("**Label words** — the word the model should answer with for each class")
    columns = st.columns(min(len(labels), 4))
    words = {label: columns[i % len(columns)].text_input(label, key=_word_key(dataset, label))
             for i, label in enumerate(labels)}
    first, second, third = st.columns(3)
    first.number_input("Worked examples (k; 0 = zero-shot)", 0, 64, key="prompt_k", help=help_for["few_shot_k"])
    second.selectbox("How to pick them", SELECTIONS, format_func=SELECTION_NAMES.get, key="prompt_selection",
                     help=help_for["selection"])
    third.selectbox("Their order", ORDERS, format_func=ORDER_NAMES.get, key="prompt_order", help=help_for["order"])
    first.toggle("Calibrate (divide out the model's bias)", key="prompt_calibrate", help=help_for["calibrate"])
    second.selectbox("Measure the bias on", list(CALIBRATION_NAMES), format_func=CALIBRATION_NAMES.get,
                     key="prompt_calibrate_against", help=help_for["calibrate_against"],
                     disabled=not st.session_state["prompt_calibrate"])
    third.number_input("Seed", 0, 2**31 - 1, key=SEED_KEY, help=help_for["seed"])

    # Each value as the type the recipe holds (a number box may hand back a float, a toggle anything truthy).
    settings = {name: type(RECIPE_DEFAULTS[name])(st.session_state[key]) for name, key in WIDGET_KEYS.items()}
    settings["label_words"] = words
    problems = _problems(settings)
    if problems:
        for problem in problems:
            st.error(problem, icon=":material/error:")
        return None
    return PromptRecipe(**settings)


def _problems(settings: dict) -> list[str]:
    try:
        PromptRecipe(**settings)
    except ValueError as error:
        return [str(error)]
    return []


def _apply_recipe(workspace: Workspace, dataset: PreparedDataset, labels: list[str]) -> None:
    """Button callback: put a saved recipe's settings into the widgets (runs before they are drawn)."""
    name = st.session_state.get("prompt_recipe_choice")
    try:
        saved = load_recipe(workspace, name)
    except RecipeError as error:
        st.session_state["prompt_recipe_message"] = ("error", str(error))
        return
    recipe = saved.recipe
    st.session_state.update({key: getattr(recipe, name) for name, key in WIDGET_KEYS.items()})
    missing = [label for label in labels if label not in recipe.label_words]
    for label in labels:
        if label in recipe.label_words:
            st.session_state[_word_key(dataset, label)] = recipe.label_words[label]
    message = f"Loaded “{saved.name}”."
    if missing:
        message += f" It has no label word for {', '.join(missing)}: those keep their current words."
    st.session_state["prompt_recipe_message"] = ("success", message)


def _saved_recipes(workspace: Workspace, dataset: PreparedDataset, recipe: PromptRecipe, labels: list[str]) -> None:
    with st.expander("Saved recipes", icon=":material/bookmark:"):
        left, right = st.columns(2)
        saved = list_recipes(workspace)
        if saved:
            shown = {s.name: s.name + (f"  (made for {s.dataset})" if s.dataset else "") for s in saved}
            left.selectbox("Saved recipe", list(shown), format_func=shown.get, key="prompt_recipe_choice")
            left.button("Load", key="prompt_recipe_load", icon=":material/upload:", on_click=_apply_recipe,
                        args=(workspace, dataset, labels))
        else:
            left.caption("No saved recipes yet.")
        name = right.text_input("Save this recipe as", key="prompt_recipe_name", placeholder="sentiment, 4 examples")
        if right.button("Save", key="prompt_recipe_save", icon=":material/save:"):
            try:
                save_recipe(workspace, name, recipe, dataset=dataset.name)
                st.session_state["prompt_recipe_message"] = ("success", f"Saved “{name.strip()}”.")
                st.rerun()
            except RecipeError as error:
                st.error(str(error), icon=":material/error:")
        message = st.session_state.pop("prompt_recipe_message", None)
        if message:
            (st.success if message[0] == "success" else st.error)(message[1])


# ----------------------------------------------------------------------------------------------------- one text


def _try_one_text(lm: LoadedModel, setup: PromptSetup) -> None:
    st.subheader("Try it on one text")
    default = setup.validation[0]["text"] if setup.validation else ""
    text = st.text_area("Text to classify", value=default, key=f"prompt_try_{setup.dataset.name}", height=80)
    if not text.strip():
        st.caption("Type a text to see the prompt the model reads.")
        return
    index = setup.similarity_index()
    assembled = assemble_prompt(setup.recipe, setup.train, text, lm.tokenizer, lm.model, index=index)
    limit = f" of the {assembled.context_limit:,} the model reads" if assembled.context_limit else ""
    with st.expander(f"The prompt the model reads: {assembled.token_count:,} tokens{limit}",
                     icon=":material/article:", expanded=setup.recipe.few_shot_k <= 8):
        st.code(assembled.text, language=None, wrap_lines=True)
    if assembled.warning:
        st.warning(assembled.warning, icon=":material/warning:")
    if st.button("Classify this text", key="prompt_try_go", icon=":material/label:"):
        probabilities = classify_text(lm.model, lm.tokenizer, setup.recipe, setup.train, text, index=index,
                                      bias=_training_text_bias(lm, setup, index))
        best = max(probabilities, key=probabilities.get)
        st.markdown(f"**{best}** ({probabilities[best]:.0%}){_calibration_note(setup.recipe)}")
        st.plotly_chart(charts.probability_bars(probabilities), key="prompt_try_bars")


def _training_text_bias(lm: LoadedModel, setup: PromptSetup, index: SimilarityIndex | None) -> np.ndarray | None:
    """The training texts' average answer that calibrates one text, kept in this session for the latest model,
    dataset and recipe: scoring those texts takes seconds, and a person tries text after text."""
    recipe = setup.recipe
    if one_text_calibration(recipe) != "training-texts":
        return None
    key = (lm.name, str(setup.dataset.folder), setup.dataset.train_path.stat().st_mtime_ns,
           json.dumps(recipe_to_dict(recipe), sort_keys=True))
    cached = st.session_state.get(BIAS_KEY)
    if cached is None or cached[0] != key:
        cached = (key, training_text_bias(lm.model, lm.tokenizer, recipe, setup.train, index=index))
        st.session_state[BIAS_KEY] = cached
    return cached[1]


def _calibration_note(recipe: PromptRecipe) -> str:
    against = one_text_calibration(recipe)
    return f" — calibrated on {CALIBRATION_NAMES[against]}" if against else ""
