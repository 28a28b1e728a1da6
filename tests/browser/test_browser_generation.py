"""The language-model flow as a person does it, in headless Chromium: upload a plain text, save it, train a tiny
character GPT from scratch, read its samples under the chart, and make it write in the Playground."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.tasks.text_generation.samples import lighthouse_log
from tests.support.browser import set_number, wait_for_app

pytestmark = pytest.mark.browser


def test_upload_text_train_a_character_gpt_see_samples_and_generate(app_server, page, tmp_path):
    text_file = tmp_path / "keeper.txt"
    text_file.write_text(lighthouse_log()[:30_000])

    page.goto(f"{app_server}/data")
    page.get_by_text("Text for a language model").click()
    expect(page.get_by_text("Where is your text?")).to_be_visible()
    wait_for_app(page)
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="A .txt file to imitate")
    uploader.locator("input[type=file]").set_input_files(str(text_file))
    expect(page.get_by_text(re.compile(r"30,000 characters on [\d,]+ lines"))).to_be_visible()
    # The first chart waits for Plotly's 4.7 MB of JavaScript: seconds on a busy machine.
    expect(page.get_by_text("Text length (characters per line)").first).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text(re.compile("Saved “keeper”: [\\d,]+ characters to train on"))).to_be_visible()

    page.get_by_role("link", name=re.compile("Train a model on it")).click()
    expect(page.get_by_text("Training settings")).to_be_visible(timeout=30_000)
    page.get_by_text("Build one from scratch").click()
    wait_for_app(page)
    expect(page.get_by_text("A decoder-only Transformer")).to_be_visible()  # the small GPT
    set_number(page, "Num heads", 4)
    set_number(page, "Embedding dim", 64)
    set_number(page, "Num layers", 2)
    set_number(page, "Max length", 64)
    set_number(page, "Epochs", 1)
    page.get_by_text("More settings: evaluation").click()
    set_number(page, "Eval every", 5)  # three checks, so three samples, in a run of 14 steps
    page.get_by_role("button", name="Start training").click()

    # Samples from the fixed prompt appear under the chart while it trains, then the run completes.
    expect(page.get_by_text("What the model writes")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"^Step \d+$")).first).to_be_visible(timeout=120_000)
    expect(page.get_by_text("completed")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("Validation perplexity (lower is better)").first).to_be_visible()  # stale copy mid-rerun

    page.goto(f"{app_server}/playground")
    expect(page.get_by_text("continues the text you start")).to_be_visible(timeout=60_000)
    page.get_by_label("Prompt").fill("4 June 1887. Wind")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("The model writes:")).to_be_visible()
    # The prompt, then the model's 200 characters streamed in below it.
    written = page.locator("[class*='st-key-play_gen_'][class*='_output']")
    expect(written).to_have_text(re.compile(r"^\s*4 June 1887\. Wind[\s\S]{180,}$"), timeout=60_000)
