"""The saved datasets, listed under every Data section: what each holds, and a way to delete it."""

from __future__ import annotations

import streamlit as st

from core.config.catalog import TASKS
from core.data.dataset_store import delete_dataset, list_datasets
from core.messages import markdown_literal
from core.workspace import Workspace


def render(workspace: Workspace) -> None:
    saved = list_datasets(workspace)
    st.subheader("Saved datasets")
    if not saved:
        st.caption("None yet: the datasets you save appear here and on the Train page.")
        return
    rows = [{"name": d.name, "task": TASKS[d.info.task].title if d.info.task in TASKS else d.info.task,
             "train rows": d.info.train_rows, "validation rows": d.info.validation_rows,
             "classes": ", ".join(d.info.labels[:8]) + (" …" if len(d.info.labels) > 8 else ""),
             "from": d.info.source} for d in saved]
    st.dataframe(rows, hide_index=True)
    with st.expander("Delete a dataset"):
        name = st.selectbox("Dataset", [d.name for d in saved], key="data_delete_choice")
        st.caption("Runs already trained on it keep their models.")
        if st.button("Delete", key="data_delete_button"):
            delete_dataset(workspace, name)
            st.toast(f"Deleted “{markdown_literal(name)}”.")
            st.rerun()
