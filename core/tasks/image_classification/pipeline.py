"""Image classification: `image`/`label` rows → pixels transformed on the fly → a CNN/MLP or a fine-tuned model.

The prepared dataset's rows hold an image path relative to the dataset folder and a class name. They are loaded
(`core.tasks.image_classification.training_images`) as a `datasets.Dataset` with an `Image` feature, decoded once
into memory (`core.tasks.image_classification.decoded`; per batch when they would not fit) and turned into
normalised tensors when a batch is read (`set_transform`), so augmentation draws new variations every epoch.

From scratch, `config.image` decides the input size and colour; a pretrained model dictates its own size, mean and
standard deviation (from its image processor), and only the augmentation comes from `config.image`. Either way
the preprocessing actually used is written into the saved model's `config.json` (`image_preprocess`), so the
Playground prepares images exactly as training did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    PreTrainedModel,
    Trainer,
)

from core.config.catalog import architecture
from core.config.train_config import TrainConfig
from core.data.dataset_store import PreparedDataset
from core.engine.class_weights import balanced_weights
from core.engine.metrics import accuracy_and_f1, classification_evaluation, ranked_answers
from core.engine.run_folder import EVAL_FILE, MODEL_DIR, write_json_atomic
from core.engine.training import (
    DevicePlan,
    EvaluationMemory,
    TrainingError,
    TrainingPlan,
    count_parameters,
    final_predictions,
    save_trained_model,
)
from core.tasks.image_classification import models as vision_models
from core.tasks.image_classification import pretrained as pretrained_images
from core.tasks.image_classification.decoded import prepare_splits
from core.tasks.image_classification.files import ImageDataError
from core.tasks.image_classification.models import ImageClassifierConfig, VisionModelError
from core.tasks.image_classification.training_images import collate, image_paths, load_splits
from core.tasks.image_classification.transforms import ImagePreprocessConfig, images_to_batch
from core.workspace import Workspace

PREPROCESS_KEY = "image_preprocess"  # the model config attribute that remembers how images were prepared
# Models trained on ImageNet with no stated normalisation: transformers' own default ("IMAGENET_STANDARD").
STANDARD_MEAN = STANDARD_STD = (0.5, 0.5, 0.5)


# ---------------------------------------------------------------------------------------------------- models


def scratch_knobs(config: TrainConfig) -> dict[str, Any]:
    """The ModelSpec settings the chosen architecture reads (the catalog says which), as model config values."""
    spec = config.model
    return {name: getattr(spec, name) for name in architecture(config.task, spec.name).knobs}


def _edge(size: Any) -> int | None:
    """The square side a processor's `size` or `crop_size` asks for, whichever form it takes."""
    if size is None:
        return None
    if isinstance(size, (int, float)):
        return int(size)
    get = size.get if isinstance(size, dict) else (lambda key: getattr(size, key, None))
    for key in ("height", "shortest_edge", "width"):
        value = get(key)
        if value:
            return int(value)
    return None


def pretrained_preprocess(processor: Any, model_config: Any, requested: ImagePreprocessConfig
                          ) -> ImagePreprocessConfig:
    """The size, colour and normalisation a pretrained model was trained with; augmentation as requested.

    A model only recognises what it learned from when its input looks the same, so these override the knobs.
    """
    side = None
    if processor is not None:
        cropped = getattr(processor, "do_center_crop", False)
        side = _edge(getattr(processor, "crop_size", None)) if cropped else None
        side = side or _edge(getattr(processor, "size", None))
    side = side or getattr(model_config, "image_size", None) or 224
    if isinstance(side, (list, tuple)):
        side = side[0]
    channels = int(getattr(model_config, "num_channels", 3) or 3)
    mean, std = STANDARD_MEAN, STANDARD_STD
    if processor is not None:
        if getattr(processor, "do_normalize", True) is False:
            mean, std = (0.0,), (1.0,)
        else:
            mean = tuple(getattr(processor, "image_mean", None) or mean)
            std = tuple(getattr(processor, "image_std", None) or std)
    if channels == 1:
        mean, std = mean[:1], std[:1]
    return ImagePreprocessConfig(
        image_size=int(side), grayscale=channels == 1, normalize_mean=tuple(map(float, mean)),
        normalize_std=tuple(map(float, std)), horizontal_flip=requested.horizontal_flip,
        random_crop=requested.random_crop, rotation_degrees=requested.rotation_degrees)


def load_image_processor(name: str):
    """The model's image processor, or None when its folder has none (the model config then gives the size)."""
    try:
        return AutoImageProcessor.from_pretrained(name, trust_remote_code=False)
    except (OSError, ValueError, KeyError):
        return None


def load_pretrained(name: str, labels: list[str]) -> PreTrainedModel:
    id2label = dict(enumerate(labels))
    try:
        return AutoModelForImageClassification.from_pretrained(
            name, num_labels=len(labels), id2label=id2label, label2id={v: k for k, v in id2label.items()},
            ignore_mismatched_sizes=True, use_safetensors=True, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise TrainingError(f"The image model '{name}' could not be loaded. Check the Hugging Face id (and the "
                            "internet connection) or the folder path; it must be an image classification model "
                            "saved as safetensors.") from error


def build_model(config: TrainConfig, labels: list[str], workspace: Workspace | None = None,
                ) -> tuple[PreTrainedModel, Any, ImagePreprocessConfig]:
    """(model, image processor or None, the preprocessing the model's inputs need)."""
    if config.model.source == "scratch":
        try:
            model = vision_models.build_image_classifier(labels, config.image, config.model.name,
                                                         **scratch_knobs(config))
        except VisionModelError as error:
            raise TrainingError(str(error)) from error
        return model, None, config.image
    if pretrained_images.is_bundled(config.model.name):  # converted into the workspace's model cache on first use
        models_dir = (workspace or Workspace.default()).models
        model, preprocess = pretrained_images.bundled_transfer(config.model.name, models_dir, labels, config.image)
        return model, None, preprocess
    pretrained_images.check_reachable(config.model.name)  # in seconds, not after a minute of download retries
    name = _model_location(config.model.name)
    model = load_pretrained(name, labels)
    processor = load_image_processor(name)
    try:
        preprocess = pretrained_preprocess(processor, model.config, config.image)
    except ImageDataError as error:
        raise TrainingError(f"The image model '{config.model.name}' describes its inputs in a way this app cannot "
                            f"follow ({error}).") from error
    return model, processor, preprocess


def _model_location(name: str) -> str:
    path = Path(name).expanduser()
    return str(path) if path.is_dir() else name


# ---------------------------------------------------------------------------------------------------- the plan


def build_plan(config: TrainConfig, dataset: PreparedDataset, run_dir: Path, device: DevicePlan) -> TrainingPlan:
    labels = list(dataset.info.labels)
    splits = load_splits(dataset)
    model, processor, preprocess = build_model(config, labels, Workspace(run_dir.resolve().parent.parent))
    # Stored in the model's config.json: the Playground must prepare images exactly like this.
    setattr(model.config, PREPROCESS_KEY, preprocess.to_dict())
    train, validation = splits["train"], splits["validation"]
    validation_images = image_paths(validation)
    weights = balanced_weights(train["label"], len(labels)) if config.class_weights else None  # before the transform
    # Decoded once into memory when it fits (else per batch); the rows keep their order, so the paths above
    # stay paired with the predictions the evaluation makes.
    train, validation = prepare_splits(train, validation, preprocess, config.seed)
    memory = EvaluationMemory()

    def finish(trainer: Trainer, run_dir: Path) -> dict[str, Any]:
        logits, gold = final_predictions(trainer, memory)
        report = classification_evaluation(logits, gold, labels, [{"image": path} for path in validation_images])
        save_trained_model(trainer, run_dir / MODEL_DIR)  # safetensors + config (classes, preprocessing) + processor
        write_json_atomic(run_dir / EVAL_FILE, report)
        return report

    channels = "grey" if preprocess.grayscale else "colour"
    return TrainingPlan(
        model=model,
        train_dataset=train,
        eval_dataset=validation,
        data_collator=collate,
        processing_class=processor,
        metric=lambda logits, gold: accuracy_and_f1(gold, logits.argmax(-1)),
        summary={"parameters": count_parameters(model), "classes": labels,
                 "input": f"{preprocess.image_size}×{preprocess.image_size} {channels}"},
        finish=finish,
        class_weights=weights,
        memory=memory,
        # The transform turns image/label into pixel_values/labels: the Trainer must not drop the columns first.
        remove_unused_columns=False,
    )


def estimate_parameters(config: TrainConfig, dataset: PreparedDataset) -> int | None:
    labels = list(dataset.info.labels) or ["a", "b"]
    if config.model.source == "scratch":
        model_config = vision_models.image_classifier_config(labels, config.image, config.model.name,
                                                             **scratch_knobs(config))
        return vision_models.estimate_parameters(model_config)
    if pretrained_images.is_bundled(config.model.name):
        return pretrained_images.estimate_bundled_parameters(len(labels))
    folder = Path(config.model.name).expanduser()
    if not folder.is_dir():
        return None  # a hub id: sizing it would mean downloading it
    model_config = AutoConfig.from_pretrained(str(folder), num_labels=len(labels), trust_remote_code=False)
    with torch.device("meta"):
        return count_parameters(AutoModelForImageClassification.from_config(model_config))


# ---------------------------------------------------------------------------------------------------- predictor


class ImageClassifierPredictor:
    """A finished run's image classifier: PIL images in, class probabilities out."""

    def __init__(self, model_dir: Path):
        folder = str(model_dir)
        model_config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
        # Our own CNN/MLP registered with the sequence-classification Auto class; everything else is an image model.
        auto = (AutoModelForSequenceClassification if model_config.model_type == ImageClassifierConfig.model_type
                else AutoModelForImageClassification)
        self.model = auto.from_pretrained(folder, use_safetensors=True, trust_remote_code=False).eval()
        stored = getattr(self.model.config, PREPROCESS_KEY, None)
        if stored:
            self.preprocess = ImagePreprocessConfig.from_dict(stored)
        else:  # a model folder from elsewhere: follow its own processor
            self.preprocess = pretrained_preprocess(load_image_processor(folder), self.model.config,
                                                    ImagePreprocessConfig())
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

    @torch.inference_mode()
    def predict(self, images: list[Image.Image], batch_size: int = 64) -> list[dict[str, float]]:
        """For each image, every class → probability, most likely first."""
        results: list[dict[str, float]] = []
        for start in range(0, len(images), batch_size):
            pixels = images_to_batch(images[start:start + batch_size], self.preprocess)
            logits = self.model(pixel_values=pixels.to(self.model.dtype)).logits.float()
            probabilities = logits.softmax(-1).numpy()
            results += [ranked_answers(self.labels, row) for row in probabilities]
        return results


def load_predictor(model_dir: Path) -> ImageClassifierPredictor:
    return ImageClassifierPredictor(model_dir)
