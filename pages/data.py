"""Data: bring a file (or the sample), check it, split it, save it for training."""

import streamlit as st

from ui.common import router, state
from ui.data import datasets_list
from ui.data import generation as data_generation
from ui.data import images as data_images
from ui.data import table as data_table
from ui.data import text as data_text

router.through_router()

SECTIONS = {
    "Texts with labels": data_text.render,
    "A table (predict a column)": data_table.render,
    "Images in class folders": data_images.render,
    "Text for a language model": data_generation.render,
}

st.title("Data")
st.caption("Upload your examples, check them, and save them as a dataset the other pages can use.")
workspace = state.workspace()
kind = st.segmented_control("What kind of data do you have?", list(SECTIONS), default=list(SECTIONS)[0],
                            key="data_kind", required=True) or list(SECTIONS)[0]
SECTIONS[kind](workspace)
st.divider()
datasets_list.render(workspace)
