"""Per-session context: whose workspace this is, and which run or dataset the URL points at.

A browser refresh starts a new Streamlit session, so anything that must survive it (the selected run) lives in
`st.query_params`. Moving to another page through the sidebar clears the URL's parameters, so the session also
remembers the selection: the run a person opened is still open when they come back, and the Playground starts on it.
"""

from __future__ import annotations

import streamlit as st

from core.config.train_config import TrainConfig
from core.hosting import people
from core.workspace import Workspace
from ui.common import auth


def workspace() -> Workspace:
    """The workspace of the person using this session (on a hosted app, their own folder of the team's)."""
    config = auth.settings()
    if not config.hosted:
        return Workspace.default()
    person = auth.current_person()
    if person is None:  # pages run only after sign-in; this is a second lock on the door
        st.stop()
    return auth.team().workspace_of(person)


def limits() -> people.Limits:
    return people.current_limits(auth.settings().data_folder, auth.settings())


def vet_config(config: TrainConfig) -> TrainConfig | str:
    """The config as this person may launch it (limits, confined paths, safetensors only), or why not."""
    try:
        return people.vet_config(config, workspace(), auth.settings(), limits())
    except people.AccessError as error:
        return str(error)


def vetted_model_name(name: str) -> tuple[str, str | None]:
    """(the name to load, why it may not be loaded or None): only safetensors folders, and on a hosted app only
    folders inside this person's workspace, a relative one being read from there."""
    try:
        return people.vet_model_name(name, workspace(), auth.settings().hosted), None
    except people.AccessError as error:
        return name, str(error)


def upload_problem(uploaded) -> str | None:
    """Why an uploaded file is refused for this person (over their upload limit), or None."""
    return people.upload_problem(uploaded.size, limits())


def _remembered(param: str) -> str:
    return f"selected_{param}"


def selected(param: str) -> str | None:
    """The URL's choice, else this session's last one (written back into the URL, so a refresh keeps it)."""
    value = st.query_params.get(param) or st.session_state.get(_remembered(param))
    if value:
        select(param, value)
    return value or None


def in_url(param: str) -> str | None:
    """Only what the URL says, not the session's memory: the Train page follows the run it has just started, not
    whichever run was opened last elsewhere."""
    return st.query_params.get(param) or None


def select(param: str, value: str | None) -> None:
    if value:
        st.session_state[_remembered(param)] = value
        if st.query_params.get(param) != value:
            st.query_params[param] = value
        return
    st.session_state.pop(_remembered(param), None)
    if param in st.query_params:
        del st.query_params[param]
