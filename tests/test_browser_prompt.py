"""The Prompt lab as a person uses it, in headless Chromium: load a model from a folder, evaluate a few-shot prompt
on the held-out examples, then compare the prompts with a fine-tuned classifier."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import wait_for_app
from tests.test_prompt_lab_page import finished_classifier_run, make_tiny_lm

pytestmark = pytest.mark.browser


def test_few_shot_evaluation_and_the_comparison_table(workspace, sample_dataset, app_server, page):
    folder = make_tiny_lm(workspace.root / "tiny-lm")
    run = finished_classifier_run(workspace, "cafe", sample_dataset.info.labels)
    held_out = sample_dataset.info.validation_rows

    page.goto(f"{app_server}/prompt_lab")
    expect(page.get_by_text("Load a model to start")).to_be_visible(timeout=90_000)  # first run imports torch
    page.get_by_role("combobox", name="Language model").click()
    page.get_by_role("option", name=re.compile("Another model")).click()
    wait_for_app(page)
    box = page.get_by_role("textbox", name="Folder or Hugging Face id")
    box.fill(str(folder))
    box.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("^Load ")).click()
    expect(page.get_by_text(re.compile(r"The prompt the model reads: \d+ tokens"))).to_be_visible(timeout=60_000)

    page.get_by_role("button", name=f"Evaluate this prompt on {held_out} held-out examples").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Accuracy")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(re.compile(r"\d+\.\d%"))

    page.get_by_test_id("stTab").filter(has_text="Prompt or fine-tune").first.click()
    page.get_by_role("button", name=re.compile(r"Compare on \d+ held-out examples")).click()
    expect(page.get_by_text(re.compile(r"Best on these \d+ examples"))).to_be_visible(timeout=60_000)
    compare_tab = page.get_by_role("tabpanel").filter(has_text="Where they disagree")
    expect(compare_tab.get_by_test_id("stDataFrame").first).to_be_visible()
    # The bar chart names every approach: both prompts and the fine-tuned run.
    chart = compare_tab.locator(".js-plotly-plot").first
    for name in ("zero-shot prompt", "4-shot prompt", f"fine-tuned: {run.id}"):
        expect(chart.get_by_text(name)).to_be_attached()
