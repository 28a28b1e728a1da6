"""Saved recipes: keep the prompt under a name, and load one back into the prompt's settings.

Loading writes the widgets' values in a button callback (`ui.prompt_lab.recipe_form.apply_recipe`), before they are
drawn, the one moment Streamlit allows it. A recipe's name comes from a person, so it is shown as text.
"""

from __future__ import annotations

import streamlit as st

from core.data.dataset_store import PreparedDataset
from core.messages import markdown_literal
from core.prompting.recipe import PromptRecipe
from core.prompting.saved_recipes import RecipeError, list_recipes, load_recipe, save_recipe
from core.workspace import Workspace
from ui.common.widgets import KEEP
from ui.prompt_lab.recipe_form import apply_recipe

MESSAGE = "prompt_recipe_message"  # session state: (level, text) shown once after a save or a load
CHOICE = "prompt_recipe_choice"


def render(workspace: Workspace, dataset: PreparedDataset, recipe: PromptRecipe) -> None:
    with st.expander("Saved recipes", icon=":material/bookmark:"):
        left, right = st.columns(2)
        saved = list_recipes(workspace)
        if saved:
            shown = {s.name: s.name + (f"  (made for {s.dataset})" if s.dataset else "") for s in saved}
            if st.session_state.get(CHOICE) not in shown:
                st.session_state[CHOICE] = next(iter(shown))
            left.selectbox("Saved recipe", list(shown), format_func=shown.get, key=CHOICE, persist_state=KEEP)
            left.button("Load", key="prompt_recipe_load", icon=":material/upload:", on_click=_load,
                        args=(workspace, dataset))
        else:
            left.caption("No saved recipes yet.")
        name = right.text_input("Save this recipe as", key="prompt_recipe_name", placeholder="news topics, 4 examples",
                                persist_state=KEEP)
        if right.button("Save", key="prompt_recipe_save", icon=":material/save:"):
            try:
                save_recipe(workspace, name, recipe, dataset=dataset.name)
                st.session_state[MESSAGE] = ("success", f"Saved “{name.strip()}”.")
                st.rerun()
            except RecipeError as error:
                st.error(markdown_literal(error), icon=":material/error:")
        message = st.session_state.pop(MESSAGE, None)
        if message:
            (st.success if message[0] == "success" else st.error)(markdown_literal(message[1]))


def _load(workspace: Workspace, dataset: PreparedDataset) -> None:
    """Button callback: put a saved recipe's settings into the widgets (runs before they are drawn)."""
    name = st.session_state.get(CHOICE)
    try:
        saved = load_recipe(workspace, name)
    except RecipeError as error:
        st.session_state[MESSAGE] = ("error", str(error))
        return
    missing = apply_recipe(dataset, saved.recipe)
    message = f"Loaded “{saved.name}”."
    if missing:
        message += f" It has no answer word for {', '.join(missing)}: those keep their current words."
    st.session_state[MESSAGE] = ("success", message)
