"""Every entry of the catalog of models built from zero trains: litgpt's rule, one parametrized test over the catalog.

Each architecture of each task (`core.config.catalog.ARCHITECTURES`) gets its task's Quick preset made tiny, trains
a few steps through `python -m core.engine.worker`, exactly as the app launches it, and must leave a complete run
folder: finished state, falling loss, a saved model the Playground can load. A new catalog entry is covered the day
it is added; an entry nobody can train fails here first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from core.config.catalog import ARCHITECTURES, Architecture
from core.config.presets import default_config
from core.engine.run_folder import read_metrics
from core.engine.runs import create_run
from core.tasks import pipeline
from tests.support.paths import ROOT

# The smallest sizes of each knob an architecture reads: the test is about the plumbing, not the accuracy.
TINY_MODEL = {"vocab_size": 200, "embedding_dim": 16, "hidden_size": 16, "num_layers": 1, "num_heads": 2,
              "conv_channels": (4, 8), "dense_size": 16, "hidden_sizes": (16,)}


def text_dataset(workspace, sample_dataset):
    return sample_dataset.info.name


def image_dataset(workspace, sample_dataset):
    from core.tasks.image_classification.data import save_image_classification, split_images, write_digits_sample
    from core.tasks.image_classification.labelled import load_labelled_images
    from core.tasks.image_classification.preview import suggest_preprocess, summarize_images

    folder = write_digits_sample(workspace.root / "digits-upload", per_class=10, side=12, digits_wanted=(0, 1, 7))
    labelled = load_labelled_images(folder)
    train, validation = split_images(labelled, 0.25)
    preprocess = suggest_preprocess(summarize_images(labelled))
    return save_image_classification(workspace, "digits", labelled, train, validation, preprocess, "test").info.name


def table_dataset(task: str):
    def save(workspace, sample_dataset):
        from core.tasks.tabular.columns import suggest_preprocess_config
        from core.tasks.tabular.dataset import SAMPLE_TABLES, sample_table, save_table_dataset, split_table

        key = "diabetes" if task == "tabular-regression" else "wine"
        frame, target = sample_table(key), SAMPLE_TABLES[key].target
        settings = suggest_preprocess_config(frame, target)
        split = split_table(frame, target, settings.task, validation_share=0.25)
        return save_table_dataset(workspace, key, split, settings, source="test").info.name
    return save


def document_dataset(workspace, sample_dataset):
    from core.tasks.text_generation.data import check_document, split_document
    from core.tasks.text_generation.samples import lighthouse_log
    from core.tasks.text_generation.saving import save_document

    text = lighthouse_log()[:6_000]
    train, validation = split_document(text, 0.1)
    return save_document(workspace, "log", train, validation, "TXT", check_document(text)).info.name


DATASETS = {
    "text-classification": text_dataset,
    "image-classification": image_dataset,
    "tabular-classification": table_dataset("tabular-classification"),
    "tabular-regression": table_dataset("tabular-regression"),
    "text-generation": document_dataset,
}


def tiny_config(entry: Architecture, dataset: str):
    config = default_config(entry.task, dataset, source="scratch", preset="quick")
    model = replace(config.model, name=entry.key, **{k: v for k, v in TINY_MODEL.items() if k in entry.knobs})
    return replace(config, model=model, batch_size=8, max_steps=6, eval_every=3)


def test_every_task_of_the_catalog_has_a_dataset_here():
    assert {entry.task for entry in ARCHITECTURES} <= set(DATASETS)


@pytest.mark.slow
@pytest.mark.parametrize("entry", ARCHITECTURES, ids=lambda e: f"{e.task}:{e.key}")
def test_every_architecture_trains_through_the_worker(entry, workspace, sample_dataset):
    dataset = DATASETS[entry.task](workspace, sample_dataset)
    run = create_run(workspace, tiny_config(entry, dataset))
    result = subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]

    status = json.loads((run.folder / "status.json").read_text())
    assert status["state"] == "completed", status
    losses = [record["loss"] for record in read_metrics(run.folder) if "loss" in record]
    assert losses and all(loss == loss for loss in losses), "the training loss was never logged, or was NaN"
    model = run.folder / "model"
    assert (model / "config.json").is_file() and any(model.glob("*.safetensors"))
    assert (run.folder / "eval.json").is_file() and (run.folder / "train.log").is_file()
    assert pipeline(entry.task).load_predictor(model) is not None
