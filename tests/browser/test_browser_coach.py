"""The coach as a person meets it, in headless Chromium (issue 18): a messy file where one class is 87 % of the
rows, the time and memory shown before Start, a run that collapses onto that class, the diagnosis in plain words,
its one-click remedy, and the new run that does better.

The from-scratch bag of embeddings with the Quick preset answers "complaint" for every café message when 260 of
300 rows are complaints (macro-F1 0.31); class weights, the remedy, bring it to about 0.9 (0.88-0.95 here).
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from playwright.sync_api import expect

from core.data.sample_datasets import cafe_feedback
from tests.support.browser import build_bag_of_embeddings, photograph, wait_for_app

pytestmark = pytest.mark.browser


def skewed_cafe() -> pd.DataFrame:
    """260 complaints, 20 praises and 20 questions: the shape of ham among spam."""
    frame = cafe_feedback(rows_per_class=260).rename(columns={"message": "text", "category": "label"})
    parts = [frame[frame.label == "complaint"].iloc[:260], frame[frame.label == "praise"].iloc[:20],
             frame[frame.label == "question"].iloc[:20]]
    return pd.concat(parts).sample(frac=1, random_state=0)


def macro_f1(page) -> float:
    metric = page.get_by_test_id("stMetric").filter(has_text="Macro-F1").first
    return float(metric.get_by_test_id("stMetricValue").inner_text())


def test_estimate_train_diagnose_remedy_and_improve(app_server, page, tmp_path):
    csv = tmp_path / "complaints.csv"
    skewed_cafe().to_csv(csv, index=False)
    page.goto(f"{app_server}/data")
    page.locator("input[type=file]").first.set_input_files(str(csv))
    expect(page.get_by_text("300 examples in 3 classes are ready.")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile(r"The classes are uneven: 86.7 % of the texts are “complaint”"))).to_be_visible()
    wait_for_app(page)
    page.get_by_role("button", name="Save dataset").click()
    page.get_by_role("link", name=re.compile("Train a model on it")).click()
    expect(page.get_by_text("Training on complaints:")).to_be_visible(timeout=30_000)

    build_bag_of_embeddings(page)
    page.get_by_role("radio", name=re.compile("^Quick")).click()
    wait_for_app(page)
    # Before Start: measured on this machine, by a few real steps of exactly these settings.
    estimate = page.get_by_text(re.compile(
        r"Quick · (about .+|up to .+|under a minute) on this CPU · needs ~[\d.]+ [KMG]B of [\d.]+ [KMG]B"))
    expect(estimate).to_be_visible(timeout=120_000)
    photograph(page, "coach_estimate")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("completed").first).to_be_visible(timeout=180_000)

    page.get_by_role("link", name=re.compile("See it with its evaluation on the Runs page")).click()
    expect(page.get_by_text("Collapse onto one class").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile(r"It answered “complaint” for [\d.]+ % of the validation rows"))).to_be_visible()
    first = macro_f1(page)
    photograph(page, "coach_diagnosis")
    # Runs on two threads are not bit-for-bit repeatable, and this one lands either fully collapsed (macro-F1
    # 0.31: "complaint" for every row) or nearly (0.45–0.54: a few praises found); both are diagnosed as collapse.
    assert first < 0.6, f"the first run was meant to collapse onto “complaint”, but its macro-F1 is {first}"

    # One click: the remedy's run starts, says what it changes and which run it improves on.
    # The most pressing diagnosis comes first, its button with it.
    page.get_by_role("button", name="Start a new run with this change").first.click()
    expect(page.get_by_text(re.compile(r"This run tries the change suggested for run “.+” \(collapse\): "
                                       r"class weights → on\."))).to_be_visible(timeout=30_000)
    # The new run's own panel (the runs table above draws its cells on a canvas, their text hidden).
    expect(page.get_by_text("completed").filter(visible=True).first).to_be_visible(timeout=180_000)
    page.reload()  # the finished run's evaluation, drawn whole
    wait_for_app(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Macro-F1").first).to_be_visible(timeout=30_000)
    better = macro_f1(page)
    assert better >= 0.8 and better > first + 0.25, f"macro-F1 {first} -> {better}"
    photograph(page, "coach_improved")
    expect(page.get_by_text("Collapse onto one class", exact=True)).to_have_count(0)  # the title, not the all-clear
