"""The baseline ladder on real data: chance, the most common answer and a classical model on the very validation rows
the model is measured on, and the sentence that tells a person what their model's score is worth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest

from core.config.presets import default_config
from core.engine.baselines import (
    LADDER_KEY,
    Rung,
    chance_rung,
    ladder,
    majority_rung,
    model_rung,
    rungs_of,
    verdict,
)
from core.engine.ladder_data import ladder_for_run
from core.engine.runs import create_run
from core.tasks.text_classification.data import save_text_classification
from tests.conftest import shared_dataset
from tests.support.paths import ROOT


def by_kind(stored: dict) -> dict[str, Rung]:
    return {rung.kind: rung for rung in rungs_of(stored)}


# ---------------------------------------------------------------------------------------------------- words


def spam_ladder(model_score: float) -> dict:
    rungs = [chance_rung(["ham", "spam"]), majority_rung(["ham"] * 876 + ["spam"] * 124, ["ham"] * 876 +
                                                         ["spam"] * 124),
             Rung("Word counts + logistic regression", "…", 0.95, 4.6, "classical"),
             model_rung(model_score, 120.0, "accuracy")]
    return ladder("accuracy", rungs, 1000, 1000)


def test_a_model_that_always_says_ham_is_called_out():
    stored = spam_ladder(0.876)
    assert by_kind(stored)["majority"].score == pytest.approx(0.876)
    assert verdict(stored) == "Your model does no better than always answering “ham” (87.6 %)."


def test_a_better_model_is_said_to_beat_the_baseline_by_points():
    assert verdict(spam_ladder(0.99)) == ("Your model (99 %) beats a 5-second baseline (word counts + logistic "
                                          "regression, 95 %) by 4 points.")
    assert verdict(spam_ladder(0.90)) == ("A 5-second baseline (word counts + logistic regression, 95 %) beats your "
                                          "model (90 %) by 5 points.")
    assert "is level with" in verdict(spam_ladder(0.955))


def test_ten_classes_at_25_percent_is_placed_above_guessing():
    classes = [str(i) for i in range(10)]
    stored = ladder("accuracy", [chance_rung(classes), majority_rung(classes * 24, classes * 6),
                                 model_rung(0.25, 30.0, "accuracy")], 240, 60)
    assert by_kind(stored)["chance"].score == pytest.approx(0.10)
    assert "10 %" in by_kind(stored)["chance"].description
    assert verdict(stored) == "Your model (25 %) does better than guessing at random."


# ---------------------------------------------------------------------------------------------------- real data


@pytest.fixture
def sst2(workspace):
    """SST-2 as the Data page would store it: its 3,000 training sentences, its 872 dev sentences to validate on."""
    def read(name: str) -> pd.DataFrame:
        frame = pd.read_csv(shared_dataset(f"sst2/{name}"), sep="\t")
        return pd.DataFrame({"text": frame["sentence"].astype(str),
                             "label": frame["label"].map({0: "negative", 1: "positive"})})

    return save_text_classification(workspace, "sst2", read("train_3k.tsv"), read("dev.tsv"), "test", [])


def test_sst2_ladder_places_tfidf_between_guessing_and_a_good_model(sst2):
    stored = ladder_for_run("text-classification", sst2, {"accuracy": 0.86}, 300.0)
    rungs = by_kind(stored)
    assert stored["metric"] == "accuracy" and stored["train_rows"] == 3000 and stored["validation_rows"] == 872
    assert rungs["chance"].score == 0.5
    assert rungs["majority"].score == pytest.approx(444 / 872)  # dev: 444 positive, 428 negative
    assert 0.74 <= rungs["classical"].score <= 0.80  # measured 0.766
    assert rungs["classical"].seconds < 30
    assert [r["kind"] for r in stored["rungs"]] == ["chance", "majority", "classical", "model"]
    assert verdict(stored).startswith("Your model (86 %) beats a")
    assert "by 9 points" in verdict(stored) or "by 10 points" in verdict(stored)


def test_titanic_gradient_boosting_on_the_same_prepared_columns(workspace):
    from core.tasks.tabular.columns import suggest_preprocess_config
    from core.tasks.tabular.dataset import save_table_dataset, split_table

    frame = pd.read_csv(shared_dataset("titanic.csv")).drop(columns=["PassengerId", "Name", "Ticket", "Cabin"])
    settings = suggest_preprocess_config(frame, "Survived")
    split = split_table(frame, "Survived", settings.task, validation_share=0.2)
    dataset = save_table_dataset(workspace, "titanic", split, settings, source="test")
    stored = ladder_for_run("tabular-classification", dataset, {"accuracy": 0.82}, 20.0)
    rungs = by_kind(stored)
    assert stored["validation_rows"] == len(split.validation)
    assert 0.58 <= rungs["majority"].score <= 0.66  # 38 % survived
    assert rungs["classical"].name == "Gradient boosting" and 0.75 <= rungs["classical"].score <= 0.90
    assert rungs["majority"].score < rungs["classical"].score


def test_regression_ladder_has_the_average_a_line_and_boosting_in_r2(workspace):
    from core.tasks.tabular.columns import suggest_preprocess_config
    from core.tasks.tabular.dataset import sample_table, save_table_dataset, split_table

    frame = sample_table("diabetes")
    settings = suggest_preprocess_config(frame, "progression")
    dataset = save_table_dataset(workspace, "diabetes", split_table(frame, "progression", settings.task, 0.25),
                                 settings, source="test")
    stored = ladder_for_run("tabular-regression", dataset, {"r2": 0.45, "mae": 44.0}, 30.0)
    assert stored["metric"] == "r2"
    names = [r.name for r in rungs_of(stored)]
    assert set(names) == {"Always the average", "Straight-line fit", "Gradient boosting", "Your model"}
    rungs = {r.name: r for r in rungs_of(stored)}
    assert abs(rungs["Always the average"].score) < 0.05
    assert "average (1" in rungs["Always the average"].description  # about 152, in the target's own units
    assert 0.3 <= rungs["Straight-line fit"].score <= 0.65
    assert "R²" in verdict(stored)


def test_tiny_image_set_gets_a_pixel_baseline(workspace, tmp_path):
    from core.tasks.image_classification.data import save_image_classification, split_images
    from core.tasks.image_classification.labelled import load_labelled_images
    from core.tasks.image_classification.preview import suggest_preprocess, summarize_images

    labelled = load_labelled_images(shared_dataset("mnist_png_500"))
    train, validation = split_images(labelled, 0.2)
    dataset = save_image_classification(workspace, "mnist", labelled, train, validation,
                                        suggest_preprocess(summarize_images(labelled)), "test")
    stored = ladder_for_run("image-classification", dataset, {"accuracy": 0.25}, 30.0)
    rungs = by_kind(stored)
    assert rungs["chance"].score == pytest.approx(0.1)
    assert rungs["classical"].name == "Pixels + logistic regression" and rungs["classical"].score > 0.6
    assert verdict(stored).startswith("A ") and "beats your model (25 %)" in verdict(stored)


def test_text_generation_has_no_ladder(sst2):
    assert ladder_for_run("text-generation", sst2, {"eval_loss": 2.0}) is None


def test_a_dataset_the_baselines_cannot_use_leaves_the_ladder_out(workspace, capsys):
    one_class = pd.DataFrame({"text": ["good", "fine", "nice"], "label": ["pos"] * 3})
    dataset = save_text_classification(workspace, "one", one_class, one_class, "test", [])
    assert ladder_for_run("text-classification", dataset, {"accuracy": 1.0}) is None
    assert "could not be measured" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------- the worker


def test_a_finished_runs_eval_json_holds_its_ladder(workspace, sample_dataset):
    """Through `python -m core.engine.worker`, with class weights on: the weighted loss trains like the plain one."""
    config = default_config("text-classification", "cafe", source="scratch", preset="quick")
    config = replace(config, model=replace(config.model, name="bag_of_embeddings", vocab_size=400, embedding_dim=32),
                     epochs=4.0, learning_rate=5e-3, class_weights=True)
    run = create_run(workspace, config)
    result = subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run.folder / "eval.json").read_text())
    stored = report[LADDER_KEY]
    rungs = by_kind(stored)
    assert [r["kind"] for r in stored["rungs"]] == ["chance", "majority", "classical", "model"]
    assert rungs["model"].score == report["accuracy"] > 0.8  # three very different kinds of café messages
    assert stored["train_rows"] == sample_dataset.info.train_rows
    assert stored["validation_rows"] == report["validation_rows"] == sample_dataset.info.validation_rows
    assert rungs["chance"].score == pytest.approx(1 / 3)
    assert rungs["model"].seconds > 0 and rungs["classical"].seconds < 60
    assert verdict(stored).startswith("Your model (")
