"""The Train form kept across browser refreshes, and opened on the dataset a link names.

Across page changes the form's widgets keep their values themselves (`persist_state="session"`: without it,
Streamlit deleted every knob's value when the person left the page, and the knobs came back empty). A refresh starts
a new session, so after each run of the form `keep` writes its choices into the URL: the dataset, the model source,
the preset, how a pretrained model is given, and each setting that differs from what that preset gives
("epochs=5&model.vocab_size=400"). Before the form is drawn, `news` returns what the URL brought from outside this
session (a refresh, or the Data page's "Train a model on it" link), which the form then follows.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import streamlit as st

from core.config.knobs import knob_default
from core.config.presets import default_config
from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
from core.data.dataset_store import PreparedDataset
from core.tasks.image_classification.transforms import ImagePreprocessConfig
from ui.common import state
from ui.common.widgets import parse_list

MODEL_PREFIX, HP_PREFIX, LORA_PREFIX, IMAGE_PREFIX = "train_model_", "train_hp_", "train_lora_", "train_image_"
# Which settings each group of widgets holds, and how the URL names them ("epochs", "model.vocab_size").
SECTIONS = ((HP_PREFIX, TrainConfig, ""), (MODEL_PREFIX, ModelSpec, "model."), (LORA_PREFIX, LoraSpec, "lora."),
            (IMAGE_PREFIX, ImagePreprocessConfig, "image."))
SET_BY_THE_FORM = ("dataset", "task", "model", "lora", "image", "source")  # not knobs: chosen above them
CHOICES = ("dataset", "source", "preset", "pretrained")
URL_STORE = "train_form_in_url"


def knob_keys() -> dict[str, tuple[type, str, str]]:
    """Every knob's session key: (its settings class, its field, its name in the URL)."""
    return {prefix + item.name: (cls, item.name, section + item.name) for prefix, cls, section in SECTIONS
            for item in fields(cls) if item.name not in SET_BY_THE_FORM}


def url_names() -> list[str]:
    return [*CHOICES, *(param for _, _, param in knob_keys().values())]


def form_defaults(task: str, dataset: PreparedDataset, source: str, preset: str) -> dict[str, Any]:
    """Every knob's value (by session key) before any edit: the preset's hyperparameters, the task's default model,
    LoRA's defaults and the dataset's image preprocessing."""
    config = default_config(task, dataset.name, source, preset)
    image = ImagePreprocessConfig.from_dict(dataset.info.details.get("image_preprocess") or {})
    values = {TrainConfig: config, ModelSpec: config.model, LoraSpec: LoraSpec(), ImagePreprocessConfig: image}
    return {key: getattr(values[cls], name) for key, (cls, name, _) in knob_keys().items()}


def news() -> dict[str, str]:
    """The URL's choices that came from outside this session: a refreshed form's, or the dataset a link names."""
    return state.url_news(URL_STORE, url_names())


def apply_knobs(brought: dict[str, str]) -> None:
    """Set the knobs the URL names (a refresh of an edited form); a value that cannot be read is left out."""
    for key, (cls, name, param) in knob_keys().items():
        value = from_text(brought[param], knob_default(cls, name)) if param in brought else None
        if value is not None:
            st.session_state[key] = value
            st.session_state.pop(f"{key}__text", None)  # list fields keep a text twin, rebuilt from the value


def keep(choices: dict[str, str], defaults: dict[str, Any]) -> None:
    """Write the form's choices and edited knobs into the URL, for a refresh. `defaults` are the values (by
    session key) that the dataset, model source and preset give before any edit."""
    names = knob_keys()
    edited = {names[key][2]: as_text(st.session_state[key]) for key, default in defaults.items()
              if key in names and key in st.session_state and _differs(st.session_state[key], default)}
    state.write_url(URL_STORE, {**{k: v for k, v in choices.items() if v}, **edited}, url_names())


def _differs(value: Any, default: Any) -> bool:
    if isinstance(default, tuple):
        return tuple(value) != default
    return value != default


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    return str(value)


def from_text(text: str, default: Any) -> Any | None:
    """`as_text`'s output read back as the type of the field's default; None when it cannot be."""
    try:
        if isinstance(default, bool):
            return {"true": True, "false": False}[text]
        if isinstance(default, int | float):
            return type(default)(text)
        if isinstance(default, tuple):
            return parse_list(text, type(default[0]) if default else str)
    except (KeyError, ValueError):
        return None
    return text
