"""Small widgets: an input for any config field (help text and limits from its `knob`), checks, durations."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.config.knobs import knob_default, knob_help, knob_label, knob_limits
from core.data.uploads import Check, DataError
from core.messages import markdown_literal

_LEVELS = {"error": st.error, "warning": st.warning, "info": st.info}
_ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/check_circle:"}
KEEP = "session"  # a form widget's `persist_state`: its value outlives a visit to another page


def knob_input(cls: type, name: str, key: str, label: str | None = None) -> Any:
    """The input for one dataclass field, its value kept in `st.session_state[key]` (set that to change it).

    The widget type follows the field's default, so a number field always gets a number input, even when its value
    went missing (it then starts again from the default); help text, minimum and maximum come from the field's
    `knob`, so the explanation a person reads is the one written beside the field in `core`. The value outlives a
    visit to another page (`persist_state`): Streamlit would otherwise delete it when the page is left.
    """
    label = label or knob_label(cls, name)
    default, help_text = knob_default(cls, name), knob_help(cls, name)
    low, high = knob_limits(cls, name)
    current = st.session_state.get(key)
    value = _of_kind(current, default)
    if type(current) is not type(value) or current != value:
        st.session_state[key] = value
    if isinstance(default, bool):
        return st.checkbox(label, key=key, help=help_text, persist_state=KEEP)
    if isinstance(default, int):
        return st.number_input(label, key=key, help=help_text, step=1, min_value=low, max_value=high,
                               persist_state=KEEP)
    if isinstance(default, float):
        # Numbers as people write them ("3", "0.1", "0.003"); only the tiny ones (5e-05) in powers of ten. Steps
        # of half the value for small ones, or a click would jump from 0.003 to 0.053.
        small, tiny = 0 < abs(value) < 1e-2, 0 < abs(value) < 1e-3
        return st.number_input(label, key=key, help=help_text, min_value=_float(low), max_value=_float(high),
                               format="%.1e" if tiny else "%g", step=value / 2 if small else 0.05,
                               persist_state=KEEP)
    if isinstance(default, tuple):
        # A list is typed as text in a twin widget; the numbers read from it go back under `key`.
        text_key = f"{key}__text"
        if text_key not in st.session_state:
            st.session_state[text_key] = ", ".join(str(v) for v in value)
        st.text_input(label, key=text_key, help=help_text, persist_state=KEEP)
        st.session_state[key] = parse_list(st.session_state[text_key], type(default[0]) if default else str)
        return st.session_state[key]
    return st.text_input(label, key=key, help=help_text, persist_state=KEEP)


def _of_kind(value: Any, default: Any) -> Any:
    """`value` as the type of the field's `default` (an int for a float field, a list for a tuple), or the default
    when it is missing or of another kind."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value if isinstance(value, bool) and isinstance(default, bool) else default
    if isinstance(default, float) and isinstance(value, int | float):
        return float(value)
    if isinstance(default, tuple) and isinstance(value, tuple | list):
        return tuple(value)
    return value if isinstance(value, type(default)) else default


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_list(text: str, kind: type = int) -> tuple:
    """'32, 64, 128' → (32, 64, 128). Unreadable parts are left out; the config then says what is wrong."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    values = []
    for part in parts:
        try:
            values.append(kind(part))
        except ValueError:
            continue
    return tuple(values)


def show_checks(checks: list[Check]) -> None:
    """Each check as an alert; its message is shown as text, since it may quote a file's cells, columns or name."""
    for check in checks:
        _LEVELS.get(check.level, st.info)(markdown_literal(check.message), icon=_ICONS.get(check.level))


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:  # None or NaN
        return "–"
    if 0 < seconds < 0.5:
        return "under a second"  # "0:00" read as if nothing had run
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def number(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "–" if value is None else str(value)


def read_upload_once(uploaded, reader: Callable[[str, bytes], Any], key: str) -> Any | None:
    """`reader(name, bytes)` of an uploaded file, run once per distinct file and kept in the session.

    A `DataError` (or a refused upload: over this person's size limit on a hosted app) is shown as a plain
    message and gives None, so a page never shows a traceback for a bad file.
    """
    from ui.common import state

    refused = state.upload_problem(uploaded)
    if refused:
        st.error(markdown_literal(refused), icon=":material/error:")
        return None
    raw = uploaded.getvalue()
    cache_key = f"{key}_read_{hashlib.sha256(raw).hexdigest()[:16]}{uploaded.name}"
    if cache_key not in st.session_state:
        try:
            st.session_state[cache_key] = reader(uploaded.name, raw)
        except DataError as error:
            st.session_state[cache_key] = DataError(str(error))
    result = st.session_state[cache_key]
    if isinstance(result, DataError):
        st.error(markdown_literal(result), icon=":material/error:")
        return None
    return result
