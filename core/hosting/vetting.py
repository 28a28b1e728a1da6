"""What a person may launch: their typed paths kept inside their workspace, only safetensors models, their limits.

The boundary: a `TrainConfig` (or a typed path or model name) and the person's workspace in; the config as it may be
launched, or an `AccessError` that says what to change. The limits themselves live in `core.hosting.limits`; who
the person is in `core.hosting.people`. On a local installation folders anywhere may be used, but pickled weights
are still refused.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from core.config.catalog import BUNDLED_PREFIX
from core.config.train_config import TrainConfig
from core.data.dataset_store import DatasetError, load_dataset_info
from core.hosting.limits import Limits, limit_problem, live_run_count
from core.hosting.people import AccessError
from core.hosting.settings import Settings
from core.workspace import PROJECT_ROOT, Workspace

# A model id on the Hugging Face hub: "name" or "owner/name", nothing that walks folders.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
UNSAFE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy", ".h5")


def confine(typed: str, workspace: Workspace) -> Path:
    """A path a person typed, resolved inside their workspace (relative to it), or an AccessError.

    Links are followed before the check, so a link inside the workspace cannot point out of it.
    """
    text = (typed or "").strip()
    if not text:
        raise AccessError("Type the path of a folder in your workspace.")
    candidate = Path(text).expanduser()
    resolved = (candidate if candidate.is_absolute() else workspace.root / candidate).resolve()
    if not resolved.is_relative_to(workspace.root.resolve()):
        raise AccessError(f"'{text}' is outside your workspace. Only folders inside it can be used here, for "
                          "example models/my-model.")
    return resolved


def model_folder_problem(folder: Path) -> str | None:
    """Only safetensors weights are ever loaded: a folder with pickled weights alone is refused, plainly."""
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        return f"The folder '{folder.name}' has no config.json, so it is not a saved model."
    files = [p for p in folder.rglob("*") if p.is_file()]
    if any(p.suffix == ".safetensors" for p in files):
        return None
    pickled = sorted(p.name for p in files if p.suffix.lower() in UNSAFE_WEIGHTS)
    if pickled:
        return (f"The folder '{folder.name}' holds its weights as {', '.join(pickled[:3])}: files that can run code "
                "when loaded, so they are never opened here. Save the model with safetensors "
                "(model.save_pretrained(folder, safe_serialization=True)) and use that folder.")
    return f"The folder '{folder.name}' has no .safetensors weights. Save the model with safetensors and try again."


def vet_model_name(name: str, workspace: Workspace, hosted: bool) -> str:
    """The model name to store in the config: bundled and hub ids as typed, folders checked (and, when hosted,
    confined to the person's workspace and written as an absolute path)."""
    if name.startswith(BUNDLED_PREFIX):
        return name
    typed = Path(name.strip()).expanduser()
    if hosted:
        in_workspace = workspace.root / typed
        # Anything that could be read as a folder (here or beside the code) is a path, and must stay inside.
        looks_local = typed.is_absolute() or in_workspace.exists() or in_workspace.is_symlink() \
            or (PROJECT_ROOT / typed).exists() or not HUB_ID.match(name.strip())
        if not looks_local:
            return name.strip()
        folder = confine(name, workspace)
    else:
        if not typed.is_dir():
            return name  # a hub id, or a folder that does not exist: the loader says so plainly
        folder = typed.resolve()
    if not folder.is_dir():
        raise AccessError(f"There is no folder '{name}' in your workspace.")
    problem = model_folder_problem(folder)
    if problem:
        raise AccessError(problem)
    return str(folder)


def vet_config(config: TrainConfig, workspace: Workspace, settings: Settings, limits: Limits) -> TrainConfig:
    """The config as it may be launched for this person, or an AccessError saying what to change."""
    problem = limit_problem(config, limits, live_run_count(workspace), _train_rows(workspace, config.dataset))
    if problem:
        raise AccessError(problem)
    if config.model.source != "pretrained":
        return config
    name = vet_model_name(config.model.name, workspace, settings.hosted)
    return config if name == config.model.name else replace(config, model=replace(config.model, name=name))


def _train_rows(workspace: Workspace, dataset: str) -> int | None:
    try:
        return load_dataset_info(workspace, dataset).info.train_rows
    except DatasetError:
        return None
