"""Playground: try a trained model — pick a finished run and give it something to predict."""

import streamlit as st

from core.config.catalog import TASKS
from core.engine.run_table import headline_text, majority_rung
from core.engine.runs import runs_with_model
from core.messages import markdown_literal
from ui.common import router, state
from ui.playground import generation as playground_generation
from ui.playground import images as playground_images
from ui.playground import table as playground_table
from ui.playground import text as playground_text
from ui.runs.ladder_view import words_help

router.through_router()

VIEWS = {
    "text-classification": playground_text.render,
    "text-generation": playground_generation.render,
    "tabular-classification": playground_table.render,
    "tabular-regression": playground_table.render,
    "image-classification": playground_images.render,
}

st.title("Playground")
workspace = state.workspace()
ready = [run for run in runs_with_model(workspace) if run.config.task in VIEWS]
if not ready:
    st.info("No trained model yet. Train one on the Train page; it appears here when it finishes.")
    st.page_link("pages/train.py", label="Go to the Train page →", icon=":material/model_training:")
    st.stop()

by_id = {run.id: run for run in ready}
wanted = state.selected("run")
chosen = st.selectbox("Model (a finished run)", list(by_id), index=list(by_id).index(wanted) if wanted in by_id else 0,
                      key="play_run", format_func=lambda i: f"{i} · {TASKS[by_id[i].config.task].title.lower()}")
run = by_id[chosen]
if run.status.headline:  # the accuracy with always-the-most-common-class beside it, each word explained
    scores = headline_text(run.status.headline, majority_rung(run.evaluation))
    st.caption(markdown_literal(scores), help=words_help(scores))
VIEWS[run.config.task](run)
