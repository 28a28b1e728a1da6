"""Sign-in for a hosted installation: a team password from secrets, or an OpenID Connect provider via `st.login`.

Who may come in, and what they may do, is decided in `core.hosting.people`; this module only asks and remembers. With
`hosted` off (the default) nobody is asked anything: the single local user is `LOCAL_PERSON`.

`ui.common.router.route()` calls `require_sign_in()` on every script run, before any page is drawn, so every page is
behind it. The team password is kept in the session, so a browser refresh asks for it again; the OIDC login is
kept in Streamlit's identity cookie. Wrong passwords are counted on the server (`core.hosting.sign_in_guard`), by
name and by address, so a refresh does not reset the count.
"""

from __future__ import annotations

import hmac
import importlib.util
import time

import streamlit as st
from streamlit import runtime
from streamlit.errors import StreamlitAuthError
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.hosting.people import LOCAL_PERSON, AccessError, Person, Team, clean_typed_name, email_allowed, person_for
from core.hosting.settings import Settings, SettingsError, load_settings
from core.hosting.sign_in_guard import SignInGuard, how_long
from core.hosting.upload_gate import SignedInSessions
from core.messages import markdown_literal

SESSION_PERSON = "auth_person"
WRONG_PASSWORD_DELAY = 0.5  # slows guessing down without bothering someone who mistyped


def settings() -> Settings:
    """The installation's settings, or a plain message and a stop when they cannot be read."""
    try:
        return load_settings()
    except SettingsError as error:
        st.error(f"The app's settings have a problem: {markdown_literal(error)}", icon=":material/settings:")
        st.stop()


def team() -> Team:
    return Team(settings().data_folder)


def current_person() -> Person | None:
    """Who this session belongs to: the local user, the signed-in person, or None while nobody is signed in."""
    config = settings()
    if not config.hosted:
        return LOCAL_PERSON
    if config.sign_in == "password":
        return st.session_state.get(SESSION_PERSON)
    if not st.user.get("is_logged_in"):
        return None
    email = str(st.user.get("email") or "")
    if st.user.get("email_verified") is False or not email_allowed(email, config.allowed_emails,
                                                                    config.allowed_domains):
        return None
    person = person_for(email, str(st.user.get("name") or email.split("@")[0]), config)
    if st.session_state.get(SESSION_PERSON) != person:  # first run of this session: make sure the workspace exists
        team().register(person)
        st.session_state[SESSION_PERSON] = person
    return person


def require_sign_in() -> Person | None:
    """The person using this session; when nobody is signed in yet, draws the sign-in and returns None."""
    config = settings()
    if not config.hosted:
        return _let_in(LOCAL_PERSON)
    # Visitors of a hosted app never see tracebacks or the developer menu.
    st.set_option("client.showErrorDetails", "none")
    st.set_option("client.toolbarMode", "viewer")
    if _served_over_http() and not signed_in_sessions().guarded:
        st.error("This app is set up for a team, but it was started without the guard that keeps visitors who have "
                 "not signed in from uploading files. Whoever hosts it: start it with  streamlit run serve.py  "
                 "(see docs/hosting.md).", icon=":material/shield:")
        st.stop()
    person = current_person()
    if person is not None:
        return _let_in(person)
    st.title("AI Playground")
    if config.sign_in == "password":
        password_form()
    else:
        provider_sign_in(config)
    return None


def _let_in(person: Person) -> Person:
    """Marks this session as signed in for the upload gate (`serve.py`), so its file uploads are accepted."""
    context = get_script_run_ctx()
    if context is not None:
        signed_in_sessions().add(context.session_id)
    return person


def _served_over_http() -> bool:
    """Whether this session has a browser connected through Streamlit's server (AppTest runs scripts on a stand-in
    runtime and takes uploads without HTTP, so there is no door to guard)."""
    context = get_script_run_ctx()
    if context is None or not runtime.exists() or type(runtime.get_instance()) is not runtime.Runtime:
        return False
    return runtime.get_instance().get_client(context.session_id) is not None


@st.cache_resource(show_spinner=False)
def signed_in_sessions() -> SignedInSessions:
    """The sessions someone has signed in to, one set for the whole server process: the upload gate in front of
    the app (`serve.py`) asks it too."""
    return SignedInSessions()


def password_form() -> None:
    team_password, admin_password = _secret("team_password"), _secret("admin_password")
    if not team_password:
        st.error("This app is set up for a team, but no team password is set. Whoever hosts it: add "
                 "team_password = \"…\" to .streamlit/secrets.toml and restart.", icon=":material/key_off:")
        return
    st.caption("Sign in with the team password you were given.")
    with st.form("auth_form"):
        name = st.text_input("Your name", key="auth_name", help="Your datasets and runs are kept under this name. "
                                                                 "Use the same name each time.")
        password = st.text_input("Team password", type="password", key="auth_password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if not submitted:
        return
    try:
        name = clean_typed_name(name)
    except AccessError as error:
        st.error(str(error), icon=":material/badge:")
        return
    # Counted on the server by name and by address, so a reload (a new session) does not start the count again.
    guard, address = sign_in_guard(), st.context.ip_address
    wait = guard.wait_left(name, address)
    if wait > 0:  # the password is not even looked at until the wait is over
        st.error(f"Too many wrong passwords for this name or from this computer. Wait {how_long(wait)} and try "
                 "again.", icon=":material/timer:")
        return
    is_admin = bool(admin_password) and _same(password, admin_password)
    if not (is_admin or _same(password, team_password)):
        wait = guard.failed(name, address)
        time.sleep(WRONG_PASSWORD_DELAY)
        st.error("That password is not right. Ask whoever runs this app for the team password." +
                 (f" Too many wrong tries: wait {how_long(wait)} before the next one." if wait else ""),
                 icon=":material/lock:")
        return
    guard.succeeded(name, address)
    person = Person(identity=name.lower(), name=name, is_admin=is_admin)
    team().register(person)
    st.session_state[SESSION_PERSON] = person
    st.rerun()


@st.cache_resource(show_spinner=False)
def sign_in_guard() -> SignInGuard:
    """The one count of wrong passwords for the whole server process, shared by every session."""
    return SignInGuard()


def provider_sign_in(config: Settings) -> None:
    if st.user.get("is_logged_in"):
        email = st.user.get("email") or "this account"
        st.error(f"{markdown_literal(email)} is not allowed into this app. Sign in with your work account, or ask "
                 "whoever runs the app to add you.", icon=":material/block:")
        if st.button("Sign out", key="auth_refused_sign_out", icon=":material/logout:"):
            st.logout()
        return
    if importlib.util.find_spec("authlib") is None:  # st.login needs it, and it is not in requirements.txt
        st.error("Sign-in through a provider is not set up on this server: it needs Authlib. Whoever hosts the app: "
                 "run  pip install \"streamlit[auth]\"  and restart.", icon=":material/key_off:")
        return
    st.caption("Sign in with your work account.")
    if st.button("Sign in", type="primary", key="auth_sign_in", icon=":material/login:"):
        try:
            st.login(config.oidc_provider or None)
        except StreamlitAuthError as error:
            st.error(f"Sign-in is not set up correctly on this server: {markdown_literal(error)}",
                     icon=":material/key_off:")


def sign_out_in_sidebar(person: Person) -> None:
    """Who is signed in, and the way out, at the bottom of the sidebar of a hosted app."""
    if person is LOCAL_PERSON or not settings().hosted:
        return
    with st.sidebar:
        st.caption(f"Signed in as **{markdown_literal(person.name)}**" + (" (admin)" if person.is_admin else ""))
        if st.button("Sign out", key="auth_sign_out", icon=":material/logout:"):
            st.session_state.pop(SESSION_PERSON, None)
            context = get_script_run_ctx()
            if context is not None:
                signed_in_sessions().discard(context.session_id)
            if settings().sign_in == "oidc":
                st.logout()
            st.rerun()


def _secret(name: str) -> str:
    try:
        return str(st.secrets.get(name) or "")
    except FileNotFoundError:  # no secrets.toml at all
        return ""


def _same(typed: str, expected: str) -> bool:
    # Compared in constant time, so the time taken says nothing about how much of the password was right.
    return hmac.compare_digest(typed.encode(), expected.encode())
