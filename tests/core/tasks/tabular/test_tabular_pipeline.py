"""Tables through the engine: the Data page's split and save, then `python -m core.engine.worker` for classification and
regression on tiny tables, the run folder it leaves, and the predictor the Playground loads from it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.config.presets import default_config
from core.config.train_config import TrainConfig
from core.data.dataset_store import load_dataset_info
from core.engine.run_folder import update_status
from core.engine.run_status import RunState
from core.engine.runs import create_run
from core.engine.training import TrainingError, plan_device
from core.engine.worker import explain_failure
from core.tasks import pipeline
from core.tasks.tabular.cells import TabularError
from core.tasks.tabular.columns import suggest_preprocess_config
from core.tasks.tabular.dataset import SAMPLE_TABLES, guess_target, sample_table, save_table_dataset, split_table
from core.tasks.tabular.fitting import fit_preprocessor
from core.tasks.tabular.model import build_tabular_model
from core.tasks.tabular.pipeline import load_predictor
from core.tasks.tabular.preprocessor import PREPROCESSOR_FILE
from tests.support.apptest import app, texts
from tests.support.paths import ROOT
from ui.data.table import SOURCE_SAMPLE, SOURCE_UPLOAD

TABLE_SECTION = "A table (predict a column)"


def people(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Mixed columns with gaps: an ID, numbers, categories, free text; 'bought' follows income and plan."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 15, rows).round(1)
    plan = rng.choice(["basic", "pro", "team"], rows)
    frame = pd.DataFrame({
        "customer_id": np.arange(1000, 1000 + rows),
        "income": income,
        "age": rng.integers(18, 80, rows),
        "plan": plan,
        "note": [f"called on day {i} about an invoice" for i in range(rows)],
        "bought": np.where((income > 50) | (plan == "pro"), "yes", "no"),
        "spend": (income * 3 + np.where(plan == "pro", 40, 0) + rng.normal(0, 5, rows)).round(2),
    })
    frame.loc[[3, 10, 20, 30], "income"] = np.nan
    frame.loc[[5, 6], "plan"] = None
    return frame


def save(workspace, frame: pd.DataFrame, target: str, name: str, drop: tuple[str, ...] = ()):
    frame = frame.drop(columns=list(drop))
    settings = suggest_preprocess_config(frame, target)
    split = split_table(frame, target, settings.task, validation_share=0.25)
    return save_table_dataset(workspace, name, split, settings, source="test"), settings


def run_worker(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.engine.worker", str(run_dir)], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})


def files_in(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def train(workspace, task: str, dataset: str, **changes) -> Path:
    config = default_config(task, dataset, preset="quick")
    # A few evaluations rather than one per epoch: each also writes a checkpoint, which costs more than the steps.
    config = replace(config, **{"epochs": 25.0, "learning_rate": 1e-2, "batch_size": 16, "eval_every": 50,
                                **changes})
    run = create_run(workspace, config)
    result = run_worker(run.folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return run.folder


# ---------------------------------------------------------------------------------------------------- data


def test_saved_table_keeps_raw_columns_and_the_settings(workspace):
    prepared, settings = save(workspace, people(), "bought", "people", drop=("spend",))
    assert settings.numeric_columns == ("income", "age") and settings.categorical_columns == ("plan",)
    info = load_dataset_info(workspace, "people").info
    assert info.task == "tabular-classification" and info.labels == ["no", "yes"]
    assert (info.train_rows, info.validation_rows) == (90, 30)
    assert info.details["preprocess"]["target"] == "bought"
    summary = "\n".join(info.details["summary"])
    assert "customer_id: Left out (an ID" in summary and "note: Left out (free text" in summary
    assert "income: 3 missing values filled with the median" in summary or "income: 4 missing" in summary
    train, _ = prepared.frames()
    assert list(train.columns) == ["customer_id", "income", "age", "plan", "note", "bought"]  # raw, as uploaded


def test_split_leaves_out_rows_without_a_target_and_lonely_classes():
    frame = people()
    frame.loc[[0, 1], "bought"] = None
    frame.loc[2, "bought"] = "maybe"
    split = split_table(frame, "bought", "classification", 0.2)
    assert split.stratified and len(split.train) + len(split.validation) == 117
    warnings = " ".join(check.message for check in split.checks if check.level == "warning")
    assert "2 rows have no 'bought' value" in warnings and "single row (maybe)" in warnings
    with pytest.raises(TabularError, match="between 5% and 50%"):
        split_table(frame, "bought", "classification", 0.9)
    with pytest.raises(TabularError, match="usable row"):
        split_table(frame.head(5), "spend", "regression", 0.2)


def auto_mpg_shaped(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """The columns of UCI's Auto MPG: the amount to predict first, a car's name (near-unique) last."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "mpg": rng.normal(23, 7, rows).round(1), "cylinders": rng.choice([4, 6, 8], rows),
        "horsepower": rng.normal(100, 38, rows).round(0), "weight": rng.normal(2970, 840, rows).round(0),
        "model year": rng.integers(70, 83, rows), "origin": rng.choice([1, 2, 3], rows),
        "car name": [f"make {i % 37} model {i}" if i % 25 else "ford pinto" for i in range(rows)]})


def test_the_target_guess_is_never_a_name_or_an_id_and_prefers_amounts():
    cars = auto_mpg_shaped()
    assert guess_target(cars) == "mpg"  # not "car name", 193 values in 200 rows
    with_key_last = people().assign(row_key=[f"K{i:05d}" for i in range(120)])
    assert guess_target(with_key_last) == "spend"  # the last column is an ID, and no name says what to predict
    assert guess_target(people().rename(columns={"spend": "amount"}).assign(price=1.0)) == "amount"  # price is constant


def test_a_target_whose_classes_mostly_have_one_row_is_refused_with_the_fix():
    with pytest.raises(TabularError) as refused:
        split_table(auto_mpg_shaped(), "car name", "classification", 0.2)
    assert str(refused.value).startswith("Most values of 'car name' appear in a single row (")
    assert "Pick another column to predict" in str(refused.value)


@pytest.mark.parametrize("key", list(SAMPLE_TABLES))
def test_every_sample_table_loads_offline_with_its_target(key):
    frame = sample_table(key)
    target = SAMPLE_TABLES[key].target
    assert guess_target(frame) == target
    expected = "regression" if key == "diabetes" else "classification"
    assert suggest_preprocess_config(frame, target).task == expected


# ---------------------------------------------------------------------------------------------------- runs


def test_classification_run_folder_evaluation_and_predictions(workspace):
    save(workspace, people(), "bought", "people", drop=("spend",))
    folder = train(workspace, "tabular-classification", "people")
    assert files_in(folder) == {"config.json", "status.json", "metrics.jsonl", "train.log", "eval.json",
                                "model/config.json", "model/model.safetensors", f"model/{PREPROCESSOR_FILE}"}
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "completed" and status["headline"]["accuracy"] >= 0.8
    assert status["summary"]["classes"] == ["no", "yes"]
    report = json.loads((folder / "eval.json").read_text())
    assert report["labels"] == ["no", "yes"] and sum(map(sum, report["confusion_matrix"])) == 30
    assert {"accuracy", "macro_f1", "per_class"} <= set(report)
    for mistake in report["worst_mistakes"]:  # the verdict first, then the row as it was uploaded
        assert list(mistake)[:3] == ["gold", "predicted", "confidence"] and "plan" in mistake
    json.loads((folder / "model" / PREPROCESSOR_FILE).read_text())  # plain JSON, no pickle

    predictor = load_predictor(folder / "model")
    assert [item["column"] for item in predictor.input_columns] == ["income", "age", "plan"]
    rich = predictor.predict_one({"income": 90, "age": 40, "plan": "basic"})
    assert rich.prediction == "yes" and abs(sum(rich.probabilities.values()) - 1) < 1e-5
    uploaded = pd.DataFrame({"income": [90, "lots", None], "age": [30, 40, 50], "plan": ["pro", "gold", "basic"]})
    result = predictor.predict_table(uploaded)
    assert list(result.columns) == ["income", "age", "plan", "prediction", "probability no", "probability yes",
                                    "problem"]
    assert result["problem"][0] == ""
    assert "'income' is 'lots', not a number" in result["problem"][1]
    assert "'gold', a value the model never saw" in result["problem"][1]
    with pytest.raises(TabularError, match="no column 'plan'"):
        predictor.predict_table(uploaded.drop(columns="plan"))


def test_regression_run_logs_real_units_and_keeps_the_scatter(workspace):
    save(workspace, people(), "spend", "spend", drop=("bought",))
    folder = train(workspace, "tabular-regression", "spend", epochs=40.0)
    assert TrainConfig.load(folder / "config.json").model.hidden_sizes == (64,)  # the SimpleNN default
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in records if "eval_r2" in r]
    assert evaluations and {"eval_mae", "eval_rmse"} <= set(evaluations[-1])
    report = json.loads((folder / "eval.json").read_text())
    assert report["r2"] > 0.7 and report["mae"] < 25  # spend ≈ 3 × income: a sane fit in real units
    assert len(report["points"]["actual"]) == len(report["points"]["predicted"]) == 30
    assert report["target"] == "spend"
    worst = report["largest_errors"][0]  # the rows it missed by most, with their columns
    assert list(worst)[:3] == ["actual", "predicted", "error"] and "income" in worst
    assert abs(worst["error"]) == max(abs(e["error"]) for e in report["largest_errors"])
    predictor = load_predictor(folder / "model")
    assert predictor.task == "regression"
    low, high = (predictor.predict_one({"income": i, "age": 40, "plan": "basic"}).prediction for i in (30, 70))
    assert 40 < low < high < 260


def test_a_dataset_without_table_settings_fails_with_a_plain_message(workspace):
    prepared, _ = save(workspace, people(), "bought", "people", drop=("spend",))
    meta = prepared.folder / "dataset.json"
    info = json.loads(meta.read_text())
    info["details"] = {}
    meta.write_text(json.dumps(info))
    config = default_config("tabular-classification", "people", preset="quick")
    with pytest.raises(TrainingError, match="has no table settings.*Prepare it again on the Data page"):
        pipeline(config.task).build_plan(config, load_dataset_info(workspace, "people"), workspace.runs / "x",
                                        plan_device("cpu"))
    assert explain_failure(TrainingError("x"), Path("config.json")) == "x"  # shown as it is, not as a traceback


# ---------------------------------------------------------------------------------------------------- pages


def table_section() -> AppTest:
    at = app("data")
    at.segmented_control(key="data_kind").set_value(TABLE_SECTION).run()
    assert not at.exception, at.exception
    return at


def test_data_section_infers_the_task_flags_columns_summarises_and_saves(workspace):
    csv = people().to_csv(index=False).encode()
    table_id = hashlib.sha256(csv).hexdigest()[:12] + "-names"  # the first row read as the column names
    at = table_section()
    at.file_uploader(key="data_table_file").set_value(("people.csv", csv, "text/csv")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key=f"data_table_target_{table_id}").value == "spend"  # the last column, as tables do
    assert at.radio(key=f"data_table_task_{table_id}_spend").value == "regression"
    at.selectbox(key=f"data_table_target_{table_id}").set_value("bought").run()
    assert at.radio(key=f"data_table_task_{table_id}_bought").value == "classification"
    flagged = texts(at.info)
    assert "**customer_id** (an ID" in flagged and "**note** (free text" in flagged
    summary = next(frame.value for frame in at.dataframe if "what was done" in frame.value.columns)
    done = dict(zip(summary["column"], summary["what was done"]))
    assert re.match(r"\d missing values filled with the median [\d.]+, then scaled", done["income"])
    assert "yes/no columns" in done["plan"] and done["customer_id"].startswith("Left out")
    at.radio(key=f"data_table_task_{table_id}_bought").set_value("regression").run()
    assert "Choose classification" in texts(at.error)  # words cannot be an amount: said plainly, nothing lost
    at.radio(key=f"data_table_task_{table_id}_bought").set_value("classification").run()
    at.text_input(key="data_table_name").set_value("people").run()
    at.button(key="data_table_save").click().run()
    assert "Saved “people”: 96 training and 24 validation rows, predicting 'bought' (classification)." \
        in texts(at.success)
    info = load_dataset_info(workspace, "people").info
    assert info.task == "tabular-classification"
    assert "customer_id" not in info.details["preprocess"]["numeric_columns"]


def test_classes_stored_as_numbers_are_named_on_the_data_page_and_the_dataset_keeps_the_names(workspace):
    rng = np.random.default_rng(0)
    quality = np.repeat([3, 4, 5, 6], 30)
    frame = pd.DataFrame({"alcohol": rng.normal(10, 1, 120).round(1) + quality / 4,
                          "acidity": rng.normal(3, 0.3, 120).round(2), "quality": quality})
    csv = frame.sample(frac=1, random_state=0).to_csv(index=False).encode()
    table_id = hashlib.sha256(csv).hexdigest()[:12] + "-names"
    at = table_section()
    at.file_uploader(key="data_table_file").set_value(("wine.csv", csv, "text/csv")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key=f"data_table_target_{table_id}").value == "quality"
    assert "Name the classes: they are numbers" in [e.label for e in at.expander]
    for i, name in enumerate(["poor", "fair", "good", "very good"]):  # in the values' order: 3, 4, 5, 6
        at.text_input(key=f"data_table_names_{table_id}_quality_name_{i}").set_value(name)
    at.run()
    assert not at.exception, at.exception
    assert "Saved as: 3 → poor, 4 → fair, 5 → good, 6 → very good" in texts(at.caption)
    at.text_input(key="data_table_name").set_value("wine").run()
    at.button(key="data_table_save").click().run()
    assert not at.exception, at.exception
    prepared = load_dataset_info(workspace, "wine")
    assert prepared.info.labels == ["poor", "fair", "good", "very good"]
    training_rows, validation_rows = prepared.frames()
    assert set(training_rows["quality"]) | set(validation_rows["quality"]) == {"poor", "fair", "good", "very good"}
    run_folder = train(workspace, "tabular-classification", "wine", epochs=2.0)  # the names reach the model too
    report = json.loads((run_folder / "eval.json").read_text())
    assert report["labels"] == ["poor", "fair", "good", "very good"]
    answer = load_predictor(run_folder / "model").predict_one({"alcohol": 11.0, "acidity": 3.0})
    assert answer.prediction in {"poor", "fair", "good", "very good"}
    assert list(answer.probabilities) == sorted(answer.probabilities, key=answer.probabilities.get, reverse=True)


def test_data_section_offers_samples_and_explains_a_bad_table(workspace):
    at = table_section()
    at.radio(key="data_table_source").set_value(SOURCE_SAMPLE).run()
    at.selectbox(key="data_table_sample").set_value("diabetes").run()
    assert not at.exception, at.exception
    assert "Suggested **regression**" in texts(at.caption)
    assert at.button(key="data_table_save")
    at.radio(key="data_table_source").set_value(SOURCE_UPLOAD).run()
    at.file_uploader(key="data_table_file").set_value(("one.csv", b"only\n1\n2\n3\n", "text/csv")).run()
    assert not at.exception
    assert "at least two columns" in texts(at.error)


def trained_table_run(workspace) -> str:
    """A finished classification run made in-process (a few plain torch steps): the Playground's input."""
    prepared, settings = save(workspace, people(), "bought", "people", drop=("spend",))
    train_rows, _ = prepared.frames()
    preprocessor = fit_preprocessor(train_rows, settings)
    torch.manual_seed(0)
    model = build_tabular_model(preprocessor, hidden_sizes=(16,))
    features, targets = (torch.from_numpy(a) for a in preprocessor.training_arrays(train_rows))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimizer.zero_grad()
        model(features, labels=targets).loss.backward()
        optimizer.step()
    run = create_run(workspace, default_config("tabular-classification", "people"))
    model.eval().save_pretrained(run.model_dir)
    preprocessor.save(run.model_dir)
    update_status(run.folder, state=RunState.COMPLETED, headline={"accuracy": 0.9})
    return run.id


def test_playground_form_and_table_predictions(workspace):
    run_id = trained_table_run(workspace)
    at = app("playground")
    assert at.selectbox(key="play_run").value == run_id
    at.number_input(key=f"play_table_{run_id}_income").set_value(95.0).run()
    at.selectbox(key=f"play_table_{run_id}_plan").set_value("basic").run()
    assert not at.exception, at.exception
    assert "Predicted **bought: yes**" in texts(at.markdown)

    upload = b"income,age,plan\n95,30,pro\nlots,40,gold\n20,50,basic\n"
    at.file_uploader(key=f"play_table_file_{run_id}").set_value(("rows.csv", upload, "text/csv")).run()
    assert not at.exception, at.exception
    warning = texts(at.warning)
    assert "1 row had something odd" in warning and "Row 2: 'income' is 'lots', not a number" in warning
    result = next(frame.value for frame in at.dataframe if "prediction" in frame.value.columns)
    assert result["prediction"].tolist()[0] == "yes" and len(result) == 3
    assert [b.label for b in at.get("download_button")][-1] == "Download predictions (.csv)"
    at.file_uploader(key=f"play_table_file_{run_id}").set_value(("bad.csv", b"age\n30\n", "text/csv")).run()
    assert "no column 'income'" in texts(at.error)
