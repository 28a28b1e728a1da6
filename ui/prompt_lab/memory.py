"""The Prompt lab kept across page changes and refreshes, the way the Train page keeps its form.

Across page changes the widgets keep their values themselves (`persist_state="session"`). A refresh starts a new
session, so after each run of the page `keep` writes into the URL the model, the dataset, the prompt (template,
instructions, label words, the settings that differ from the dataset's starting prompt) and the running or finished
search; `news` returns what the URL brought from outside this session, which the page applies before drawing its
widgets. Results (an evaluation, a comparison, one text's answer) are kept in the session and in the workspace
(`ui.prompt_lab.kept`), since a URL cannot hold them.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from core.prompting.recipe import RECIPE_DEFAULTS
from ui.common import state

URL_STORE = "prompt_lab_in_url"
MODEL_CHOICE, MODEL_OTHER = "prompt_model_choice", "prompt_model_other"
DATASET = "prompt_dataset"
SEARCH = "prompt_search_job"  # session state: the id of this session's latest search
# Recipe settings edited by one widget each (the template, instructions and label words have one per dataset):
# the widget's session key and the URL's name for it.
SETTINGS = {"few_shot_k": ("prompt_k", "examples"), "selection": ("prompt_selection", "pick"),
            "order": ("prompt_order", "order"), "calibrate": ("prompt_calibrate", "adjust"),
            "calibrate_against": ("prompt_calibrate_against", "adjust_on"), "seed": ("prompt_seed", "draw"),
            "draws": ("prompt_draws", "sets")}
URL_NAMES = ("model", "model_path", "dataset", "template", "instructions", "words", "search",
             *(param for _, param in SETTINGS.values()))


def template_key(dataset: str) -> str:
    return f"prompt_template_{dataset}"


def instructions_key(dataset: str) -> str:
    return f"prompt_instructions_{dataset}"


def word_key(dataset: str, label: str) -> str:
    return f"prompt_word_{dataset}_{label}"


def news() -> dict[str, str]:
    """The URL's values that came from outside this session: a refreshed page's, or a link's."""
    return state.url_news(URL_STORE, URL_NAMES)


def apply_model_news(brought: dict[str, str], options: list[str]) -> str | None:
    """Put the model a refreshed page named into the picker; returns it (to load at once) or None."""
    choice = brought.get("model")
    if choice not in options:
        return None
    st.session_state[MODEL_CHOICE] = choice
    if "model_path" in brought:
        st.session_state[MODEL_OTHER] = brought["model_path"]
    return choice


def apply_recipe_news(brought: dict[str, str], dataset: str, labels: list[str]) -> None:
    """Put a refreshed page's prompt into the widgets of `dataset` (values that cannot be read are left out)."""
    if "template" in brought:
        st.session_state[template_key(dataset)] = brought["template"]
    if "instructions" in brought:
        st.session_state[instructions_key(dataset)] = brought["instructions"]
    words = _json_object(brought.get("words", ""))
    for label in labels:
        if isinstance(words.get(label), str):
            st.session_state[word_key(dataset, label)] = words[label]
    for name, (key, param) in SETTINGS.items():
        value = _read_as(brought.get(param), RECIPE_DEFAULTS[name])
        if value is not None:
            st.session_state[key] = value


def keep(model: dict[str, str], dataset: str | None, starting: dict[str, Any] | None) -> None:
    """Write the page's choices into the URL: the model, the dataset, and every recipe setting that differs from
    `starting` (the dataset's starting recipe as plain data), so a refresh finds them."""
    params = {name: value for name, value in model.items() if value}
    if dataset:
        params["dataset"] = dataset
    if dataset and starting is not None:
        template = st.session_state.get(template_key(dataset))
        if template is not None and template != starting["template"]:
            params["template"] = template
        instructions = st.session_state.get(instructions_key(dataset))
        if instructions:
            params["instructions"] = instructions
        words = {label: st.session_state.get(word_key(dataset, label), word)
                 for label, word in starting["label_words"].items()}
        if words != starting["label_words"]:
            params["words"] = json.dumps(words, ensure_ascii=False, separators=(",", ":"))
        for name, (key, param) in SETTINGS.items():
            if key in st.session_state and st.session_state[key] != starting[name]:
                params[param] = _as_text(st.session_state[key])
    if st.session_state.get(SEARCH):
        params["search"] = st.session_state[SEARCH]
    state.write_url(URL_STORE, params, URL_NAMES)


def _as_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _read_as(text: str | None, default: Any) -> Any | None:
    if text is None:
        return None
    try:
        if isinstance(default, bool):
            return {"true": True, "false": False}[text]
        return type(default)(text)
    except (KeyError, ValueError):
        return None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
