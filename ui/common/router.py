"""The app's pages, in one list, and the guard that makes sure every request goes through `app.py`.

Why the guard: Streamlit treats an app with a `pages/` folder as an old-style multipage app until `st.navigation`
has been called once in the server process. After a server restart, a browser that reloads `/runs` would have
`pages/runs.py` run on its own: no router, no page titles, no wide layout. Each page therefore calls
`through_router()` first; when `app.py` has not run in this session it declares the navigation and reruns, and
the rerun goes through `app.py` to the same page.
"""

from __future__ import annotations

import streamlit as st

from ui.common import auth

ROUTED = "router_ran"


def pages() -> list:
    return [
        st.Page("pages/home.py", title="Start", icon=":material/home:", default=True),
        st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
        st.Page("pages/playground.py", title="Playground", icon=":material/touch_app:"),
        st.Page("pages/prompt_lab.py", title="Prompt lab", icon=":material/chat:"),
        *([st.Page("pages/team.py", title="Team", icon=":material/groups:")] if auth.settings().hosted else []),
    ]


def route() -> None:
    """What `app.py` does on every run: mark the session as routed, check who is signed in (hosted apps), then
    show the page the URL names. Until someone signs in, the pages stay declared but hidden and none of them runs,
    so the URL they asked for is still there after signing in."""
    st.session_state[ROUTED] = True
    if auth.current_person() is None:
        # Declared before the sign-in form is drawn: declared after it, the first click on Sign in was lost (the
        # run that carried it was restarted by the navigation, and the form's submit with it).
        st.navigation(pages(), position="hidden")
    person = auth.require_sign_in()
    if person is None:
        return
    auth.sign_out_in_sidebar(person)
    st.navigation(pages()).run()


def through_router() -> None:
    if not st.session_state.get(ROUTED):
        st.navigation(pages(), position="hidden")  # tells Streamlit this app routes itself
        st.rerun()
    # A second lock on the door: whichever way a page script was reached, it runs only for someone signed in.
    if auth.require_sign_in() is None:
        st.stop()
