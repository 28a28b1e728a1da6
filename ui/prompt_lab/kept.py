"""The Prompt lab's latest results (an evaluation, a comparison, one text's answer), kept in the session and in the
workspace, so they are still there after a visit to another page and after a refresh (a new session, whose URL can
hold settings but not results).

    <workspace>/prompt_lab/<name>.json

Each result is stored with the signature of what produced it (model, dataset, recipe); the views compare it with
the current one to say when a result is for earlier settings. These files are the app's own, but they are still
read as plain JSON and checked to be objects: nothing in them is executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from core.engine.run_folder import read_json_object, write_json_atomic
from core.workspace import Workspace

FOLDER = "prompt_lab"
SESSION = "prompt_kept_"  # + name: this session's copy


def _path(workspace: Workspace, name: str) -> Path:
    return workspace.root / FOLDER / f"{name}.json"


def keep(workspace: Workspace, name: str, result: dict[str, Any]) -> None:
    st.session_state[SESSION + name] = result
    path = _path(workspace, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, result)
    except (OSError, TypeError, ValueError):
        pass  # a full or read-only disk: the result stays in this session only


def kept(workspace: Workspace, name: str) -> dict[str, Any] | None:
    """This session's latest result under `name`, else the workspace's (a refreshed page), else None."""
    if SESSION + name in st.session_state:
        return st.session_state[SESSION + name]
    result = read_json_object(_path(workspace, name))
    if result is None:
        return None
    st.session_state[SESSION + name] = result
    return result
