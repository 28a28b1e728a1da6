"""Dataset names in any script, and a saved dataset never replaced without asking (core.workspace.safe_name,
core.data.dataset_store, ui.data.saving on the Data page)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.data.dataset_store import (
    DatasetNameTaken,
    free_dataset_name,
    list_datasets,
    load_dataset_info,
    replace_dataset,
    save_dataset,
)
from core.workspace import safe_name
from tests.support.paths import ROOT


def rows(count: int) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"review {i}" for i in range(count)], "label": ["good", "bad"] * (count // 2)})


def save(workspace, name: str, count: int = 4, **options):
    return save_dataset(workspace, name, "text-classification", rows(count), rows(2), source="test", **options)


@pytest.mark.parametrize(("typed", "folder"), [
    ("日本語", "日本語"), ("中文数据", "中文数据"), ("हिन्दी डेटा", "हिन्दी-डेटा"), ("José García", "José-García"),
    ("cafe\u0301", "café"),  # a decomposed é is stored composed
    ("../../etc/passwd", "etc-passwd"), ("\u202etxt.exe", "txt.exe"), ("a/b\\c", "a-b-c"), ("  ", "dataset"),
    ("reviews-2024_v2.1", "reviews-2024_v2.1"), ("a--b", "a--b"),  # names saved before keep their folders
])
def test_a_name_keeps_its_letters_in_any_script_and_nothing_that_could_leave_the_folder(typed, folder):
    assert safe_name(typed, "dataset") == folder


def test_two_datasets_named_in_japanese_and_chinese_are_both_kept(workspace):
    save(workspace, "日本語", 4)
    save(workspace, "中文数据", 6)
    assert sorted((d.name, d.info.train_rows) for d in list_datasets(workspace)) == [("中文数据", 6), ("日本語", 4)]
    assert load_dataset_info(workspace, "日本語").info.train_rows == 4


def test_saving_under_a_taken_name_is_refused_and_the_old_dataset_is_untouched(workspace):
    save(workspace, "reviews", 4)
    with pytest.raises(DatasetNameTaken, match="There is already a dataset called “reviews”"):
        save(workspace, "reviews", 8)
    assert load_dataset_info(workspace, "reviews").info.train_rows == 4
    assert [p.name for p in workspace.datasets.iterdir()] == ["reviews"]  # no staging folder left behind
    assert save(workspace, "reviews", 8, replace=True).info.train_rows == 8


def test_a_free_name_and_replacing_whole(workspace):
    save(workspace, "reviews", 4)
    save(workspace, "reviews-2", 4)
    assert free_dataset_name(workspace, "reviews") == "reviews-3"
    assert free_dataset_name(workspace, "other") == "other"
    newer = save(workspace, free_dataset_name(workspace, "reviews"), 10)
    replaced = replace_dataset(workspace, newer, "reviews")
    assert replaced.name == "reviews" and load_dataset_info(workspace, "reviews").info.train_rows == 10
    assert sorted(p.name for p in workspace.datasets.iterdir()) == ["reviews", "reviews-2"]


# ---------------------------------------------------------------------------------------------------- the Data page


def data_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/data.py")
    at.run()
    at.radio(key="data_text_source").set_value("Use the built-in sample (café feedback)").run()
    return at


def said(at) -> str:
    return " ".join(str(e.value) for e in [*at.success, *at.warning, *at.error])


def test_the_data_page_asks_before_replacing_a_dataset(workspace):
    at = data_page()
    at.text_input(key="data_text_name").set_value("日本語").run()
    at.button(key="data_text_save").click().run()
    assert "Saved “日本語”" in said(at)
    first = load_dataset_info(workspace, "日本語").folder.stat().st_mtime_ns

    at.button(key="data_text_save").click().run()  # the same name again: a question, nothing written
    assert "There is already a dataset called “日本語”" in said(at) and "Saved" not in said(at)
    assert load_dataset_info(workspace, "日本語").folder.stat().st_mtime_ns == first

    at.button(key="data_text_save_free").click().run()
    assert "Saved “日本語-2”" in said(at)
    assert sorted(d.name for d in list_datasets(workspace)) == ["日本語", "日本語-2"]

    at.slider(key="data_text_share").set_value(0.3).run()  # other rows this time, then replace the first
    at.button(key="data_text_save").click().run()
    at.button(key="data_text_replace").click().run()
    assert "Saved “日本語”" in said(at) and not at.exception
    assert sorted(d.name for d in list_datasets(workspace)) == ["日本語", "日本語-2"]
    assert load_dataset_info(workspace, "日本語").info.validation_rows == 108  # 30 % of the 360 sample texts
