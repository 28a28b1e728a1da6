"""Train page form: dataset → model (pretrained or from scratch, with its knobs) → preset and hyperparameters.

The widgets' values live in `st.session_state` under `train_*` keys. Whenever the task, the model source or the
preset changes, the preset's values are written into those keys before the widgets are drawn, so what a person
sees is always what will be trained, and `build_config` reads the same keys into one `TrainConfig`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import streamlit as st

from core.config.catalog import (
    BUNDLED_PREFIX,
    TASKS,
    ConfigError,
    architecture,
    architectures_for,
    bundled_models_for,
    pretrained_tasks,
    scratch_tasks,
)
from core.config.train_config import (
    DEFAULT_PRESET,
    PRESET_DESCRIPTIONS,
    PRESET_NAMES,
    LoraSpec,
    ModelSpec,
    TrainConfig,
    default_config,
)
from core.data.dataset_store import DatasetInfo, PreparedDataset, list_datasets
from core.tasks import pipeline
from core.tasks.image_classification.files import ImageDataError
from core.tasks.image_classification.transforms import ImagePreprocessConfig
from core.workspace import Workspace
from ui.common import state
from ui.common.widgets import knob, parse_list

SOURCE_TITLES = {"pretrained": "Start from a pretrained model", "scratch": "Build one from scratch"}
CUSTOM_HUB = "A Hugging Face model id…"
CUSTOM_FOLDER = "A model folder on this machine…"
COMMON_KNOBS = ("epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "max_grad_norm", "seed")
ADVANCED_KNOBS = ("max_steps", "eval_every", "early_stopping_patience", "save_every", "device")
TASK_KNOBS = {"text-classification": ("max_length",), "text-generation": ("max_length", "sample_prompt")}
MODEL_PREFIX, HP_PREFIX, LORA_PREFIX, IMAGE_PREFIX = "train_model_", "train_hp_", "train_lora_", "train_image_"


# ---------------------------------------------------------------------------------------------------- dataset


def choose_dataset(workspace: Workspace) -> PreparedDataset | None:
    saved = list_datasets(workspace)
    if not saved:
        st.info("There is no dataset yet. Prepare one on the Data page first (there is a built-in sample).")
        st.page_link("pages/data.py", label="Go to the Data page →", icon=":material/dataset:")
        return None
    names = [d.name for d in saved]
    chosen = st.selectbox("Dataset", names, key="train_dataset",
                          format_func=lambda n: f"{n} · {TASKS[_by_name(saved, n).info.task].title.lower()}")
    dataset = _by_name(saved, chosen)
    info = dataset.info
    classes = f", {len(info.labels)} classes" if info.labels else ""
    st.caption(f"{info.train_rows:,} training and {info.validation_rows:,} validation rows{classes}. "
               f"Task: **{TASKS[info.task].title}** — {TASKS[info.task].description}")
    return dataset


def _by_name(saved: list[PreparedDataset], name: str) -> PreparedDataset:
    return next(d for d in saved if d.name == name)


# ---------------------------------------------------------------------------------------------------- state


def _reset_state(prefix: str, values: dict[str, Any]) -> None:
    for name, value in values.items():
        st.session_state[prefix + name] = value
        st.session_state.pop(f"{prefix}{name}__text", None)  # list fields keep a text twin


def ensure_defaults(task: str, dataset: PreparedDataset, source: str, preset: str) -> None:
    """Write the defaults for (task, source, preset) into the widgets' state when any of them changed."""
    context = (task, dataset.name, source, preset)
    if st.session_state.get("train_context") == context:
        return
    previous = st.session_state.get("train_context")
    config = default_config(task, dataset.name, source, preset)
    hyperparameters = {f.name: getattr(config, f.name) for f in fields(TrainConfig)
                       if f.name not in ("dataset", "task", "model", "lora", "image")}
    _reset_state(HP_PREFIX, hyperparameters)
    # A preset change keeps the chosen model; a new task or source starts from that task's default model.
    if previous is None or previous[:3] != context[:3]:
        _reset_state(MODEL_PREFIX, asdict(config.model))
        _reset_state(LORA_PREFIX, asdict(LoraSpec()))
        image = dataset.info.details.get("image_preprocess")
        _reset_state(IMAGE_PREFIX, asdict(ImagePreprocessConfig.from_dict(image or {})))
    st.session_state["train_context"] = context


def _values(prefix: str, cls: type) -> dict[str, Any]:
    values = {}
    for f in fields(cls):
        key = prefix + f.name
        if f"{key}__text" in st.session_state and key in st.session_state:
            kind = type(st.session_state[key][0]) if st.session_state[key] else int
            values[f.name] = parse_list(st.session_state[f"{key}__text"], kind)
        elif key in st.session_state:
            values[f.name] = st.session_state[key]
    return values


# ---------------------------------------------------------------------------------------------------- model


def choose_source(task: str) -> str:
    sources = [s for s in ("pretrained", "scratch")
               if (s == "pretrained" and task in pretrained_tasks()) or (s == "scratch" and task in scratch_tasks())]
    if len(sources) == 1:
        return sources[0]
    # Without a bundled model, "pretrained" means a download: offline, from scratch is the choice that works.
    first = 0 if bundled_models_for(task) else sources.index("scratch")
    return st.radio("Model", sources, index=first, format_func=SOURCE_TITLES.get, horizontal=True,
                    key=f"train_source_{task}")


def pretrained_picker(task: str) -> None:
    bundled = bundled_models_for(task)
    options = [BUNDLED_PREFIX + m.key for m in bundled] + [CUSTOM_HUB, CUSTOM_FOLDER]
    titles = {BUNDLED_PREFIX + m.key: m.title for m in bundled}
    current = st.session_state.get(MODEL_PREFIX + "name", "")
    index = options.index(current) if current in options else (0 if bundled else 1)
    choice = st.selectbox("Pretrained model", options, index=index, format_func=lambda o: titles.get(o, o),
                          key=f"train_pretrained_choice_{task}")
    entry = next((m for m in bundled if BUNDLED_PREFIX + m.key == choice), None)
    if entry:
        st.session_state[MODEL_PREFIX + "name"] = choice
        st.caption(entry.description)
    elif choice == CUSTOM_HUB:
        st.text_input("Model id on huggingface.co", key=MODEL_PREFIX + "name",
                      placeholder="e.g. distilbert-base-uncased",
                      help="Downloaded on first use, so this needs internet. Only safetensors weights are loaded.")
    else:
        st.text_input("Folder with config.json and model.safetensors", key=MODEL_PREFIX + "name",
                      help="For example a model exported from the Runs page. Only safetensors weights are loaded.")
    if task == "text-generation":
        st.radio("How to fine-tune", ("lora", "full"), horizontal=True, key=MODEL_PREFIX + "finetune",
                 format_func={"lora": "LoRA (small add-ons: fast, little memory)",
                              "full": "Full (every weight)"}.get)
        if st.session_state.get(MODEL_PREFIX + "finetune") == "lora":
            with st.expander("LoRA settings"):
                for name in ("rank", "alpha", "dropout", "target_modules"):
                    knob(LoraSpec, name, LORA_PREFIX + name)


def scratch_picker(task: str) -> None:
    options = [a.key for a in architectures_for(task)]
    titles = {a.key: a.title for a in architectures_for(task)}
    if st.session_state.get(MODEL_PREFIX + "name") not in options:
        st.session_state[MODEL_PREFIX + "name"] = options[0]
    name = st.selectbox("Architecture", options, format_func=titles.get, key=MODEL_PREFIX + "name")
    spec = architecture(task, name)
    st.caption(spec.description)
    columns = st.columns(3)
    for i, knob_name in enumerate(spec.knobs):
        with columns[i % 3]:
            if knob_name == "tokenizer":
                st.selectbox("Tokenizer", _tokenizer_options(task), key=MODEL_PREFIX + "tokenizer",
                             format_func=_TOKENIZER_TITLES.get,
                             help=next(f.metadata["help"] for f in fields(ModelSpec) if f.name == "tokenizer"))
            else:
                knob(ModelSpec, knob_name, MODEL_PREFIX + knob_name)


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


def choose_preset() -> str:
    preset = st.segmented_control("Preset", PRESET_NAMES, default=DEFAULT_PRESET, key="train_preset",
                                  format_func=str.capitalize, required=True) or DEFAULT_PRESET
    st.caption(PRESET_DESCRIPTIONS[preset])
    return preset


def hyperparameter_knobs(task: str) -> None:
    names = COMMON_KNOBS + TASK_KNOBS.get(task, ())
    columns = st.columns(3)
    for i, name in enumerate(names):
        with columns[i % 3]:
            if name == "sample_prompt":
                continue
            knob(TrainConfig, name, HP_PREFIX + name)
    if "sample_prompt" in names:
        knob(TrainConfig, "sample_prompt", HP_PREFIX + "sample_prompt", label="Sample prompt")
    if task == "image-classification":
        with st.expander("Image size and augmentation"):
            image_columns = st.columns(2)
            for i, f in enumerate(fields(ImagePreprocessConfig)):
                with image_columns[i % 2]:
                    knob(ImagePreprocessConfig, f.name, IMAGE_PREFIX + f.name)
    with st.expander("More settings: evaluation, checkpoints, early stopping, device"):
        columns = st.columns(3)
        for i, name in enumerate(ADVANCED_KNOBS):
            with columns[i % 3]:
                if name == "device":
                    st.selectbox("Device", ("auto", "cpu", "cuda"), key=HP_PREFIX + "device",
                                 help=next(f.metadata["help"] for f in fields(TrainConfig) if f.name == "device"))
                else:
                    knob(TrainConfig, name, HP_PREFIX + name)


# ---------------------------------------------------------------------------------------------------- config


def build_config(task: str, dataset: PreparedDataset, source: str) -> TrainConfig | str:
    """The config the widgets describe, or a plain message saying which setting is impossible."""
    try:
        model = ModelSpec(**{**_values(MODEL_PREFIX, ModelSpec), "source": source})
        lora = LoraSpec(**_values(LORA_PREFIX, LoraSpec))
        image = ImagePreprocessConfig(**_values(IMAGE_PREFIX, ImagePreprocessConfig))
        hyperparameters = {k: v for k, v in _values(HP_PREFIX, TrainConfig).items()
                           if k not in ("dataset", "task", "model", "lora", "image")}
        config = TrainConfig(dataset=dataset.name, task=task, model=model, lora=lora, image=image,
                             **hyperparameters)
    except (ConfigError, ImageDataError, ValueError, TypeError) as error:
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
