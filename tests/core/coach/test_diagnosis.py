"""Diagnoses in plain words: crafted curves and evaluations a person would misread, the evidence each diagnosis
names, the settings change it suggests, and that change applied to the run's config."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.coach.diagnosis import diagnose, ladder_scores
from core.coach.remedies import apply_remedy, read_parent, settings_diff
from core.config.presets import default_config
from core.config.train_config import TrainConfig
from core.engine.baselines import Rung, chance_rung, ladder, majority_rung, model_rung
from core.engine.class_weights import balanced_weights, weighted_cross_entropy
from core.engine.metrics import classification_evaluation
from core.engine.run_folder import EVAL_FILE, append_metrics, update_status, write_json_atomic
from core.engine.run_status import RunState
from core.engine.runs import create_run, list_runs
from core.hosting.queue import cancel
from core.tasks.text_classification.data import save_text_classification
from tests.conftest import shared_dataset
from tests.support.paths import ROOT


def text_config(**changes) -> TrainConfig:
    config = default_config("text-classification", "spam", source="scratch", preset="balanced")
    return replace(config, **{"epochs": 10.0, "learning_rate": 2e-3, **changes})


def curves(train: list[float], validation: list[float], epochs: float = 10.0) -> list[dict]:
    """metrics.jsonl for a run of `epochs` epochs: the training losses spread evenly, one check per epoch."""
    steps = 100 * epochs
    records = [{"step": round((i + 1) * steps / len(train)), "epoch": (i + 1) * epochs / len(train), "loss": loss}
               for i, loss in enumerate(train)]
    records += [{"step": round((i + 1) * steps / len(validation)), "epoch": (i + 1) * epochs / len(validation),
                 "eval_loss": loss, "eval_accuracy": 0.8} for i, loss in enumerate(validation)]
    return sorted(records, key=lambda r: r["step"])


def falling(start: float, end: float, points: int = 40) -> list[float]:
    return [start * (end / start) ** (i / (points - 1)) for i in range(points)]


def keys(found) -> list[str]:
    return [d.key for d in found]


HEALTHY_TRAIN = [0.7 * math.exp(-i / 6) + 0.2 for i in range(40)]  # falls, then levels off
HEALTHY_VALIDATION = [0.55, 0.42, 0.36, 0.33, 0.31, 0.305, 0.30, 0.30, 0.299, 0.299]


def test_a_healthy_run_gets_no_diagnosis():
    assert diagnose(curves(HEALTHY_TRAIN, HEALTHY_VALIDATION), {}, text_config()) == []


# ---------------------------------------------------------------------------------------------------- curves


OVERFIT_VALIDATION = [0.6, 0.45, 0.40, 0.42, 0.48, 0.55, 0.60, 0.65, 0.70, 0.75]


def test_over_fitting_names_the_best_epoch_and_turns_early_stopping_on():
    [found] = diagnose(curves(falling(0.7, 0.02), OVERFIT_VALIDATION), {}, text_config())
    assert found.key == "over-fitting"
    assert "lowest at epoch 3 (0.4) and rose to 0.75 by epoch 10" in found.evidence
    assert "The model kept is the last one" in found.evidence
    assert found.remedy == {"early_stopping_patience": 2, "epochs": 5}
    new = apply_remedy(text_config(), found.remedy)
    assert (new.early_stopping_patience, new.epochs) == (2, 5.0)


def test_over_fitting_with_early_stopping_says_the_best_check_was_kept_and_regularises():
    config = text_config(early_stopping_patience=3, weight_decay=0.01)
    [found] = diagnose(curves(falling(0.7, 0.02), OVERFIT_VALIDATION), {}, config, kept_epoch=3.0)
    assert "The model from epoch 3 (the best check) was kept" in found.evidence
    assert found.remedy == {"weight_decay": 0.1, "model.dropout": round(config.model.dropout + 0.2, 2)}
    assert [(c.label, c.before_text, c.after_text) for c in settings_diff(config, found.remedy)] == [
        ("Weight decay", "0.01", "0.1"), ("Model: dropout", "0.1", "0.3")]


def test_under_fitting_doubles_the_epochs():
    [found] = diagnose(curves(falling(1.0, 0.3), [0.9, 0.8, 0.7, 0.62, 0.55, 0.5, 0.46, 0.42, 0.39, 0.36]), {},
                       text_config())
    assert found.key == "under-fitting" and "still falling at the end" in found.evidence
    assert found.remedy == {"epochs": 20.0}
    assert found.remedy_note == "Train twice as long: 20 epochs instead of 10."


def test_a_blown_up_run_is_told_to_take_smaller_steps():
    message = ("The training loss exploded at step 120: 5.1e+03, against 0.693 at the start and 0.41 at its best, "
               "so training was stopped before the model was ruined.")
    [found] = diagnose(curves([0.69, 0.5, 0.41, 5100.0], []), None, text_config(learning_rate=0.5), message)
    assert found.key == "learning-rate-high" and "exploded at step 120" in found.evidence
    assert found.remedy == {"learning_rate": 0.05}


def test_spikes_in_the_training_loss_point_at_the_learning_rate():
    train = list(HEALTHY_TRAIN)
    train[12:16] = [0.9, 1.1, 1.0, 0.8]  # a surge that lasts a few steps, as a too-large step causes
    found = diagnose(curves(train, HEALTHY_VALIDATION), {}, text_config(learning_rate=1e-2))
    assert keys(found) == ["learning-rate-high"]
    assert found[0].evidence.startswith("The training loss jumped back up to 1 around step 375, against 0.333")
    assert found[0].remedy == {"learning_rate": 1e-3}


def test_single_hard_batches_are_not_mistaken_for_spikes():
    train = list(HEALTHY_TRAIN)
    for i in (15, 25, 33):  # one batch in a while much harder than the rest: normal with rare classes
        train[i] = 0.65
    assert diagnose(curves(train, HEALTHY_VALIDATION), {}, text_config()) == []


def test_a_flat_loss_asks_for_bigger_steps():
    flat = [0.693 + 0.002 * ((-1) ** i) for i in range(40)]
    [found] = diagnose(curves(flat, [0.693] * 10), {}, text_config(learning_rate=1e-6))
    assert found.key == "learning-rate-low" and "hardly moved" in found.evidence
    assert found.remedy == {"learning_rate": pytest.approx(1e-5)}
    assert "0.00001 instead of 0.000001" in found.remedy_note


# ---------------------------------------------------------------------------------------------------- evaluation


def always_ham(accuracy: float = 0.876) -> dict:
    ham, spam = round(accuracy * 1000), round((1 - accuracy) * 1000)
    validation = ["ham"] * ham + ["spam"] * spam
    rungs = [chance_rung(["ham", "spam"]), majority_rung(["ham"] * 876 + ["spam"] * 124, validation),
             Rung("Word counts + logistic regression", "…", 0.95, 4.0, "classical"),
             model_rung(accuracy, 90.0, "accuracy")]
    return {"accuracy": accuracy, "macro_f1": 0.467, "labels": ["ham", "spam"],
            "confusion_matrix": [[ham, 0], [spam, 0]], "ladder": ladder("accuracy", rungs, 4000, 1000)}


def test_a_model_that_always_says_ham_collapsed_and_gets_class_weights():
    found = diagnose(curves(HEALTHY_TRAIN, HEALTHY_VALIDATION), always_ham(), text_config(dataset="spam"))
    assert keys(found) == ["collapse"]
    assert found[0].evidence.startswith("It answered “ham” for 100 % of the validation rows, which are 87.6 % “ham”")
    assert "macro-F1 is 0.467" in found[0].evidence
    assert found[0].remedy == {"class_weights": True}
    assert apply_remedy(text_config(), found[0].remedy).class_weights is True


def test_collapse_despite_class_weights_asks_for_smaller_steps():
    [found] = diagnose([], always_ham(), text_config(class_weights=True, learning_rate=1e-3))
    assert found.remedy == {"learning_rate": pytest.approx(1e-4)} and "already on" in found.evidence


def image_report(model: float, classical: float, train_rows: int) -> dict:
    classes = [str(i) for i in range(10)]
    rungs = [chance_rung(classes), majority_rung(classes, classes), model_rung(model, 60.0, "accuracy"),
             Rung("Pixels + logistic regression", "…", classical, 1.0, "classical")]
    return {"accuracy": model, "macro_f1": model - 0.02, "ladder": ladder("accuracy", rungs, train_rows, 60)}


def test_240_photos_from_scratch_are_sent_to_a_pretrained_model():
    config = default_config("image-classification", "photos", source="scratch")
    found = diagnose([], image_report(0.25, 0.40, 240), config)
    assert keys(found) == ["too-little-data"]  # "no better than the baseline" suggests the same: one diagnosis
    assert "only 240 photos" in found[0].evidence and "beats your model (25 %)" in found[0].evidence
    assert found[0].remedy["model.source"] == "pretrained"
    new = apply_remedy(config, found[0].remedy)
    assert new.model.source == "pretrained" and new.learning_rate == default_config(
        "image-classification", "photos", source="pretrained").learning_rate


def test_a_table_model_behind_gradient_boosting_trains_longer_and_keeps_its_best():
    config = default_config("tabular-classification", "titanic", preset="quick")
    rungs = [chance_rung(["0", "1"]), majority_rung(["0"] * 6 + ["1"] * 4, ["0"] * 6 + ["1"] * 4),
             Rung("Gradient boosting", "…", 0.83, 0.4, "classical"), model_rung(0.78, 20.0, "accuracy")]
    report = {"accuracy": 0.78, "macro_f1": 0.76, "ladder": ladder("accuracy", rungs, 700, 179)}
    [found] = diagnose(curves(HEALTHY_TRAIN, HEALTHY_VALIDATION), report, config)
    assert found.key == "no-better-than-baseline" and "beats your model (78 %) by 5 points" in found.evidence
    assert found.remedy == {"epochs": config.epochs * 2, "early_stopping_patience": 3}


def test_remedies_stay_inside_the_knobs_limits():
    [found] = diagnose(curves(falling(1.0, 0.3), []), {}, text_config(epochs=900.0))
    assert found.remedy == {"epochs": 1000.0}


# ---------------------------------------------------------------------------------------------------- class weights


def test_class_weights_make_the_rare_class_count_as_much_as_the_common_one():
    labels = [0] * 876 + [1] * 124
    weights = balanced_weights(labels, 2)
    assert weights == pytest.approx([1000 / (2 * 876), 1000 / (2 * 124)])
    assert sum(weights[label] for label in labels) / len(labels) == pytest.approx(1.0)  # the loss keeps its size
    always_ham = {"logits": torch.tensor([[2.0, -2.0]] * 8)}
    batch = torch.tensor([0] * 7 + [1])
    plain = torch.nn.functional.cross_entropy(always_ham["logits"], batch)
    weighted = weighted_cross_entropy(weights)(always_ham, batch)
    assert weighted > 3 * plain  # missing the one spam now costs far more than getting seven hams right earns


# ---------------------------------------------------------------------------------------------------- real runs


def test_a_real_run_on_tiny_data_is_diagnosed_as_over_fitting(workspace):
    """300 SST-2 sentences, a bag of embeddings with no dropout and big steps for 8 epochs: it learns the training
    sentences by heart within two epochs, and the validation loss climbs from there."""
    frame = pd.read_csv(shared_dataset("sst2/train_3k.tsv"), sep="\t")
    rows = pd.DataFrame({"text": frame["sentence"].astype(str),
                         "label": frame["label"].map({0: "negative", 1: "positive"})})
    save_text_classification(workspace, "sst-tiny", rows[:300], rows[300:500], "test", [])
    config = default_config("text-classification", "sst-tiny", source="scratch", preset="quick")
    config = replace(config, model=replace(config.model, name="bag_of_embeddings", vocab_size=2000, embedding_dim=64,
                                           dropout=0.0), epochs=8.0, learning_rate=1e-2, batch_size=16,
                     weight_decay=0.0)
    run = create_run(workspace, config)
    result = subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT, text=True,
                            capture_output=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    status = run.status
    found = {d.key: d for d in diagnose(run.metrics, run.evaluation, config, status.message, status.kept_epoch)}
    assert "over-fitting" in found, found
    evidence = found["over-fitting"].evidence
    assert "rose to" in evidence and "The model kept is the last one" in evidence
    improved = apply_remedy(config, found["over-fitting"].remedy)
    assert improved.early_stopping_patience == 2 and improved.epochs < config.epochs
    # 300 texts for a model built from zero: said whenever it does not beat the classical baseline by a point (the
    # runs are not bit-for-bit repeatable, and some beat it).
    model, classical, _ = ladder_scores(run.evaluation)
    assert ("too-little-data" in found) == (model <= classical + 0.01), (model, classical)
    assert apply_remedy(config, found["too-little-data"].remedy).model.name == "bundled:minilm-l6"


# ---------------------------------------------------------------------------------------------------- the Runs page


def always_complaint_run(workspace):
    """A finished café run written by hand as the worker writes it: it answers "complaint" whatever it reads."""
    config = default_config("text-classification", "cafe", source="scratch", preset="quick")
    config = replace(config, model=replace(config.model, name="bag_of_embeddings", vocab_size=400, embedding_dim=32),
                     epochs=1.0)
    run = create_run(workspace, config)
    for record in curves(HEALTHY_TRAIN, HEALTHY_VALIDATION, epochs=1.0):
        append_metrics(run.folder, record)
    labels = ["complaint", "praise", "question"]
    gold = np.array([0] * 50 + [1] * 11 + [2] * 11)
    report = classification_evaluation(np.tile([3.0, 0.0, 0.0], (72, 1)), gold, labels, [{"text": "…"}] * 72)
    rungs = [chance_rung(labels), majority_rung([labels[i] for i in gold], [labels[i] for i in gold]),
             Rung("Word counts + logistic regression", "A classic text classifier.", 0.93, 2.0, "classical"),
             model_rung(report["accuracy"], 30.0, "accuracy")]
    write_json_atomic(run.folder / EVAL_FILE, {**report, "ladder": ladder("accuracy", rungs, 288, 72)})
    update_status(run.folder, state=RunState.COMPLETED, step=10, max_steps=10, started_at=1.0, finished_at=2.0,
                  message="Finished.")
    return run


def plain(elements) -> str:
    """What a person reads: Markdown's escaping backslashes taken out."""
    return " ".join(str(e.value) for e in elements).replace("\\", "")


def test_the_runs_page_shows_the_ladder_a_diagnosis_and_starts_the_remedy(workspace, sample_dataset):
    run = always_complaint_run(workspace)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.query_params["run"] = run.id
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, at.exception
    assert "Your model does no better than always answering “complaint” (69.4 %)." in plain(at.warning)
    ladder_table = next(frame.value for frame in at.dataframe if "time to train" in frame.value.columns)
    assert ladder_table[""].tolist() == ["Your model", "Word counts + logistic regression", "Always “complaint”",
                                         "Guessing"]
    assert "**Guessing**: Picking one of the 3 classes at random is right 33.3 % of the time" in plain(at.caption)
    assert "Collapse onto one class" in plain(at.markdown)
    assert "It answered “complaint” for 100 % of the validation rows" in plain(at.markdown)
    diff = next(frame.value for frame in at.dataframe if "new run" in frame.value.columns)
    assert diff.to_dict("records") == [{"setting": "Class weights", "this run": "off", "new run": "on"}]

    at.button(key="runs_eval_diagnosis_0_start").click().run()
    assert not at.exception, at.exception
    new_run = next(r for r in list_runs(workspace) if r.id != run.id)
    cancel(new_run)  # it joined the queue; the test needs only the folder it left
    assert at.query_params["run"] == new_run.id
    assert new_run.config == replace(run.config, class_weights=True)
    assert read_parent(new_run.folder) == {"parent_run": run.id, "diagnosis": "collapse",
                                           "change": {"class_weights": True}}
    at.run()
    assert f"This run tries the change suggested for run “{run.id}” (collapse): class weights → on." in plain(
        at.caption)
