"""Per-session context: whose workspace this is, which run or dataset the URL points at, and forms kept whole.

A browser refresh starts a new Streamlit session, so anything that must survive it (the selected run, a form's
choices) lives in `st.query_params`. Moving to another page through the sidebar clears the URL's parameters, so the
session also remembers the selection: the run a person opened is still open when they come back, and the Playground
starts on it. Forms need the same care (see the forms section below).
"""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from core.config.train_config import TrainConfig
from core.hosting import limits as person_limits  # as: `limits()` below is this session's
from core.hosting import people, vetting
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


def limits() -> person_limits.Limits:
    return person_limits.current_limits(auth.settings().data_folder, auth.settings())


def vet_config(config: TrainConfig) -> TrainConfig | str:
    """The config as this person may launch it (limits, confined paths, safetensors only), or why not."""
    try:
        return vetting.vet_config(config, workspace(), auth.settings(), limits())
    except people.AccessError as error:
        return str(error)


def vetted_model_name(name: str) -> tuple[str, str | None]:
    """(the name to load, why it may not be loaded or None): only safetensors folders, and on a hosted app only
    folders inside this person's workspace, a relative one being read from there."""
    try:
        return vetting.vet_model_name(name, workspace(), auth.settings().hosted), None
    except people.AccessError as error:
        return name, str(error)


def upload_problem(uploaded) -> str | None:
    """Why an uploaded file is refused for this person (over their upload limit), or None."""
    return person_limits.upload_problem(uploaded.size, limits())


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


# ---------------------------------------------------------------------------------------------------- forms
# Streamlit deletes a widget's value at the end of every run that does not draw the widget, so leaving a page lost
# what was typed into a form: its widgets pass `persist_state="session"`, which keeps their values for the session.
# A refresh starts a new session, so a form also writes its choices into the URL (`write_url`) and follows the ones
# that came from outside (`url_news`).


def url_news(store: str, names: Iterable[str]) -> dict[str, str]:
    """The URL's parameters among `names` that this session did not write there itself (under `store`): what a
    refresh or a link brought, which the form should follow. Its own writes are only an echo of its state."""
    written = st.session_state.get(store, {})
    return {name: st.query_params[name] for name in names
            if name in st.query_params and written.get(name) != st.query_params[name]}


def write_url(store: str, params: dict[str, str], names: Iterable[str]) -> None:
    """Make the URL's parameters among `names` exactly `params` (a refresh then finds them), remembered under
    `store` so that `url_news` can tell them from parameters that came from outside."""
    for name in names:
        if name in params:
            if st.query_params.get(name) != params[name]:
                st.query_params[name] = params[name]
        elif name in st.query_params:
            del st.query_params[name]
    st.session_state[store] = dict(params)
