"""Train page form: dataset → model (pretrained or from scratch, with its knobs) → preset and hyperparameters.

The widgets' values live in `st.session_state` under `train_*` keys. Whenever the task, the model source or the
preset changes, the preset's values are written into those keys before the widgets are drawn, so what a person
sees is always what will be trained, and `build_config` reads the same keys into one `TrainConfig`. Every widget's
value is set in the session before it is drawn (never by an `index=` or `default=`), so that the values
`ui.train.memory` keeps across page changes and refreshes are the ones shown. `news` is what the URL brought from
outside this session (`memory.restore`): a dataset a link names, or a refreshed form's choices.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import streamlit as st

from core.config.catalog import (
    BUNDLED_PREFIX,
    TASKS,
    architecture,
    architectures_for,
    bundled_models_for,
    pretrained_tasks,
    scratch_tasks,
)
from core.config.knobs import knob_help
from core.config.presets import DEFAULT_PRESET, PRESET_DESCRIPTIONS, PRESET_NAMES
from core.config.train_config import LoraSpec, ModelSpec, TrainConfig
from core.data.dataset_store import DatasetInfo, PreparedDataset, list_datasets
from core.messages import PlainError, markdown_literal
from core.tasks import pipeline
from core.tasks.image_classification.pretrained import hub_model_problem
from core.tasks.image_classification.transforms import ImagePreprocessConfig
from core.workspace import Workspace
from ui.common import state
from ui.common.widgets import KEEP, knob_input
from ui.train import memory
from ui.train.memory import HP_PREFIX, IMAGE_PREFIX, LORA_PREFIX, MODEL_PREFIX

SOURCE_TITLES = {"pretrained": "Start from a pretrained model", "scratch": "Build one from scratch"}
CUSTOM_HUB = "A Hugging Face model id…"
CUSTOM_FOLDER = "A model folder on this machine…"
COMMON_KNOBS = ("epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "max_grad_norm", "seed")
ADVANCED_KNOBS = ("max_steps", "eval_every", "early_stopping_patience", "save_every", "device")
# Class weights on every classification task: the remedy for a model that answers the most common class (issue 18).
TASK_KNOBS = {"text-classification": ("max_length", "class_weights"), "image-classification": ("class_weights",),
              "tabular-classification": ("class_weights",), "text-generation": ("max_length", "sample_prompt")}
CUSTOM_IN_URL = {CUSTOM_HUB: "hub", CUSTOM_FOLDER: "folder"}  # how a pretrained model was given, as the URL says it


# ---------------------------------------------------------------------------------------------------- dataset


def choose_dataset(workspace: Workspace, news: dict[str, str]) -> PreparedDataset | None:
    saved = list_datasets(workspace)
    if not saved:
        st.info("There is no dataset yet. Prepare one on the Data page first (there is a built-in sample).")
        st.page_link("pages/data.py", label="Go to the Data page →", icon=":material/dataset:")
        return None
    names = [d.name for d in saved]
    wanted = news.get("dataset")
    if wanted in names:  # the dataset a link (the one just saved) or a refreshed page names, not the first one
        st.session_state["train_dataset"] = wanted
    elif wanted:
        st.warning("The dataset this page was opened with is not saved here (any more): choose one below.",
                   icon=":material/warning:")
    if st.session_state.get("train_dataset") not in names:
        st.session_state["train_dataset"] = names[0]
    chosen = st.selectbox("Dataset", names, key="train_dataset", persist_state=KEEP,
                          format_func=lambda n: f"{n} · {TASKS[_by_name(saved, n).info.task].title.lower()}")
    dataset = _by_name(saved, chosen)
    info = dataset.info
    classes = f", {len(info.labels)} classes" if info.labels else ""
    # Said in words, so nobody trains on another dataset than they think.
    st.caption(f"Training on **{markdown_literal(dataset.name)}**: {info.train_rows:,} training and "
               f"{info.validation_rows:,} validation rows{classes}. "
               f"Task: **{TASKS[info.task].title}** — {TASKS[info.task].description}")
    return dataset


def _by_name(saved: list[PreparedDataset], name: str) -> PreparedDataset:
    return next(d for d in saved if d.name == name)


# ---------------------------------------------------------------------------------------------------- state


def _reset_state(values: dict[str, Any]) -> None:
    for key, value in values.items():
        st.session_state[key] = value
        st.session_state.pop(f"{key}__text", None)  # list fields keep a text twin, rebuilt from the value


def ensure_defaults(task: str, dataset: PreparedDataset, source: str, preset: str, news: dict[str, str]) -> None:
    """Write the defaults for (task, source, preset) into the widgets' state when any of them changed; then the
    knobs `news` names (a refreshed page's edits)."""
    context = (task, dataset.name, source, preset)
    previous = st.session_state.get("train_context")
    if previous != context:
        defaults = memory.form_defaults(task, dataset, source, preset)
        _reset_state({key: value for key, value in defaults.items() if key.startswith(HP_PREFIX)})
        # A preset change keeps the chosen model; a new task or source starts from that task's default model.
        if previous is None or previous[:3] != context[:3]:
            _reset_state({key: value for key, value in defaults.items() if not key.startswith(HP_PREFIX)})
            st.session_state.pop(f"train_pretrained_choice_{task}", None)  # follows the model name again
        st.session_state["train_context"] = context
    memory.apply_knobs(news)
    custom = {how: choice for choice, how in CUSTOM_IN_URL.items()}.get(news.get("pretrained", ""))
    if custom:
        st.session_state[f"train_pretrained_choice_{task}"] = custom


def keep(task: str, dataset: PreparedDataset, source: str) -> None:
    """Write the form's choices into the URL, so that a refresh finds them (`ui.train.memory`)."""
    preset = current_preset({})
    choice = st.session_state.get(f"train_pretrained_choice_{task}")
    choices = {"dataset": dataset.name, "source": source, "preset": preset,
               "pretrained": CUSTOM_IN_URL.get(choice, "") if source == "pretrained" else ""}
    memory.keep(choices, memory.form_defaults(task, dataset, source, preset))


def _values(cls: type) -> dict[str, Any]:
    """The knobs of one settings class, as the widgets hold them."""
    return {name: st.session_state[key] for key, (owner, name, _) in memory.knob_keys().items()
            if owner is cls and key in st.session_state}


# ---------------------------------------------------------------------------------------------------- model


def choose_source(task: str, news: dict[str, str]) -> str:
    sources = [s for s in ("pretrained", "scratch")
               if (s == "pretrained" and task in pretrained_tasks()) or (s == "scratch" and task in scratch_tasks())]
    if len(sources) == 1:
        return sources[0]
    key = f"train_source_{task}"
    if news.get("source") in sources:
        st.session_state[key] = news["source"]
    if st.session_state.get(key) not in sources:
        # Without a bundled model, "pretrained" means a download: offline, from scratch is the choice that works.
        # Images start from scratch even so: on small grey pictures (the digits sample) the CNN is quicker and better.
        scratch_first = task == "image-classification" or not bundled_models_for(task)
        st.session_state[key] = "scratch" if scratch_first else "pretrained"
    return st.radio("Model", sources, format_func=SOURCE_TITLES.get, horizontal=True, key=key,
                    persist_state=KEEP)


def pretrained_picker(task: str) -> None:
    bundled = bundled_models_for(task)
    options = [BUNDLED_PREFIX + m.key for m in bundled] + [CUSTOM_HUB, CUSTOM_FOLDER]
    titles = {BUNDLED_PREFIX + m.key: m.title for m in bundled}
    key = f"train_pretrained_choice_{task}"
    if st.session_state.get(key) not in options:
        current = st.session_state.get(MODEL_PREFIX + "name", "")
        st.session_state[key] = current if current in options else options[0 if bundled else 1]
    choice = st.selectbox("Pretrained model", options, format_func=lambda o: titles.get(o, o), key=key,
                          persist_state=KEEP)
    entry = next((m for m in bundled if BUNDLED_PREFIX + m.key == choice), None)
    if entry:
        st.session_state[MODEL_PREFIX + "name"] = choice
        st.caption(entry.description)
    elif choice == CUSTOM_HUB:
        st.text_input("Model id on huggingface.co", key=MODEL_PREFIX + "name", persist_state=KEEP,
                      placeholder="e.g. distilbert-base-uncased",
                      help="Downloaded on first use, so this needs internet. Only safetensors weights are loaded.")
        problem = st.cache_data(ttl=300, show_spinner=False)(hub_model_problem)(st.session_state[MODEL_PREFIX + "name"])
        if problem:  # said now, not after a minute of download retries in the run
            st.warning(markdown_literal(problem), icon=":material/cloud_off:")  # it quotes the typed id
    else:
        st.text_input("Folder with config.json and model.safetensors", key=MODEL_PREFIX + "name",
                      persist_state=KEEP,
                      help="For example a model exported from the Runs page. Only safetensors weights are loaded.")
    if task == "text-generation":
        st.radio("How to fine-tune", ("lora", "full"), horizontal=True, key=MODEL_PREFIX + "finetune",
                 persist_state=KEEP,
                 format_func={"lora": "LoRA (small add-ons: fast, little memory)",
                              "full": "Full (every weight)"}.get)
        if st.session_state.get(MODEL_PREFIX + "finetune") == "lora":
            with st.expander("LoRA settings"):
                for name in ("rank", "alpha", "dropout", "target_modules"):
                    knob_input(LoraSpec, name, LORA_PREFIX + name)


def scratch_picker(task: str) -> None:
    options = [a.key for a in architectures_for(task)]
    titles = {a.key: a.title for a in architectures_for(task)}
    if st.session_state.get(MODEL_PREFIX + "name") not in options:
        st.session_state[MODEL_PREFIX + "name"] = options[0]
    name = st.selectbox("Architecture", options, format_func=titles.get, key=MODEL_PREFIX + "name",
                        persist_state=KEEP)
    spec = architecture(task, name)
    st.caption(spec.description)
    columns = st.columns(3)
    for i, knob_name in enumerate(spec.knobs):
        with columns[i % 3]:
            if knob_name == "tokenizer":
                st.selectbox("Tokenizer", _tokenizer_options(task), key=MODEL_PREFIX + "tokenizer", persist_state=KEEP,
                             format_func=_TOKENIZER_TITLES.get, help=knob_help(ModelSpec, "tokenizer"))
            else:
                knob_input(ModelSpec, knob_name, MODEL_PREFIX + knob_name)


_TOKENIZER_TITLES = {"train": "Learned from your text (word pieces)", "char": "Single characters",
                     BUNDLED_PREFIX + "minilm-l6": "Reuse MiniLM's word pieces (English, 30k)"}


def _tokenizer_options(task: str) -> list[str]:
    # A learned tokenizer fits the person's own words; reusing a pretrained one helps when their text is small.
    options = ["train", "char"] if task == "text-generation" else ["train", BUNDLED_PREFIX + "minilm-l6"]
    current = st.session_state.get(MODEL_PREFIX + "tokenizer")
    if current not in options:
        st.session_state[MODEL_PREFIX + "tokenizer"] = options[0]
    return options


# ---------------------------------------------------------------------------------------------------- knobs


def current_preset(news: dict[str, str]) -> str:
    """The preset the form uses: the one `news` names, else this session's, else the default."""
    if news.get("preset") in PRESET_NAMES:
        st.session_state["train_preset"] = news["preset"]
    if st.session_state.get("train_preset") not in PRESET_NAMES:
        st.session_state["train_preset"] = DEFAULT_PRESET
    return st.session_state["train_preset"]


def choose_preset() -> str:
    current_preset({})
    preset = st.segmented_control("Preset", PRESET_NAMES, key="train_preset", format_func=str.capitalize,
                                  persist_state=KEEP,
                                  required=True) or DEFAULT_PRESET
    st.caption(PRESET_DESCRIPTIONS[preset])
    return preset


def hyperparameter_knobs(task: str) -> None:
    names = COMMON_KNOBS + TASK_KNOBS.get(task, ())
    columns = st.columns(3)
    for i, name in enumerate(names):
        with columns[i % 3]:
            if name == "sample_prompt":
                continue
            knob_input(TrainConfig, name, HP_PREFIX + name)
    if "sample_prompt" in names:
        knob_input(TrainConfig, "sample_prompt", HP_PREFIX + "sample_prompt", label="Sample prompt")
    if task == "image-classification":
        with st.expander("Image size and augmentation"):
            image_columns = st.columns(2)
            for i, f in enumerate(fields(ImagePreprocessConfig)):
                with image_columns[i % 2]:
                    knob_input(ImagePreprocessConfig, f.name, IMAGE_PREFIX + f.name)
    with st.expander("More settings: evaluation, checkpoints, early stopping, device"):
        columns = st.columns(3)
        for i, name in enumerate(ADVANCED_KNOBS):
            with columns[i % 3]:
                if name == "device":
                    st.selectbox("Device", ("auto", "cpu", "cuda"), key=HP_PREFIX + "device", persist_state=KEEP,
                                 help=knob_help(TrainConfig, "device"))
                else:
                    knob_input(TrainConfig, name, HP_PREFIX + name)


# ---------------------------------------------------------------------------------------------------- config


def build_config(task: str, dataset: PreparedDataset, source: str) -> TrainConfig | str:
    """The config the widgets describe, or a plain message saying which setting is impossible."""
    try:
        model = ModelSpec(**{**_values(ModelSpec), "source": source})
        lora = LoraSpec(**_values(LoraSpec))
        image = ImagePreprocessConfig(**_values(ImagePreprocessConfig))
        config = TrainConfig(dataset=dataset.name, task=task, model=model, lora=lora, image=image,
                             **_values(TrainConfig))
    except PlainError as error:  # ConfigError, KnobError, ImageDataError: each says which setting to change
        return str(error)
    return state.vet_config(config)  # limits, paths confined to the workspace, safetensors-only folders


@st.cache_data(max_entries=64, show_spinner=False)
def _parameter_estimate(config_json: str, dataset_folder: str) -> int | None:
    config = TrainConfig.from_dict(json.loads(config_json))
    info = DatasetInfo.from_dict(json.loads((Path(dataset_folder) / "dataset.json").read_text()))
    try:
        return pipeline(config.task).estimate_parameters(config, PreparedDataset(Path(dataset_folder), info))
    except Exception:  # noqa: BLE001 - an estimate is a nicety: a model that can't be sized yet still trains
        return None


def model_size(config: TrainConfig, dataset: PreparedDataset) -> None:
    count = _parameter_estimate(config.to_json(), str(dataset.folder))
    if count:
        st.caption(f"Model size: **{count / 1e6:.2f} M parameters**" if count >= 1e5 else
                   f"Model size: **{count:,} parameters**")
    elif config.model.source == "pretrained" and not config.model.is_bundled:
        st.caption("The model's size is shown once it has been downloaded.")
