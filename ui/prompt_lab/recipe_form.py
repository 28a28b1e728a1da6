"""The prompt's settings in plain words: the answer word for each class, how each text is shown, how many worked
examples, and whether to adjust for the model's lean; the rest under "More settings".

A new dataset starts from a prompt that fits it (`core.prompting.defaults.starting_recipe`: its class names as the
answer words, a template that suits them). Every widget keeps its value for the session (`persist_state`) and the
URL (`ui.prompt_lab.memory`); a saved recipe or a search's winner is put into the widgets by `apply_recipe`, a
button callback, which runs before the widgets are drawn, the one moment Streamlit allows it.
"""

from __future__ import annotations

import streamlit as st

from core.config.glossary import explain
from core.data.dataset_store import PreparedDataset
from core.messages import markdown_literal
from core.prompting.defaults import names_are_numbers, starting_recipe
from core.prompting.recipe import CALIBRATIONS, ORDERS, RECIPE_DEFAULTS, SELECTIONS, PromptRecipe, recipe_help
from ui.common.widgets import KEEP
from ui.prompt_lab.memory import SETTINGS, apply_recipe_news, instructions_key, template_key, word_key

# Plain names for the choices; the technical ones are in each setting's help.
SELECTION_NAMES = {"random": "Picked at random", "class-balanced": "The same number from each class",
                   "similar": "The most similar to the text"}
ORDER_NAMES = {"as-selected": "As picked", "shuffled": "Shuffled", "by-class": "Grouped by class"}
CALIBRATION_NAMES = {"content-free": "a blank text", "training-texts": "your training texts",
                     "classified-texts": "the texts being classified"}
KEYS = {name: key for name, (key, _) in SETTINGS.items()}
# The glossary's words this page uses, explained in one place with the rest of the app's.
LAB_TERMS = ("prompt", "worked examples", "answer words", "the model's lean", "tokens", "accuracy", "macro-F1",
             "validation")


def edit(dataset: PreparedDataset, brought: dict[str, str]) -> PromptRecipe | None:
    """The recipe the widgets describe (None, with the reasons shown, while it cannot be used)."""
    labels = list(dataset.info.labels)
    _fill_defaults(dataset, labels)
    apply_recipe_news(brought, dataset.name, labels)
    help_for = recipe_help()
    if names_are_numbers(labels):
        st.info("This dataset's classes are numbers, which mean nothing to a language model. Type a word for each "
                "class below (World, Sports…), or name the classes on the Data page.", icon=":material/label:")
    head, words_help = st.columns([4, 1])
    head.markdown("**Answer words** — the word the model should say for each class")
    with words_help.popover("What do these words mean?", icon=":material/help:"):
        st.markdown("\n\n".join(f"**{term}**: {explain(term)}" for term in LAB_TERMS))
    columns = st.columns(min(len(labels), 4))
    words = {label: columns[i % len(columns)].text_input(markdown_literal(label), key=word_key(dataset.name, label),
                                                         persist_state=KEEP, help=help_for["label_words"])
             for i, label in enumerate(labels)}
    st.text_area("How each text is shown to the model ({text} is where the text goes)",
                 key=template_key(dataset.name), height=80, persist_state=KEEP, help=help_for["template"])
    left, middle, right = st.columns(3)
    left.number_input("Worked examples shown before each text", 0, 64, key=KEYS["few_shot_k"], persist_state=KEEP,
                      help=help_for["few_shot_k"])
    middle.number_input("Sets of worked examples, answers averaged", 1, 8, key=KEYS["draws"], persist_state=KEEP,
                        help=help_for["draws"])
    right.toggle("Adjust for the model's lean", key=KEYS["calibrate"], persist_state=KEEP,
                 help=help_for["calibrate"])
    with st.expander("More settings", icon=":material/tune:"):
        st.text_input("Words shown once at the top (optional)", key=instructions_key(dataset.name),
                      persist_state=KEEP, help=help_for["instructions"], placeholder="Classify each text as {labels}.")
        first, second, third = st.columns(3)
        first.selectbox("Which worked examples", SELECTIONS, format_func=SELECTION_NAMES.get,
                        key=KEYS["selection"], persist_state=KEEP, help=help_for["selection"])
        second.selectbox("In which order", ORDERS, format_func=ORDER_NAMES.get, key=KEYS["order"],
                         persist_state=KEEP, help=help_for["order"])
        third.number_input("Which sets of worked examples (a number)", 0, 2**31 - 1, key=KEYS["seed"],
                           persist_state=KEEP, help=help_for["seed"])
        first.selectbox("Measure the lean on", CALIBRATIONS, format_func=CALIBRATION_NAMES.get,
                        key=KEYS["calibrate_against"], persist_state=KEEP, help=help_for["calibrate_against"],
                        disabled=not st.session_state[KEYS["calibrate"]])
        st.button("Start again from this dataset's prompt", key="prompt_reset", icon=":material/restart_alt:",
                  on_click=apply_recipe, args=(dataset, starting_recipe(labels)))
    return _recipe(dataset, words)


def _fill_defaults(dataset: PreparedDataset, labels: list[str]) -> None:
    """What a widget shows before anyone touched it: this dataset's starting prompt."""
    start = starting_recipe(labels)
    st.session_state.setdefault(template_key(dataset.name), start.template)
    st.session_state.setdefault(instructions_key(dataset.name), start.instructions)
    for label, word in start.label_words.items():
        st.session_state.setdefault(word_key(dataset.name, label), word)
    for name, key in KEYS.items():
        st.session_state.setdefault(key, getattr(start, name))


def _recipe(dataset: PreparedDataset, words: dict[str, str]) -> PromptRecipe | None:
    # Each value as the type the recipe holds (a number box may hand back a float, a toggle anything truthy).
    settings = {name: type(RECIPE_DEFAULTS[name])(st.session_state[key]) for name, key in KEYS.items()}
    settings.update(template=st.session_state[template_key(dataset.name)],
                    instructions=st.session_state[instructions_key(dataset.name)], label_words=words)
    try:
        return PromptRecipe(**settings)
    except ValueError as error:
        st.error(markdown_literal(error), icon=":material/error:")  # it may quote an answer word
        return None


def apply_recipe(dataset: PreparedDataset, recipe: PromptRecipe) -> list[str]:
    """Put a recipe into the widgets (call it from a button callback); returns the classes it has no word for,
    which keep their current words."""
    st.session_state.update({key: getattr(recipe, name) for name, key in KEYS.items()})
    st.session_state[template_key(dataset.name)] = recipe.template
    st.session_state[instructions_key(dataset.name)] = recipe.instructions
    missing = []
    for label in dataset.info.labels:
        if label in recipe.label_words:
            st.session_state[word_key(dataset.name, label)] = recipe.label_words[label]
        else:
            missing.append(label)
    return missing
