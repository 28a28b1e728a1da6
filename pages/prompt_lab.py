"""Prompt lab: ask a pretrained language model, classify with a prompt and a few worked examples (or let the lab find
the best prompt), and see whether prompting or fine-tuning works better on your own data."""

import streamlit as st

from core.prompting.defaults import starting_recipe
from core.prompting.recipe import recipe_to_dict
from ui.common import router, state
from ui.prompt_lab import compare as prompt_compare
from ui.prompt_lab import evaluate as prompt_evaluate
from ui.prompt_lab import generate as prompt_generate
from ui.prompt_lab import memory, recipe_form, saved, search, setup, try_text
from ui.prompt_lab import models as prompt_models

TABS = [":material/label: Classify with a prompt", ":material/balance: Prompt or fine-tune?",
        ":material/edit_note: Write freely"]
TAB = "prompt_lab_tab"  # session state: the open tab

router.through_router()

st.title("Prompt lab")
st.caption("Use a pretrained language model without training it: classify your texts with a prompt and a few "
           "worked examples, measure it on your held-out data, compare it with the models you trained, or let it "
           "write.")
workspace = state.workspace()
brought = memory.news()  # what a refresh (or a link) brought in the URL
lm = prompt_models.pick(workspace, brought)
if lm is None:
    memory.keep(prompt_models.in_url(), None, None)
    st.info("Load a model to start. The bundled Gemma 3 270M needs no internet; its first load converts it once.",
            icon=":material/info:")
    st.stop()

# The open tab is kept in session state (a key, and a rerun when it changes). Plain tabs are drawn afresh whenever
# what stands above them changes (the Load button goes once a model is loaded), and open on the first tab again:
# a person who pressed Generate under "Write freely" lost sight of the text.
classify_tab, compare_tab, write_tab = st.tabs(TABS, key=TAB, on_change="rerun")
prompt_setup = None
with classify_tab:
    dataset = setup.pick_dataset(workspace, brought)
    if dataset is not None:
        search.use_finished(workspace, dataset, brought)  # a finished search's winner, put to use before the widgets
        search_box = st.container()
        st.subheader("Your prompt")
        recipe = recipe_form.edit(dataset, brought)
        memory.keep(prompt_models.in_url(), dataset.name, recipe_to_dict(starting_recipe(dataset.info.labels)))
        if recipe is not None:
            train, validation = setup.examples_of(dataset)
            prompt_setup = setup.PromptSetup(dataset, recipe, train, validation,
                                             lambda: setup.similarity_index_for(dataset, recipe, train))
            with search_box:
                search.render(workspace, lm, prompt_setup)
                st.divider()
            saved.render(workspace, dataset, recipe)
            st.divider()
            try_text.render(workspace, lm, prompt_setup)
            st.divider()
            prompt_evaluate.render(workspace, lm, prompt_setup)
    else:
        memory.keep(prompt_models.in_url(), None, None)
with compare_tab:
    if prompt_setup is None:
        st.info("Pick a dataset and a valid prompt in the first tab; the comparison uses them.")
    else:
        prompt_compare.render(workspace, lm, prompt_setup)
with write_tab:
    prompt_generate.render(lm)
