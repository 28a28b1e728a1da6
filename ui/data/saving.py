"""The Data page's name box and Save button, shared by every kind of data, and the question when the name is taken.

A saved dataset is never replaced without asking (`core.data.dataset_store` refuses to): when a dataset of that name
exists, the page asks whether to replace it or to save this one under the first free name (name-2, name-3…), and
the caller's "Saved “…”" message then names the dataset that was written.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.data.dataset_store import PreparedDataset, dataset_exists, free_dataset_name, replace_dataset
from core.messages import markdown_literal
from core.workspace import safe_name
from ui.common import state

NAME_HELP = ("Letters and digits in any language, dots and dashes. If a dataset of this name exists, you are asked "
             "before it is replaced.")


def save_button(suggested_name: str, prefix: str, save: Callable[[str], PreparedDataset]) -> PreparedDataset | None:
    """The dataset `save(name)` wrote once the person has pressed Save (and, for a taken name, answered), else None.

    Widget keys: `<prefix>_name`, `<prefix>_save`, and `<prefix>_replace` / `<prefix>_save_free` for the question.
    """
    workspace, asking = state.workspace(), f"{prefix}_asking"
    name = st.text_input("Dataset name", value=suggested_name, key=f"{prefix}_name", help=NAME_HELP)
    if st.button("Save dataset", type="primary", key=f"{prefix}_save", icon=":material/save:"):
        if not dataset_exists(workspace, name):
            st.session_state.pop(asking, None)
            return save(name)
        st.session_state[asking] = name
    if st.session_state.get(asking) != name:  # nothing asked, or the name was changed since: Save asks again
        return None
    taken, free = markdown_literal(safe_name(name, "dataset")), free_dataset_name(workspace, name)
    st.warning(f"There is already a dataset called “{taken}”. Replace it with this one, or save this one as "
               f"“{markdown_literal(free)}”?", icon=":material/warning:")
    replace, keep = st.columns(2)
    if replace.button(f"Replace “{taken}”", key=f"{prefix}_replace", icon=":material/swap_horiz:"):
        st.session_state.pop(asking, None)
        return replace_dataset(workspace, save(free), name)
    if keep.button(f"Save as “{markdown_literal(free)}”", key=f"{prefix}_save_free", icon=":material/add:"):
        st.session_state.pop(asking, None)
        return save(free)
    return None
