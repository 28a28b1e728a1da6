"""Per-session context: whose workspace this is, and which run or dataset the URL points at.

A browser refresh starts a new Streamlit session, so anything that must survive it (the selected run) lives in
`st.query_params`, not only in `st.session_state`.
"""

from __future__ import annotations

import streamlit as st

from core.workspace import Workspace


def workspace() -> Workspace:
    """The workspace of the person using this session."""
    return Workspace.default()


def selected(param: str) -> str | None:
    value = st.query_params.get(param)
    return value or None


def select(param: str, value: str | None) -> None:
    if value:
        st.query_params[param] = value
    elif param in st.query_params:
        del st.query_params[param]
