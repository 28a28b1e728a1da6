"""Small widgets: a knob for any config field (help text and limits from its metadata), checks, durations."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import streamlit as st

from core.data.uploads import Check, DataError

_LEVELS = {"error": st.error, "warning": st.warning, "info": st.info}
_ICONS = {"error": ":material/error:", "warning": ":material/warning:", "info": ":material/check_circle:"}


def field_meta(cls: type, name: str) -> dict[str, Any]:
    return next(f.metadata for f in fields(cls) if f.name == name)


def label_of(name: str) -> str:
    return name.replace("_", " ").capitalize()


def knob(cls: type, name: str, key: str, label: str | None = None) -> Any:
    """The input for one dataclass field, its value kept in `st.session_state[key]` (set that to change it).

    The widget type follows the value's type; help text, minimum and maximum come from the field's metadata,
    so the explanation a person reads is the one written beside the field in `core`.
    """
    meta = field_meta(cls, name)
    label = label or label_of(name)
    value = st.session_state.get(key)
    help_text = meta.get("help")
    if isinstance(value, bool):
        return st.checkbox(label, key=key, help=help_text)
    if isinstance(value, int):
        return st.number_input(label, key=key, help=help_text, step=1, min_value=meta.get("min"),
                               max_value=meta.get("max"))
    if isinstance(value, float):
        small = 0 < abs(value) < 1e-2
        return st.number_input(label, key=key, help=help_text, min_value=_float(meta.get("min")),
                               max_value=_float(meta.get("max")), format="%.1e" if small else "%.3f",
                               step=value / 2 if small else 0.05)
    if isinstance(value, (tuple, list)):
        text = st.text_input(label, value=", ".join(str(v) for v in value), key=f"{key}__text", help=help_text)
        return parse_list(text, type(value[0]) if value else str)
    return st.text_input(label, key=key, help=help_text)


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


def show_checks(checks: list[Check] | list[dict]) -> None:
    for check in checks:
        level, message = (check.level, check.message) if isinstance(check, Check) else (check["level"],
                                                                                          check["message"])
        _LEVELS.get(level, st.info)(message, icon=_ICONS.get(level))


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:  # None or NaN
        return "–"
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
        st.error(refused, icon=":material/error:")
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
        st.error(str(result), icon=":material/error:")
        return None
    return result
