"""The bundled pretrained image model: EfficientNet-Lite0's ImageNet weights converted once from their package,
naming what is in real photos, trained with a new head by a real worker run, read back by the Playground's
predictor; and a typed hub id that cannot load offline refused in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from sklearn.datasets import load_sample_images
from transformers import AutoModelForImageClassification

from core.config.catalog import BUNDLED_PREFIX, bundled_models_for
from core.config.presets import default_config
from core.engine.runs import create_run
from core.engine.training import plan_device
from core.tasks import pipeline
from core.tasks.image_classification import pretrained
from core.tasks.image_classification.data import save_image_classification, split_images, write_digits_sample
from core.tasks.image_classification.labelled import load_labelled_images
from core.tasks.image_classification.models import VisionModelError
from core.tasks.image_classification.transforms import ImagePreprocessConfig, images_to_batch
from tests.support.paths import ROOT

KEY = "efficientnet-lite0"
# The ImageNet classes these photos can sensibly be: indices into ImageNet's standard order of 1000 classes.
BUILDINGS = {442: "bell cote", 449: "boathouse", 483: "castle", 497: "church", 538: "dome", 663: "monastery",
             668: "mosque", 698: "palace", 832: "stupa"}
DAISY = 985


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    return pretrained.bundled_folder(KEY, tmp_path_factory.mktemp("models"))


def top5(probabilities: torch.Tensor) -> list[int]:
    return probabilities.topk(5).indices.tolist()


def test_the_converted_model_names_what_is_in_two_real_photos(converted):
    assert {p.name for p in converted.iterdir()} == {"config.json", "model.safetensors"}
    model = AutoModelForImageClassification.from_pretrained(str(converted), use_safetensors=True).eval()
    assert sum(p.numel() for p in model.parameters()) == 4_652_008  # + 42,016 batch-norm statistics = 4.69 M
    photos = [Image.fromarray(array) for array in load_sample_images().images]  # a Chinese temple, a flower
    with torch.inference_mode():
        temple, flower = model(images_to_batch(photos, pretrained.IMAGENET_PREPROCESS)).logits.softmax(-1)
    # Measured: temple → bell cote, boathouse, lakeside, palace, castle; flower → daisy, bee, pot, stinkhorn.
    assert top5(temple)[0] in BUILDINGS and len(set(top5(temple)) & set(BUILDINGS)) >= 3
    assert top5(flower)[0] == DAISY


def test_the_conversion_happens_once(converted, monkeypatch):
    def refuse(_entry):
        raise AssertionError("the package's weights were read again")

    monkeypatch.setattr(pretrained, "package_state_dict", refuse)
    assert pretrained.bundled_folder(KEY, converted.parent) == converted


def test_a_half_written_cache_is_never_trusted(tmp_path):
    (tmp_path / KEY).mkdir()
    (tmp_path / KEY / "config.json").write_text("{}")  # a crash before the weights were written
    folder = pretrained.bundled_folder(KEY, tmp_path)
    assert (folder / "model.safetensors").is_file() and not list(tmp_path.glob(f".{KEY}.*"))


def test_the_bundled_image_model_is_the_default_pretrained_one():
    assert [m.key for m in bundled_models_for("image-classification")] == [KEY]
    config = default_config("image-classification", "photos", source="pretrained")
    assert config.model.name == BUNDLED_PREFIX + KEY


def test_the_train_page_prefills_the_bundled_image_model(workspace, image_dataset):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py")
    at.run()
    at.radio(key="train_source_image-classification").set_value("pretrained").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_pretrained_choice_image-classification").value == BUNDLED_PREFIX + KEY
    assert any("Model size: **3.37 M parameters**" in str(c.value) for c in at.caption)

    at.selectbox(key="train_pretrained_choice_image-classification").set_value("A Hugging Face model id…").run()
    at.text_input(key="train_model_name").set_value("google/vit-base-patch16-224").run()
    assert "not in this machine's model cache" in " ".join(str(w.value) for w in at.warning)  # before starting


@pytest.fixture
def image_dataset(workspace, tmp_path):
    """Three digits from scikit-learn's set, 6 images each, as a prepared dataset."""
    folder = write_digits_sample(tmp_path / "digits", per_class=6, side=16, digits_wanted=(0, 1, 7))
    labelled = load_labelled_images(folder)
    train, validation = split_images(labelled, 0.34)
    return save_image_classification(workspace, "digits", labelled, train, validation, ImagePreprocessConfig(),
                                     "sample")


def test_a_worker_run_trains_a_new_head_and_the_playground_reads_it(workspace, image_dataset, converted):
    config = default_config("image-classification", image_dataset.name, source="pretrained", preset="quick")
    run = create_run(workspace, replace(config, max_steps=2, batch_size=4))
    result = subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    status = json.loads((run.folder / "status.json").read_text())
    assert status["state"] == "completed" and status["summary"]["input"] == "224×224 colour"
    assert (workspace.models / KEY / "model.safetensors").is_file()  # converted into the workspace's cache

    model_dir = run.folder / "model"
    assert {p.name for p in model_dir.iterdir()} == {"config.json", "model.safetensors"}
    saved, imagenet = load_file(str(model_dir / "model.safetensors")), load_file(str(converted / "model.safetensors"))
    assert saved["classifier.weight"].shape == (3, 1280)  # a new head, one output per digit
    for name in ("backbone.conv_stem.weight", "backbone.blocks.15.project_conv.weight", "backbone.bn1.running_mean"):
        assert torch.equal(saved[name], imagenet[name])  # the frozen backbone, batch-norm statistics included

    predictor = pipeline("image-classification").load_predictor(model_dir)
    image = Image.open(image_dataset.file(image_dataset.frames()[1]["image"].iloc[0]))
    probabilities = predictor.predict([image, image.convert("RGB").resize((40, 30))])
    assert [set(p) for p in probabilities] == [{"0", "1", "7"}] * 2
    assert abs(sum(probabilities[0].values()) - 1) < 1e-5


def test_an_unknown_bundled_name_is_explained(image_dataset, tmp_path):
    config = default_config("image-classification", image_dataset.name, source="pretrained")
    config = replace(config, model=replace(config.model, name=BUNDLED_PREFIX + "minilm-l6"))
    with pytest.raises(VisionModelError, match="no bundled image model called 'minilm-l6'"):
        pipeline(config.task).build_plan(config, image_dataset, tmp_path / "runs" / "x", plan_device("cpu"))


def test_a_hub_id_that_cannot_load_offline_is_refused_in_seconds(image_dataset, tmp_path, monkeypatch):
    started = time.monotonic()
    problem = pretrained.hub_model_problem("google/vit-base-patch16-224")
    assert "not in this machine's model cache" in problem and "bundled model" in problem
    assert "neither a folder on this machine nor a Hugging Face model id" in pretrained.hub_model_problem("a//b c")
    assert pretrained.hub_model_problem(BUNDLED_PREFIX + KEY) is None
    assert pretrained.hub_model_problem(str(tmp_path)) is None  # a folder is checked elsewhere, not here

    config = default_config("image-classification", image_dataset.name, source="pretrained")
    config = replace(config, model=replace(config.model, name="google/vit-base-patch16-224"))
    with pytest.raises(VisionModelError, match="not in this machine's model cache"):
        pipeline(config.task).build_plan(config, image_dataset, tmp_path / "runs" / "x", plan_device("cpu"))
    assert time.monotonic() - started < 10


def test_without_the_offline_switch_an_unreachable_hub_is_said_plainly(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.get_hf_file_metadata", _no_network)
    problem = pretrained.hub_model_problem("google/vit-base-patch16-224")
    assert "huggingface.co could not be reached" in problem


def _no_network(*_args, **_kwargs):
    raise OSError("Name or service not known")
