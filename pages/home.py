"""Start: what the app does, in four steps, and where to begin."""

import streamlit as st

from core.engine.runs import list_runs
from core.engine.training import plan_device
from core.messages import counted, markdown_literal
from ui.common import router, state

router.through_router()

st.title("AI Playground")
st.markdown("Train and try AI models on your own data, without writing code.")

steps = st.columns(4)
steps[0].page_link("pages/data.py", label="**1 · Data**", icon=":material/dataset:")
steps[0].caption("Upload a file of examples (or use the sample), check it, save it.")
steps[1].page_link("pages/train.py", label="**2 · Train**", icon=":material/model_training:")
steps[1].caption("Pick a model and a preset, start, and watch it learn.")
steps[2].page_link("pages/runs.py", label="**3 · Runs**", icon=":material/monitoring:")
steps[2].caption("Compare your runs, see where each one goes wrong, export a model.")
steps[3].page_link("pages/playground.py", label="**4 · Playground**", icon=":material/science:")
steps[3].caption("Type something and see what your model says.")
st.page_link("pages/prompt_lab.py", label="**Or skip training: the Prompt lab**", icon=":material/chat:")
st.caption("Ask a pretrained language model (the bundled Gemma 3 270M) to generate, or to classify your examples "
           "from a prompt and a few examples, scored on your own data and compared with a model you trained.")

device = plan_device("auto")
st.info(f"Training here runs on: **{device.description}**.", icon=":material/memory:")
runs = list_runs(state.workspace())
if runs:
    st.caption(f"{counted(len(runs), 'run')} in your workspace; the newest is “{markdown_literal(runs[0].id)}”.")
