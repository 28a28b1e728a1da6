"""Every page through Streamlit's AppTest: what a person sees and can do, without a browser.

AppTest never fires `run_every` timers, so live polling is tested by calling `at.run()` in a loop.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

from streamlit.testing.v1 import AppTest

from core.config.presets import default_config
from core.engine.runs import create_run, list_runs
from tests.support.apptest import app, texts
from tests.support.paths import ROOT

SAMPLE = "Use the built-in sample (café feedback)"


def trained_run(workspace, **changes):
    config = default_config("text-classification", "cafe", source="scratch", preset="quick")
    settings = {"model": replace(config.model, name="bag_of_embeddings", vocab_size=400), "epochs": 3,
                "learning_rate": 5e-3, **changes}
    config = replace(config, **settings)
    run = create_run(workspace, config)
    subprocess.run([sys.executable, "-m", "core.engine.worker", str(run.folder)], cwd=ROOT, check=True,
                   capture_output=True, timeout=240)
    return run


def test_start_page_names_the_four_steps_and_the_device(workspace):
    at = app()
    assert at.title[0].value == "AI Playground"
    assert "Training here runs on: **CPU" in texts(at.info)


def test_data_page_prepares_and_saves_the_sample(workspace):
    at = app("data")
    at.radio(key="data_text_source").set_value(SAMPLE).run()
    assert [s.value for s in at.selectbox] == ["message", "category"]  # detected, and changeable
    assert "360 examples in 3 classes are ready." in texts(at.info)
    assert len(at.get("plotly_chart")) == 2  # class balance and text lengths
    at.slider(key="data_text_share").set_value(0.25).run()
    at.text_input(key="data_text_name").set_value("cafe").run()
    at.button(key="data_text_save").click().run()
    assert "Saved “cafe”: 270 training and 90 validation examples." in texts(at.success)
    assert (workspace.datasets / "cafe" / "dataset.json").is_file()


def test_data_page_explains_a_bad_upload_and_stays_usable(workspace):
    at = app("data")
    at.file_uploader(key="data_text_file").set_value(("empty.csv", b"", "text/csv")).run()
    assert not at.exception
    assert "The file is empty" in texts(at.error)
    at.file_uploader(key="data_text_file").set_value(
        ("one.csv", b"text,label\nlovely coffee,good\ngreat staff,good\n", "text/csv")).run()
    assert "At least 2 classes are needed" in texts(at.error)
    assert not at.button  # nothing to save until the data is usable


def test_data_page_reads_a_real_upload_and_lets_the_columns_change(workspace):
    lines = [f"{i},text number {i} is {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}" for i in range(40)]
    csv = ("id,comment,verdict\n" + "\n".join(lines)).encode()
    at = app("data")
    at.file_uploader(key="data_text_file").set_value(("reviews.csv", csv, "text/csv")).run()
    text_box, label_box = at.selectbox
    assert (text_box.value, label_box.value) == ("comment", "verdict")
    label_box.set_value("id").run()
    assert "At least 2 classes" in texts(at.error) or "different values" in texts(at.error) or at.warning


def test_train_page_without_data_points_to_the_data_page(workspace):
    at = app("train")
    assert "There is no dataset yet" in texts(at.info)


def test_train_page_builds_the_config_and_follows_the_run_live(workspace, sample_dataset):
    at = app("train")
    assert at.radio(key="train_source_text-classification").value == "pretrained"
    assert at.selectbox(key="train_pretrained_choice_text-classification").value == "bundled:minilm-l6"
    assert "22.71 M parameters" in texts(at.caption)
    at.radio(key="train_source_text-classification").set_value("scratch").run()
    at.selectbox(key="train_model_name").set_value("bag_of_embeddings").run()
    assert at.number_input(key="train_hp_epochs").value == 8.0  # the balanced preset for scratch models
    at.button_group(key="train_preset").set_value("quick").run()
    assert at.number_input(key="train_hp_epochs").value == 3.0
    at.number_input(key="train_model_vocab_size").set_value(400).run()
    assert not at.code  # the exact settings are filled in once their expander is opened
    at.session_state["train_exact"] = True
    at.run()
    assert "python -m core.engine.worker --config config.json" in texts(at.code)

    at.button(key="train_start").click().run()
    [run] = list_runs(workspace)
    assert at.query_params["run"] == run.id
    for _ in range(120):  # AppTest has no timers: poll like the fragment would
        if run.status.is_final:
            break
        time.sleep(0.5)
        at.run()
    at.run()
    assert run.status.state == "completed", run.status
    assert "completed" in texts(at.markdown)
    assert len(at.get("plotly_chart")) >= 2


def test_train_page_says_what_is_wrong_with_impossible_settings(workspace, sample_dataset):
    at = app("train")
    at.radio(key="train_source_text-classification").set_value("scratch").run()
    at.selectbox(key="train_model_name").set_value("transformer").run()
    at.number_input(key="train_model_num_heads").set_value(5).run()
    assert "must be a multiple of the number of heads" in texts(at.error)
    assert not [b for b in at.button if b.key == "train_start"]


def leave_and_come_back(at: AppTest, page: str = "train") -> AppTest:
    """To the Start page through the sidebar and back, which drops the URL's parameters each way."""
    at.query_params.clear()
    at.switch_page("pages/home.py").run()
    at.query_params.clear()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def test_train_page_keeps_edited_knobs_when_leaving_and_coming_back(workspace, sample_dataset):
    at = app("train")
    at.number_input(key="train_hp_epochs").set_value(5.0).run()  # on the pretrained model the page starts with
    leave_and_come_back(at)
    # Streamlit had dropped every knob's value: each came back as empty text and the form failed with
    # "'<=' not supported between instances of 'str' and 'int'".
    assert not at.error and not [box for box in at.text_input if box.key.startswith("train_hp_")]
    assert at.number_input(key="train_hp_epochs").value == 5.0
    assert at.number_input(key="train_hp_batch_size").value == 32

    at.radio(key="train_source_text-classification").set_value("scratch").run()
    at.selectbox(key="train_model_name").set_value("bag_of_embeddings").run()
    at.button_group(key="train_preset").set_value("quick").run()
    at.number_input(key="train_model_vocab_size").set_value(400).run()
    at.number_input(key="train_hp_learning_rate").set_value(0.004).run()
    for _ in range(2):  # the issue: "reproduced three times"
        leave_and_come_back(at)
    assert not at.error
    assert at.radio(key="train_source_text-classification").value == "scratch"
    assert at.selectbox(key="train_model_name").value == "bag_of_embeddings"
    assert at.button_group(key="train_preset").value == "quick"
    assert at.number_input(key="train_model_vocab_size").value == 400
    assert at.number_input(key="train_hp_learning_rate").value == 0.004
    assert at.number_input(key="train_hp_epochs").value == 3.0  # the quick preset's, as chosen after the edit


def test_train_page_keeps_its_choices_across_a_refresh(workspace, sample_dataset):
    at = app("train")
    at.radio(key="train_source_text-classification").set_value("scratch").run()
    at.selectbox(key="train_model_name").set_value("transformer").run()
    at.button_group(key="train_preset").set_value("thorough").run()
    at.number_input(key="train_model_num_heads").set_value(2).run()
    at.number_input(key="train_hp_batch_size").set_value(8).run()
    url = dict(at.query_params)
    assert url["preset"] == "thorough" and url["model.num_heads"] == "2" and "epochs" not in url  # edits only

    refreshed = app()  # a refresh is a new session that only has the URL
    refreshed.query_params.update(url)
    refreshed.switch_page("pages/train.py").run()
    assert not refreshed.exception and not refreshed.error
    assert refreshed.radio(key="train_source_text-classification").value == "scratch"
    assert refreshed.selectbox(key="train_model_name").value == "transformer"
    assert refreshed.number_input(key="train_model_num_heads").value == 2
    assert refreshed.number_input(key="train_hp_batch_size").value == 8
    assert refreshed.number_input(key="train_hp_epochs").value == 20.0  # the thorough preset's
    assert dict(refreshed.query_params) == url


def test_train_a_model_on_it_opens_the_dataset_just_saved(workspace, sample_dataset):
    at = app("data")
    at.radio(key="data_text_source").set_value(SAMPLE).run()
    at.text_input(key="data_text_name").set_value("reviews").run()  # "cafe" is saved too, and sorts first
    at.button(key="data_text_save").click().run()
    [link] = [element for element in at.get("page_link") if element.proto.label.startswith("Train a model on it")]
    assert link.proto.query_string == "dataset=reviews"
    at.query_params.clear()
    at.query_params["dataset"] = "reviews"  # what following the link does
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.selectbox(key="train_dataset").value == "reviews"
    assert "Training on **reviews**: 288 training" in texts(at.caption)
    at.selectbox(key="train_dataset").set_value("cafe").run()  # a choice made on the page is not undone
    assert "Training on **cafe**" in texts(at.caption)
    leave_and_come_back(at)
    assert at.selectbox(key="train_dataset").value == "cafe"


def test_runs_page_lists_opens_compares_and_deletes(workspace, sample_dataset):
    first = trained_run(workspace)
    second = trained_run(workspace, learning_rate=1e-2)
    at = app()
    at.query_params["run"] = first.id
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["run"]) == {first.id, second.id} and set(table["state"]) == {"completed"}
    assert "Accuracy" in [m.label for m in at.metric]
    assert len(at.get("plotly_chart")) >= 4  # curves, confusion matrix, per-class scores
    # Away through the sidebar (which drops the URL's parameters) and back: the run is still open.
    at.query_params.clear()
    at.switch_page("pages/data.py").run()
    at.query_params.clear()
    at.switch_page("pages/runs.py").run()
    assert f"Run “{first.id}”" in [header.value for header in at.subheader]
    assert at.query_params["run"] == first.id  # written back, so a refresh keeps it too
    # Settings and Log are filled in when their tab is opened, not at every visit.
    assert "core.engine.worker" not in texts(at.code)
    at.session_state["runs_tabs"] = "Settings"
    at.run()
    assert f"--config {first.folder / 'config.json'}" in texts(at.code)
    at.session_state["runs_tabs"] = "Log"
    at.run()
    assert "core.engine.worker" not in texts(at.code) and at.code  # the training log instead
    at.multiselect(key="runs_compare").set_value([first.id, second.id]).run()
    assert "learning_rate" in at.dataframe[-1].value["setting"].tolist()
    at.button(key="runs_actions_delete").click().run()
    assert [run.id for run in list_runs(workspace)] == [second.id]
    assert "run" not in at.query_params and not any(header.value.startswith("Run “") for header in at.subheader)


def test_playground_predicts_with_probabilities(workspace, sample_dataset):
    run = trained_run(workspace)
    at = app("playground")
    assert at.selectbox(key="play_run").value == run.id
    at.text_area(key=f"play_text_{run.id}").set_value("Is the cake vegan?\nThe staff was rude to us.").run()
    assert not at.exception
    assert "**question**" in texts(at.markdown)
    assert at.dataframe[0].value["prediction"].tolist() == ["question", "complaint"]


def test_playground_without_models_points_to_training(workspace):
    at = app("playground")
    assert "No trained model yet" in texts(at.info)


def test_core_never_imports_streamlit():
    # A fresh interpreter imports every module of core; streamlit must not be pulled in, directly or through
    # another library.
    code = ("import sys, importlib, pathlib; "
            "[importlib.import_module(str(p.with_suffix('')).replace('/', '.')) for p in pathlib.Path('core')"
            ".rglob('*.py')]; "
            "leaked = [m for m in sys.modules if m.split('.')[0] == 'streamlit']; "
            "assert not leaked, f'core imported {leaked[:3]}'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-1500:]
