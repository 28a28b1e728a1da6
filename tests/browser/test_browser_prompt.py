"""The Prompt lab as a person uses it, in headless Chromium: load a model from a folder, measure a few-shot prompt on
the held-out examples, compare the prompts with a trained classifier; and on a new dataset of named topics, find
the best prompt, leave the page and come back to the same prompt."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.pages.test_prompt_lab_page import NEWS, finished_classifier_run, make_tiny_lm, save_rows
from tests.support.browser import wait_for_app

pytestmark = pytest.mark.browser


def load_model(page, app_server: str, folder) -> None:
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
    expect(page.get_by_text(re.compile(r"What the model reads: \d+ tokens"))).to_be_visible(timeout=60_000)


def test_few_shot_evaluation_and_the_comparison_table(workspace, sample_dataset, app_server, page):
    folder = make_tiny_lm(workspace.root / "tiny-lm")
    run = finished_classifier_run(workspace, "cafe", sample_dataset.info.labels)
    held_out = sample_dataset.info.validation_rows
    load_model(page, app_server, folder)

    page.get_by_role("button", name=f"Measure this prompt on {held_out} held-out examples").click()
    expect(page.get_by_test_id("stMetric").filter(has_text="Accuracy")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(re.compile(r"\d+\.\d%"))

    page.get_by_test_id("stTab").filter(has_text="Prompt or fine-tune").first.click()
    page.get_by_role("button", name=re.compile(r"Compare on \d+ held-out examples")).click()
    expect(page.get_by_text(re.compile(r"Best on these \d+ examples"))).to_be_visible(timeout=60_000)
    compare_tab = page.get_by_role("tabpanel").filter(has_text="Where they disagree")
    expect(compare_tab.get_by_text(f"Every approach answers all {held_out} held-out examples of “cafe”.",
                                   exact=False).first).to_be_visible()
    # The bar chart names every approach: both prompts, the trained run and the floor.
    chart = compare_tab.locator(".js-plotly-plot").first
    for name in ("prompt without worked examples", "prompt with 8 worked examples", f"trained: {run.id}",
                 "Guessing"):
        expect(chart.get_by_text(name)).to_be_attached()


def test_a_new_topic_dataset_finds_its_best_prompt_and_keeps_it_across_pages(workspace, app_server, page):
    save_rows(workspace, "news", [(label, f"{text} ({number})") for number in range(12) for label, text in NEWS])
    load_model(page, app_server, make_tiny_lm(workspace.root / "tiny-lm"))
    # The classes' names are the answer words, and the text is shown as a topic, not a review.
    expect(page.get_by_role("textbox", name="Sci/Tech")).to_have_value("sci/tech")
    expect(page.get_by_text("Topic:").first).to_be_visible()

    page.get_by_role("button", name="Find the best prompt").click()
    expect(page.get_by_text(re.compile(r"The best of \d+ prompts is now in use below"))).to_be_visible(
        timeout=240_000)
    expect(page.get_by_text("best prompt for news").first).to_be_visible()
    assert (workspace.root / "recipes" / "best-prompt-for-news.json").is_file()
    sports = page.get_by_role("textbox", name="Sports")
    sports.fill("football")
    sports.press("Enter")
    wait_for_app(page)

    page.get_by_role("link", name=re.compile("Data")).first.click()
    wait_for_app(page)
    page.get_by_role("link", name=re.compile("Prompt lab")).first.click()
    expect(page.get_by_role("textbox", name="Sports")).to_have_value("football", timeout=60_000)
    expect(page.get_by_text(re.compile(r"The best of \d+ prompts is now in use below"))).to_be_visible()
    page.reload()  # a new session: the URL brings the model, the prompt and the search back
    expect(page.get_by_role("textbox", name="Sports")).to_have_value("football", timeout=90_000)
