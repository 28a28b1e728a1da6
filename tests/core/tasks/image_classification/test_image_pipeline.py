"""The image task end to end without a browser: a prepared dataset of class folders → the worker → the run folder,
the evaluation with image paths, and a predictor that classifies new images the way training prepared them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.config.presets import default_config
from core.config.train_config import TrainConfig
from core.data.dataset_store import DatasetError
from core.engine.runs import create_run
from core.tasks import pipeline
from core.tasks.image_classification.data import (
    SAMPLE_NAME,
    save_image_classification,
    split_images,
    write_digits_sample,
)
from core.tasks.image_classification.files import ImageDataError
from core.tasks.image_classification.labelled import load_labelled_images
from core.tasks.image_classification.pipeline import PREPROCESS_KEY, load_predictor, pretrained_preprocess
from core.tasks.image_classification.preview import suggest_preprocess, summarize_images
from core.tasks.image_classification.transforms import ImagePreprocessConfig
from tests.support.apptest import app, texts
from tests.support.paths import ROOT
from ui.data.images import SOURCE_SAMPLE as SAMPLE_SOURCE
from ui.playground.images import SOURCE_VALIDATION as VALIDATION_SOURCE

DIGITS = ("0", "1", "7")


@pytest.fixture
def digits_dataset(workspace, tmp_path):
    """Three digits from scikit-learn's bundled set, 12 images each, saved as a prepared dataset."""
    folder = write_digits_sample(tmp_path / "digits", per_class=12, side=16, digits_wanted=tuple(map(int, DIGITS)))
    labelled = load_labelled_images(folder)
    preprocess = suggest_preprocess(summarize_images(labelled))
    train, validation = split_images(labelled, 0.25)
    return save_image_classification(workspace, SAMPLE_NAME, labelled, train, validation, preprocess, "sample")


def tiny_config(dataset_name: str, architecture: str = "cnn", **changes) -> TrainConfig:
    config = default_config("image-classification", dataset_name, "scratch", "quick")
    model = replace(config.model, name=architecture, conv_channels=(4, 8), dense_size=16, hidden_sizes=(16,))
    image = ImagePreprocessConfig(image_size=16, grayscale=True, rotation_degrees=10.0)
    return replace(config, **{"model": model, "image": image, "epochs": 3, "batch_size": 8, "learning_rate": 5e-3,
                              **changes})


def run_worker(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.engine.worker", str(run_dir)], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})


def files_in(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def test_the_saved_dataset_holds_its_images_and_suggested_settings(digits_dataset):
    info = digits_dataset.info
    assert info.task == "image-classification" and info.labels == list(DIGITS)
    assert (info.train_rows, info.validation_rows) == (27, 9)
    train, validation = digits_dataset.frames()
    assert validation["label"].value_counts().to_dict() == {"0": 3, "1": 3, "7": 3}  # stratified
    assert all(digits_dataset.file(path).is_file() for path in train["image"])
    assert ImagePreprocessConfig.from_dict(info.details["image_preprocess"]).grayscale


def test_a_worker_run_leaves_the_run_folder_contract(workspace, digits_dataset):
    run = create_run(workspace, tiny_config(digits_dataset.name))
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert files_in(run.folder) == {"config.json", "status.json", "metrics.jsonl", "train.log", "eval.json",
                                    "model/config.json", "model/model.safetensors"}
    status = json.loads((run.folder / "status.json").read_text())
    assert status["state"] == "completed" and status["summary"]["input"] == "16×16 grey"
    assert "accuracy" in status["headline"]

    report = json.loads((run.folder / "eval.json").read_text())
    assert report["labels"] == list(DIGITS)
    assert sum(map(sum, report["confusion_matrix"])) == report["validation_rows"] == 9
    for mistake in report["worst_mistakes"]:  # the Runs page shows these as thumbnails
        assert Path(mistake["image"]).is_file() and mistake["gold"] != mistake["predicted"]

    model_config = json.loads((run.folder / "model/config.json").read_text())
    assert model_config[PREPROCESS_KEY]["image_size"] == 16
    predictor = load_predictor(run.folder / "model")
    image = Image.open(digits_dataset.folder / digits_dataset.frames()[1]["image"].iloc[0])
    probabilities = predictor.predict([image, image.convert("RGB").resize((40, 30))])
    assert [set(p) for p in probabilities] == [set(DIGITS)] * 2
    assert abs(sum(probabilities[0].values()) - 1) < 1e-5
    assert list(probabilities[0].values()) == sorted(probabilities[0].values(), reverse=True)


def test_the_mlp_trains_in_process_and_estimates_its_size(workspace, digits_dataset, tmp_path):
    from core.engine.training import StopSignal, build_trainer, plan_device

    config = tiny_config(digits_dataset.name, "mlp", epochs=1)
    task = pipeline(config.task)
    assert task.estimate_parameters(config, digits_dataset) == 16 * 16 * 16 + 16 + 16 * 3 + 3
    job = task.build_plan(config, digits_dataset, tmp_path, plan_device("cpu"))
    trainer, _ = build_trainer(config, job, tmp_path, plan_device("cpu"), StopSignal())
    trainer.train()
    report = job.finish(trainer, tmp_path)
    assert report["validation_rows"] == 9 and (tmp_path / "model/model.safetensors").is_file()


def test_a_missing_image_is_explained_before_training(digits_dataset, tmp_path):
    from core.engine.training import plan_device

    first = digits_dataset.frames()[0]["image"].iloc[0]
    (digits_dataset.folder / first).unlink()
    config = tiny_config(digits_dataset.name)
    with pytest.raises(DatasetError, match="missing"):
        pipeline(config.task).build_plan(config, digits_dataset, tmp_path, plan_device("cpu"))


def test_a_class_with_one_image_cannot_be_split(tmp_path):
    folder = write_digits_sample(tmp_path / "digits", per_class=2, side=8)
    next((folder / "3").iterdir()).unlink()
    with pytest.raises(ImageDataError, match="'3' has a single image"):
        split_images(load_labelled_images(folder), 0.5)


class _Processor:
    do_center_crop, crop_size, size = True, {"height": 32, "width": 32}, {"shortest_edge": 40}
    do_normalize, image_mean, image_std = True, [0.4, 0.5, 0.6], [0.2, 0.3, 0.4]


class _ModelConfig:
    num_channels = 3


def test_a_pretrained_models_own_size_and_normalisation_win_but_augmentation_is_kept():
    requested = ImagePreprocessConfig(image_size=16, grayscale=True, horizontal_flip=True)
    used = pretrained_preprocess(_Processor(), _ModelConfig(), requested)
    assert (used.image_size, used.grayscale, used.horizontal_flip) == (32, False, True)
    assert used.normalize_mean == (0.4, 0.5, 0.6) and used.normalize_std == (0.2, 0.3, 0.4)


# ---------------------------------------------------------------------------------------------------- pages (AppTest)

IMAGES_SECTION = "Images in class folders"


def images_section() -> AppTest:
    at = app("data")
    at.button_group(key="data_kind").set_value(IMAGES_SECTION).run()
    assert not at.exception, at.exception
    return at


def png(colour: int, size=(12, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def pets_zip() -> bytes:
    """Two class folders, plus the kinds of file an upload must skip and name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(4):
            archive.writestr(f"pets/cats/c{i}.png", png(40 + i))
            archive.writestr(f"pets/dogs/d{i}.png", png(200 - i))
        archive.writestr("pets/dogs/notes.txt", "not a picture")
        noisy = io.BytesIO()
        Image.effect_noise((32, 32), 60).save(noisy, format="PNG")
        archive.writestr("pets/cats/cut.png", noisy.getvalue()[:300])  # the header survives, the pixels do not
        archive.writestr("../escape.png", png(1))
    return buffer.getvalue()


def test_data_section_saves_the_built_in_sample(workspace):
    at = images_section()
    at.radio(key="data_images_source").set_value(SAMPLE_SOURCE).run()
    assert not at.exception, at.exception
    assert "600 images in 10 classes." in texts(at.markdown)
    assert at.number_input(key="data_images_setting_image_size").value == 32  # suggested from the images
    assert at.checkbox(key="data_images_setting_grayscale").value
    at.number_input(key="data_images_setting_image_size").set_value(20).run()
    at.button(key="data_images_save").click().run()
    assert "Saved “digits-sample”: 480 training and 120 validation images." in texts(at.success)
    info = json.loads((workspace.datasets / SAMPLE_NAME / "dataset.json").read_text())
    assert info["labels"] == [str(d) for d in range(10)] and info["details"]["image_preprocess"]["image_size"] == 20


def test_data_section_lists_what_it_skipped_and_saves_the_rest(workspace):
    at = images_section()
    at.file_uploader(key="data_images_zip").set_value(("pets.zip", pets_zip(), "application/zip")).run()
    assert not at.exception, at.exception
    warning = texts(at.warning)
    assert "3 files were skipped" in warning and "8 images were kept" in warning
    skipped = at.dataframe[0].value
    assert dict(zip(skipped["file"], skipped["reason"])) == {
        "../escape.png": "outside the folder", "pets/dogs/notes.txt": "not an image",
        "pets/cats/cut.png": "damaged or truncated image"}
    assert "8 images in 2 classes." in texts(at.markdown)
    at.slider(key="data_images_share").set_value(0.25).run()
    at.button(key="data_images_save").click().run()
    assert "Saved “pets”: 6 training and 2 validation images." in texts(at.success)
    assert len(list((workspace.datasets / "pets" / "images").rglob("*.png"))) == 8


def test_data_section_explains_a_file_that_is_not_a_zip(workspace):
    at = images_section()
    at.file_uploader(key="data_images_zip").set_value(("photos.zip", b"not a zip at all", "application/zip")).run()
    assert not at.exception
    assert "not a readable zip archive" in texts(at.error)
    assert not [b for b in at.button if b.key == "data_images_save"]


def test_playground_classifies_an_uploaded_image(workspace, digits_dataset):
    run = create_run(workspace, tiny_config(digits_dataset.name, "mlp", epochs=2))
    assert run_worker(run.folder).returncode == 0
    at = app("playground")
    assert at.selectbox(key="play_run").value == run.id
    digit = (digits_dataset.folder / digits_dataset.frames()[1]["image"].iloc[0]).read_bytes()
    at.file_uploader(key=f"play_images_{run.id}").set_value([("digit.png", digit, "image/png"),
                                                              ("blank.png", png(0), "image/png"),
                                                              ("broken.png", b"garbage", "image/png")]).run()
    assert not at.exception, at.exception
    assert "broken.png: This file is not an image" in texts(at.error)
    assert any(m.value.startswith("**") and "% sure)" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 1  # the top classes' probabilities
    assert at.dataframe[0].value["image"].tolist() == ["digit.png", "blank.png"]
    at.radio(key=f"play_images_src_{run.id}").set_value(VALIDATION_SOURCE).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1


@pytest.fixture
def tiny_vit_folder(tmp_path) -> Path:
    """A 1-layer, 32-wide ViT for 16×16 colour images with its image processor: a local "pretrained" model."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = tmp_path / "tiny-vit"
    config = ViTConfig(image_size=16, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=64, num_labels=5)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.4, 0.4, 0.4],
                      image_std=[0.3, 0.3, 0.3]).save_pretrained(folder)
    return folder


def test_a_local_pretrained_image_model_is_fine_tuned_with_its_own_preprocessing(digits_dataset, tiny_vit_folder,
                                                                                   tmp_path):
    from core.engine.training import StopSignal, build_trainer, plan_device

    config = default_config("image-classification", digits_dataset.name, "pretrained", "quick")
    config = replace(config, model=replace(config.model, name=str(tiny_vit_folder)), batch_size=8,
                     image=ImagePreprocessConfig(image_size=28, grayscale=True, horizontal_flip=True))
    task = pipeline(config.task)
    assert task.estimate_parameters(config, digits_dataset) > 10_000
    run_dir = tmp_path / "run"
    job = task.build_plan(config, digits_dataset, run_dir, plan_device("cpu"))
    assert job.summary["input"] == "16×16 colour"  # the model's size and colour, not the knobs'
    trainer, _ = build_trainer(config, job, run_dir, plan_device("cpu"), StopSignal())
    trainer.train()
    job.finish(trainer, run_dir)
    predictor = load_predictor(run_dir / "model")
    assert predictor.labels == list(DIGITS) and predictor.preprocess.normalize_mean == (0.4, 0.4, 0.4)
    assert set(predictor.predict([Image.new("L", (30, 30), 255)])[0]) == set(DIGITS)


def test_data_section_reads_loose_images_with_a_separate_labels_csv(workspace):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(6):
            archive.writestr(f"photos/p{i}.png", png(30 * i))
    labels = "filename,label\n" + "".join(f"p{i}.png,{'dark' if i < 3 else 'light'}\n" for i in range(6))
    at = images_section()
    at.file_uploader(key="data_images_zip").set_value(("photos.zip", buffer.getvalue(), "application/zip")).run()
    assert "filename,label" in texts(at.error)  # one folder is one class, until the labels arrive
    at.file_uploader(key="data_images_labels").set_value(("labels.csv", labels.encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert "6 images in 2 classes." in texts(at.markdown)
    at.slider(key="data_images_share").set_value(0.35).run()
    at.button(key="data_images_save").click().run()
    assert "Saved “photos”: 4 training and 2 validation images." in texts(at.success)
