"""The Prompt lab's model picker: the bundled Gemma, fine-tuned language-model runs, or any folder / hub id.

Models are loaded once per server and shared by every session (`st.cache_resource`); nothing here changes a loaded
model. The bundled Gemma's one-time conversion runs outside the cache, under a status box that says what is
happening, so the message is shown once and never replayed on later cache hits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.config.catalog import BUNDLED_PREFIX, bundled_models_for
from core.engine.run_folder import MODEL_DIR
from core.engine.runs import runs_with_model
from core.lm.loading import LM_TASK, bundled_lm, bundled_lm_folder
from core.lm.predictor import TextGeneratorPredictor
from core.messages import markdown_literal
from core.tasks.text_classification.models import ModelError
from core.workspace import Workspace
from ui.common import state
from ui.common.widgets import KEEP
from ui.prompt_lab.memory import MODEL_CHOICE, MODEL_OTHER, apply_model_news

OTHER = "other"
RUN_PREFIX = "run:"
LOADED = "prompt_loaded_models"  # session state: the model names this session has asked to load
IN_URL = "prompt_model_in_url"  # session state: the loaded model's choice, as the URL names it


@dataclass(frozen=True)
class LoadedModel:
    """A model the lab has loaded: `predictor` writes (and lays out a fine-tuned instruction run's prompts); the
    classifying panels score with its model and tokenizer."""

    name: str
    title: str
    predictor: TextGeneratorPredictor

    @property
    def model(self):
        return self.predictor.model

    @property
    def tokenizer(self):
        return self.predictor.tokenizer


def choices(workspace: Workspace) -> dict[str, str]:
    """Option value → what the picker shows: bundled models, finished language-model runs, then "other"."""
    options = {f"{BUNDLED_PREFIX}{entry.key}": entry.title for entry in bundled_models_for(LM_TASK)}
    for run in runs_with_model(workspace):
        if run.config.task == "text-generation":
            options[f"{RUN_PREFIX}{run.id}"] = f"Fine-tuned run {run.id}"
    options[OTHER] = "Another model: a folder or a Hugging Face id"
    return options


def pick(workspace: Workspace, brought: dict[str, str]) -> LoadedModel | None:
    """The picker and its Load button; the loaded model once this session has loaded it. A model the URL names (a
    refreshed page that had loaded it) is loaded again without asking."""
    options = choices(workspace)
    again = apply_model_news(brought, list(options))
    left, right = st.columns([3, 2])
    chosen = left.selectbox("Language model", list(options), format_func=options.get, key=MODEL_CHOICE,
                            persist_state=KEEP,
                            help="The model that reads your prompts. The bundled Gemma works offline; runs you "
                                 "fine-tuned on the Train page appear here too.")
    name = chosen
    if chosen == OTHER:
        name = right.text_input("Folder or Hugging Face id", key=MODEL_OTHER, persist_state=KEEP,
                                placeholder="/path/to/model or google/gemma-3-270m").strip()
        if not name:
            st.caption("Type where the model is, then load it.")
            return None
        name, refused = state.vetted_model_name(name)
        if refused:  # only safetensors; on a hosted app, only folders inside this person's workspace
            st.error(markdown_literal(refused), icon=":material/block:")
            return None
    elif chosen.startswith(RUN_PREFIX):
        name = str(workspace.runs / chosen.removeprefix(RUN_PREFIX) / MODEL_DIR)
    title = options[chosen] if chosen != OTHER else name
    loaded = st.session_state.setdefault(LOADED, [])
    if again is not None and name not in loaded:
        loaded.append(name)
    if name not in loaded:
        if chosen.startswith(BUNDLED_PREFIX):
            right.caption(bundled_lm(chosen.removeprefix(BUNDLED_PREFIX)).description)
        if not st.button(f"Load {markdown_literal(title)}", key="prompt_load", type="primary",
                         icon=":material/download:"):
            return None
        loaded.append(name)
    try:
        model = _load(workspace, name, title)
    except ModelError as error:
        loaded.remove(name)
        st.error(markdown_literal(error), icon=":material/error:")
        return None
    typed = {"model_path": st.session_state.get(MODEL_OTHER, "")} if chosen == OTHER else {}
    st.session_state[IN_URL] = {"model": chosen, **typed}
    return model


def in_url() -> dict[str, str]:
    """The model to name in the URL: the one this session has loaded and still shows (a refresh loads it again)."""
    named = st.session_state.get(IN_URL, {})
    return named if named.get("model") == st.session_state.get(MODEL_CHOICE) else {}


def _load(workspace: Workspace, name: str, title: str) -> LoadedModel:
    if name.startswith(BUNDLED_PREFIX):
        _convert_once(workspace, name.removeprefix(BUNDLED_PREFIX), title)
    return _cached(name, str(workspace.models), _weights_stamp(name), title)


def _convert_once(workspace: Workspace, key: str, title: str) -> None:
    if (workspace.models / key / "config.json").is_file():
        return
    with st.status(f"Preparing {title} for its first use: converting it once (about a minute)…",
                   expanded=True) as status:
        bundled_lm_folder(key, workspace.models, progress=status.write)
        status.update(label=f"{title} is converted and saved in your workspace; next time it loads in seconds.",
                      state="complete", expanded=False)


def _weights_stamp(name: str) -> float:
    """Changes when a folder's weights change (a run resumed and saved again), so the cache loads them afresh."""
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return 0.0
    return max((path.stat().st_mtime for path in folder.glob("*.safetensors")), default=0.0)


@st.cache_resource(max_entries=2, show_spinner="Loading the language model…")
def _cached(name: str, models_dir: str, weights_stamp: float, title: str) -> LoadedModel:
    # device=None: the GPU when there is one, since the lab scores hundreds of prompts at a time.
    return LoadedModel(name, title, TextGeneratorPredictor(name, Path(models_dir), device=None))
