"""Prompt lab: ask a pretrained language model, classify with zero-/few-shot prompts, and see whether prompting or
fine-tuning works better on your own data."""

import streamlit as st

from ui.common import router, state
from ui.prompt_lab import classify as prompt_classify
from ui.prompt_lab import compare as prompt_compare
from ui.prompt_lab import draws as prompt_draws
from ui.prompt_lab import evaluate as prompt_evaluate
from ui.prompt_lab import generate as prompt_generate
from ui.prompt_lab import models as prompt_models

TABS = [":material/label: Classify with a prompt", ":material/balance: Prompt or fine-tune?",
        ":material/edit_note: Write freely"]
TAB = "prompt_lab_tab"  # session state: the open tab

router.through_router()

st.title("Prompt lab")
st.caption("Use a pretrained language model without training it: classify your texts with a prompt and a few "
           "worked examples, measure it on your held-out data, compare it with the models you fine-tuned, or let "
           "it write.")
workspace = state.workspace()
lm = prompt_models.pick(workspace)
if lm is None:
    st.info("Load a model to start. The bundled Gemma 3 270M needs no internet; its first load converts it once.",
            icon=":material/info:")
    st.stop()

# The open tab is kept in session state (a key, and a rerun when it changes). Plain tabs are drawn afresh whenever
# what stands above them changes (the Load button goes once a model is loaded), and open on the first tab again:
# a person who pressed Generate under "Write freely" lost sight of the text.
classify_tab, compare_tab, write_tab = st.tabs(TABS, key=TAB, on_change="rerun")
with classify_tab:
    setup = prompt_classify.render(workspace, lm)
    if setup is not None:
        st.divider()
        prompt_evaluate.render(lm, setup)
        prompt_draws.render(lm, setup)
with compare_tab:
    if setup is None:
        st.info("Pick a dataset and a valid recipe in the first tab; the comparison uses them.")
    else:
        prompt_compare.render(workspace, lm, setup)
with write_tab:
    prompt_generate.render(lm)
