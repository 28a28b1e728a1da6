"""The Runs page's evaluation and comparison views for every task, through AppTest, on run folders written by hand
exactly as the worker writes them (eval.json, metrics.jsonl, status.json): no training needed to check the views."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.config.presets import default_config
from core.engine import charts
from core.engine.metrics import classification_evaluation, largest_errors, regression_report
from core.engine.run_folder import EVAL_FILE, append_metrics, update_status, write_json_atomic
from core.engine.run_status import RunState
from core.engine.runs import create_run
from tests.support.apptest import texts
from tests.support.paths import ROOT
from ui.runs.compare_views import differing_settings, final_scores, metric_keys
from ui.runs.evaluation_views import thumbnail_path


def finished_run(workspace, config, report: dict, metric: str, values: list[float], headline: dict):
    run = create_run(workspace, config)
    for step, value in enumerate(values, start=1):
        append_metrics(run.folder, {"step": step * 10, "epoch": float(step), "loss": 1.0 / step})
        append_metrics(run.folder, {"step": step * 10, "epoch": float(step), "eval_loss": 1.2 / step, metric: value})
    write_json_atomic(run.folder / EVAL_FILE, report)
    update_status(run.folder, state=RunState.COMPLETED, step=len(values) * 10, max_steps=len(values) * 10,
                  started_at=1.0, finished_at=2.0, headline=headline, message="Done.")
    return run


def classification_report(examples: list[dict]) -> dict:
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [4.0, 0.0], [0.0, 1.0]])
    return classification_evaluation(logits, np.array([0, 0, 1, 1]), ["cat", "dog"], examples)


def open_run(run_id: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.query_params["run"] = run_id
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, at.exception
    return at


def table_with(at: AppTest, *columns: str):
    """The first table on the page holding these columns (AppTest keeps keys only for selectable tables)."""
    for frame in at.dataframe:
        value = frame.value
        if set(columns) <= set(value.columns):
            return value
    raise AssertionError(f"no table with the columns {columns}")


def test_text_classification_shows_scores_matrix_per_class_and_worst_texts(workspace):
    examples = [{"text": t} for t in ("purrs a lot", "barks at night", "chases mice", "fetches sticks")]
    report = classification_report(examples)
    config = default_config("text-classification", "pets", source="scratch")
    run = finished_run(workspace, config, report, "eval_accuracy", [0.5, 0.5], {"accuracy": 0.5})
    at = open_run(run.id)
    labels = [m.label for m in at.metric]
    assert {"Accuracy", "Macro-F1", "Validation examples"} <= set(labels)
    assert at.metric[labels.index("Accuracy")].value == "50.0%"
    assert len(at.get("plotly_chart")) >= 4  # loss, metric, confusion matrix, per-class bars
    per_class = table_with(at, "label", "precision", "recall")
    assert per_class["label"].tolist() == ["cat", "dog"] and {"precision", "recall"} <= set(per_class.columns)
    mistakes = table_with(at, "gold", "predicted")
    assert mistakes["text"].tolist() == ["chases mice", "barks at night"]  # surest mistake first


def test_image_mistakes_show_thumbnails_from_the_workspace_only(workspace, tmp_path):
    inside = workspace.datasets / "pets" / "images" / "cat" / "a.png"
    inside.parent.mkdir(parents=True)
    Image.new("L", (8, 8), 200).save(inside)
    outside = tmp_path / "elsewhere.png"
    Image.new("L", (8, 8), 10).save(outside)
    report = classification_report([{"image": str(p)} for p in (inside, inside, outside, inside)])
    config = default_config("image-classification", "pets", source="scratch")
    run = finished_run(workspace, config, report, "eval_accuracy", [0.4, 0.5], {"accuracy": 0.5})
    at = open_run(run.id)
    assert len(at.get("image")) == 1  # the one mistake inside the workspace; the other file is not shown
    assert "image no longer available" in texts(at.caption)
    assert "true **dog**, said cat" in texts(at.caption)
    assert thumbnail_path(str(outside), workspace.root) is None
    assert thumbnail_path(str(inside), workspace.root) == inside.resolve()


def test_table_mistakes_show_their_rows(workspace):
    examples = [{"age": a, "plan": p} for a, p in ((30, "basic"), (40, "pro"), (50, "team"), (60, None))]
    report = classification_report(examples)
    config = default_config("tabular-classification", "people")
    run = finished_run(workspace, config, report, "eval_accuracy", [0.5], {"accuracy": 0.5})
    at = open_run(run.id)
    mistakes = table_with(at, "gold", "predicted")
    assert {"gold", "predicted", "confidence", "age", "plan"} <= set(mistakes.columns)


def test_regression_shows_errors_scatter_residuals_and_worst_rows(workspace):
    actual = np.array([10.0, 20.0, 30.0, 40.0])
    predicted = np.array([12.0, 18.0, 33.0, 25.0])
    report = regression_report(actual, predicted)
    report["largest_errors"] = largest_errors(actual, predicted, [{"rooms": r} for r in (1, 2, 3, 4)])
    report["validation_rows"] = 4
    config = default_config("tabular-regression", "houses")
    run = finished_run(workspace, config, report, "eval_r2", [0.2, 0.6],
                       {name: report[name] for name in ("r2", "mae", "rmse")})
    at = open_run(run.id)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["MAE"] == "5.500" and metrics["R²"] == f"{report['r2']:.3f}"
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]
    assert any(t.startswith("Predicted vs actual") for t in titles)
    assert any(t.startswith("Errors (predicted − actual)") for t in titles)
    worst = table_with(at, "actual", "error")
    assert worst["rooms"].tolist()[0] == 4 and worst["error"].tolist()[0] == -15.0


def test_compare_overlays_curves_and_lists_only_the_differing_settings(workspace):
    config = default_config("tabular-regression", "houses")
    report = regression_report(np.array([1.0, 2.0, 3.0]), np.array([1.1, 2.1, 2.7]))
    first = finished_run(workspace, config, report, "eval_r2", [0.3, 0.5], {"r2": 0.5})
    second = finished_run(workspace, replace(config, learning_rate=0.01, model=replace(config.model,
                                                                                       hidden_sizes=(32, 16))),
                          report, "eval_r2", [0.4, 0.7], {"r2": 0.7})
    assert [row["setting"] for row in differing_settings([first, second])] == ["learning_rate", "model.hidden_sizes"]
    assert metric_keys([first, second]) == ["eval_r2"]
    assert [row["r2"] for row in final_scores([first, second])] == [0.5, 0.7]

    at = open_run(first.id)
    at.multiselect(key="runs_compare").set_value([first.id, second.id]).run()
    assert not at.exception
    compare = [c for c in at.get("plotly_chart") if json.loads(c.proto.spec)["layout"]["title"]["text"]
               in ("Training loss", "Validation loss", "Validation r²")]
    assert len(compare) == 3
    for chart in compare:  # one curve per run, overlaid
        assert {trace["name"] for trace in json.loads(chart.proto.spec)["data"]} == {first.id, second.id}
    assert table_with(at, "setting", first.id)["setting"].tolist() == ["learning_rate",
                                                                               "model.hidden_sizes"]
    assert sorted(table_with(at, "run", "r2")["r2"].tolist()) == [0.5, 0.7]


def test_runs_of_different_tasks_compare_by_loss(workspace):
    text = finished_run(workspace, default_config("text-classification", "pets", source="scratch"),
                        classification_report([{"text": "x"}] * 4), "eval_accuracy", [0.5], {"accuracy": 0.5})
    table = finished_run(workspace, default_config("tabular-regression", "houses"),
                         regression_report(np.array([1.0, 2.0]), np.array([1.0, 2.5])), "eval_r2", [0.1],
                         {"r2": 0.1})
    assert metric_keys([text, table]) == ["eval_accuracy", "eval_r2"]
    at = open_run(text.id)
    at.multiselect(key="runs_compare").set_value([text.id, table.id]).run()
    assert not at.exception
    assert "only their loss curves are comparable" in texts(at.info)
    assert "task" in table_with(at, "setting", text.id)["setting"].tolist()


def test_score_axes_never_go_past_what_the_score_can_be():
    # Plotly pads a flat line by ±1: a run at 100 % accuracy drew an axis up to 2.
    perfect = [{"step": 10, "eval_accuracy": 1.0, "eval_f1": 1.0}, {"step": 20, "eval_accuracy": 1.0, "eval_f1": 1.0}]
    accuracy = charts.metric_figure(perfect, ("eval_accuracy", "eval_f1"), "Validation accuracy and F1")
    assert (accuracy.layout.yaxis.autorangeoptions.clipmin, accuracy.layout.yaxis.autorangeoptions.clipmax) == (0, 1)
    r2 = charts.comparison_figure({"a": [{"step": 1, "eval_r2": -0.5}], "b": [{"step": 1, "eval_r2": 0.4}]}, "eval_r2")
    assert (r2.layout.yaxis.autorangeoptions.clipmin, r2.layout.yaxis.autorangeoptions.clipmax) == (None, 1)
    perplexity = charts.metric_figure([{"step": 1, "eval_perplexity": 30.0}], ("eval_perplexity",), "Perplexity")
    assert perplexity.layout.yaxis.autorangeoptions.clipmax is None  # no upper bound


def test_the_table_score_is_the_kept_models_evaluation_not_the_best_check(workspace):
    # Checks at 0.5, 0.9, 0.7: without early stopping the last check's model is kept and evaluated (0.7), so the
    # table must show 0.7 like the Evaluation tab, not the 0.9 of a model that no longer exists.
    config = default_config("text-classification", "pets", source="scratch")
    report = classification_report([{"text": t} for t in "abcd"]) | {"accuracy": 0.7}
    run = finished_run(workspace, config, report, "eval_accuracy", [0.5, 0.9, 0.7], {"accuracy": 0.7})
    at = open_run(run.id)
    row = at.dataframe[0].value.iloc[0]
    assert (row["score"], row["metric"]) == ("70 %", "accuracy")
    # A finished run says how long it took from start to finish (started at 1 s, finished at 2 s), not the
    # training loop's "elapsed 0:00".
    progress = [element.proto.text for element in at.get("progress")]
    assert any("took 0:01 from start to finish" in text for text in progress), progress
    assert at.metric[[m.label for m in at.metric].index("Accuracy")].value == "70.0%"


def test_an_early_stopped_run_says_so_on_its_progress_bar(workspace):
    config = default_config("text-classification", "pets", source="scratch")
    run = finished_run(workspace, config, classification_report([{"text": t} for t in "abcd"]), "eval_accuracy",
                       [0.5, 0.6], {"accuracy": 0.5})
    update_status(run.folder, step=136, max_steps=320, stopped_early=True, kept_step=90, kept_epoch=2.0,
                  message="Stopped early at step 136 of 320: the validation accuracy had not improved for 2 checks "
                          "in a row. The model kept is the best check's, from epoch 2 (step 90).")
    at = open_run(run.id)
    bar = at.get("progress")[0].proto.text
    assert bar.startswith("stopped early at step 136 of 320 (validation stopped improving)")
    assert "model kept from epoch 2, step 90" in bar
    assert "Stopped early at step 136 of 320" in texts(at.markdown).replace("\\", "")


def test_durations_under_a_second_are_said_in_words():
    from ui.common.widgets import duration

    assert (duration(0.2), duration(0.0), duration(61), duration(3725), duration(None)) == (
        "under a second", "0:00", "1:01", "1:02:05", "–")
