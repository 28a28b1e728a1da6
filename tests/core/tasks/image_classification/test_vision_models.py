"""From-scratch image classifiers: shapes, loss, safetensors round trip, Trainer compatibility, and real learning."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

from core.engine.training import count_parameters
from core.tasks.image_classification.labelled import load_labelled_images
from core.tasks.image_classification.models import (
    IMAGE_ARCHITECTURES,
    ImageClassifier,
    ImageClassifierConfig,
    VisionModelError,
    build_image_classifier,
    estimate_parameters,
)
from core.tasks.image_classification.safe_zip import safe_extract_zip
from core.tasks.image_classification.training_images import image_dataset
from core.tasks.image_classification.transforms import ImagePreprocessConfig, image_to_tensor, make_batch_transform
from tests.support.paths import SHARED_DATASETS

MNIST_ZIP = SHARED_DATASETS / "mnist_png_500.zip"
CLASSES = ["cat", "dog", "bird"]


@pytest.mark.parametrize("architecture", IMAGE_ARCHITECTURES)
@pytest.mark.parametrize("grayscale", [True, False])
def test_forward_shapes_and_loss(architecture, grayscale):
    preprocess = ImagePreprocessConfig(image_size=20, grayscale=grayscale, normalize_mean=(0.5,),
                                       normalize_std=(0.5,))
    model = build_image_classifier(CLASSES, preprocess, architecture)
    pixels = torch.randn(5, preprocess.channels, 20, 20)
    output = model(pixels)
    assert output.logits.shape == (5, 3) and output.loss is None
    with_loss = model(pixels, labels=torch.tensor([0, 1, 2, 0, 1]))
    assert with_loss.loss.dim() == 0 and with_loss.loss.requires_grad
    assert 0.5 < with_loss.loss.item() < 3.0  # near log(3) at the start, not inflated by the initialisation


def test_greyscale_batches_without_a_channel_axis_are_accepted():
    model = build_image_classifier(CLASSES, ImagePreprocessConfig(image_size=16))
    assert model(torch.randn(2, 16, 16)).logits.shape == (2, 3)


def test_cnn_knobs_change_the_network():
    small = build_image_classifier(CLASSES, ImagePreprocessConfig(), conv_channels=(8, 16), kernel_size=5,
                                   dense_size=32, dropout=0.0)
    default = build_image_classifier(CLASSES, ImagePreprocessConfig())
    assert count_parameters(small) < count_parameters(default)
    assert small.config.conv_channels == [8, 16] and small.config.kernel_size == 5
    mlp = build_image_classifier(list("0123456789"), ImagePreprocessConfig(), "mlp", hidden_sizes=(128,))
    assert count_parameters(mlp) == 784 * 128 + 128 + 128 * 10 + 10  # the classic 784 → 128 → 10


def test_tiny_images_still_build():
    model = build_image_classifier(CLASSES, ImagePreprocessConfig(image_size=8), conv_channels=(4, 4, 4, 4, 4))
    assert model(torch.randn(1, 1, 8, 8)).logits.shape == (1, 3)


def test_estimate_matches_the_real_count():
    model = build_image_classifier(CLASSES, ImagePreprocessConfig(image_size=32, grayscale=False,
                                                                  normalize_mean=(0.5,), normalize_std=(0.5,)))
    assert estimate_parameters(model.config) == count_parameters(model)


@pytest.mark.parametrize(("settings", "message"), [
    ({"architecture": "resnet"}, "architecture must be one of"),
    ({"kernel_size": 4}, "odd number"),
    ({"dropout": 1.0}, "below 1"),
])
def test_bad_settings_say_what_to_change(settings, message):
    with pytest.raises(VisionModelError, match=message):
        ImageClassifier(ImageClassifierConfig(num_labels=2, **settings))


def test_wrong_image_shape_is_explained():
    model = build_image_classifier(CLASSES, ImagePreprocessConfig(image_size=28))
    with pytest.raises(VisionModelError, match="same image size"):
        model(torch.randn(1, 3, 28, 28))


@pytest.mark.parametrize("architecture", IMAGE_ARCHITECTURES)
def test_save_and_load_round_trip_through_safetensors(tmp_path, architecture):
    model = build_image_classifier(CLASSES, ImagePreprocessConfig(image_size=16), architecture).eval()
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, ImageClassifier)
    assert loaded.config.id2label == {0: "cat", 1: "dog", 2: "bird"}
    pixels = torch.randn(3, 1, 16, 16)
    assert torch.equal(model(pixels).logits, loaded(pixels).logits)


@pytest.mark.skipif(not MNIST_ZIP.is_file(), reason="shared datasets not present")
def test_trainer_runs_on_the_image_dataset(tmp_path, one_thread):
    report = safe_extract_zip(MNIST_ZIP, tmp_path / "data")
    labelled = load_labelled_images(report.root)
    class_names = labelled.class_names
    dataset = image_dataset([str(path) for path in labelled.files], labelled.labels, class_names)
    preprocess = ImagePreprocessConfig()
    args = TrainingArguments(tmp_path / "run", max_steps=3, per_device_train_batch_size=8, report_to=[],
                             use_cpu=True, save_strategy="no", disable_tqdm=True, remove_unused_columns=False)
    trainer = Trainer(model=build_image_classifier(class_names, preprocess), args=args,
                      train_dataset=dataset.with_transform(make_batch_transform(preprocess, training=True, seed=0)),
                      eval_dataset=dataset.select(range(16)).with_transform(make_batch_transform(preprocess, False)))
    trainer.train()
    assert "eval_loss" in trainer.evaluate()


@pytest.mark.skipif(not MNIST_ZIP.is_file(), reason="shared datasets not present")
def test_the_classic_cnn_learns_digits(tmp_path, one_thread):
    """A few epochs on 400 MNIST digits should classify 100 unseen ones far better than chance (10%)."""
    labelled = load_labelled_images(safe_extract_zip(MNIST_ZIP, tmp_path / "data").root)
    preprocess = ImagePreprocessConfig()
    pixels = torch.stack([image_to_tensor(Image.open(path), preprocess) for path in labelled.files])
    labels = torch.tensor(labelled.labels)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    train, held_out = order[:400], order[400:]
    torch.manual_seed(0)
    model = build_image_classifier(labelled.class_names, preprocess)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(6):
        model.train()
        for start in range(0, len(train), 32):
            batch = train[start:start + 32]
            loss = model(pixels[batch], labels=labels[batch]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(pixels[held_out]).logits.argmax(-1) == labels[held_out]).float().mean().item()
    assert accuracy >= 0.8
