"""The text flow as a person does it, in headless Chromium: upload a CSV, save it, train, watch, predict."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.data.sample_datasets import cafe_feedback
from tests.support.browser import build_bag_of_embeddings, set_number, wait_for_app

pytestmark = pytest.mark.browser


def progress(page) -> tuple[int, int]:
    """(step, total steps) from the progress line."""
    text = page.get_by_text(re.compile(r"step [\d,]+ of [\d,]+")).first.inner_text()
    step, total = re.search(r"step ([\d,]+) of ([\d,]+)", text).groups()
    return int(step.replace(",", "")), int(total.replace(",", ""))


def test_upload_train_watch_and_predict(app_server, page, tmp_path):
    csv = tmp_path / "reviews.csv"
    cafe_feedback(rows_per_class=150).to_csv(csv, index=False)

    page.goto(f"{app_server}/data")
    page.locator("input[type=file]").first.set_input_files(str(csv))
    expect(page.get_by_text("450 examples in 3 classes are ready.")).to_be_visible()
    # The first chart waits for Plotly's 4.7 MB of JavaScript: seconds on a busy machine.
    expect(page.get_by_text("Examples per class").first).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text(re.compile("Saved “reviews”"))).to_be_visible()

    page.get_by_role("link", name=re.compile("Train a model on it")).click()
    expect(page.get_by_text("Training settings")).to_be_visible(timeout=30_000)
    build_bag_of_embeddings(page)
    set_number(page, "Epochs", 100)  # ~1,200 steps: long enough to be seen moving, even on a loaded machine
    page.get_by_role("button", name="Start training").click()

    # The progress line and the loss chart update while the run trains, without touching the page.
    expect(page.get_by_text(re.compile(r"step [1-9][\d,]* of"))).to_be_visible(timeout=60_000)
    first, total = progress(page)
    assert first < total, "the run ended before the page could show it live"
    # Steps past 999 are written with a thousands comma ("step 1,024 of 1,350").
    page.wait_for_function(
        f"() => {{ const m = /step ([\\d,]+) of/.exec(document.body.innerText); "
        f"return m !== null && parseInt(m[1].replace(/,/g, '')) > {first}; }}", timeout=60_000)
    expect(page.locator(".js-plotly-plot .scatterlayer .trace").first).to_be_attached()
    expect(page.get_by_text("completed")).to_be_visible(timeout=120_000)

    # On the Runs page, the run's settings and log are filled in when their tab is opened.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Run “"))).to_be_visible()
    page.get_by_test_id("stTab").filter(has_text="Settings").click()
    expect(page.get_by_text("Run it again without the app")).to_be_visible()
    page.get_by_test_id("stTab").filter(has_text="Log").click()
    expect(page.get_by_text(re.compile("eval_loss")).first).to_be_visible()

    page.goto(f"{app_server}/playground")
    page.get_by_label(re.compile("Text to classify")).fill("Is the soup vegan?")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_text(re.compile(r"question\*?\*? \(\d+% sure\)|question \(\d+% sure\)"))).to_be_visible()


def test_train_page_opens_the_saved_dataset_and_keeps_the_form(app_server, page, tmp_path, sample_dataset):
    # "cafe" is saved already and sorts first: the link used to open it instead of the dataset just saved.
    csv = tmp_path / "reviews.csv"
    cafe_feedback(rows_per_class=40).to_csv(csv, index=False)
    page.goto(f"{app_server}/data")
    page.locator("input[type=file]").first.set_input_files(str(csv))
    expect(page.get_by_text("120 examples in 3 classes are ready.")).to_be_visible(timeout=30_000)
    wait_for_app(page)
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text(re.compile("Saved “reviews”"))).to_be_visible(timeout=30_000)
    page.get_by_role("link", name=re.compile("Train a model on it")).click()
    expect(page.get_by_text("Training on reviews:")).to_be_visible(timeout=30_000)

    page.get_by_text("Build one from scratch").click()
    wait_for_app(page)
    set_number(page, "Epochs", 7)

    # Away to another page through the sidebar and back: every knob used to come back empty, with
    # "'<=' not supported between instances of 'str' and 'int'".
    sidebar = page.get_by_test_id("stSidebarNav")
    sidebar.get_by_role("link", name="Runs", exact=True).click()
    wait_for_app(page)
    sidebar.get_by_role("link", name="Train", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Training on reviews:")).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Epochs")).to_have_value("7")  # as people write it, not "7.000"
    expect(page.get_by_role("radio", name="Build one from scratch")).to_be_checked()
    expect(page.get_by_text("not supported between")).to_have_count(0)

    # A refresh starts a new session: the form's choices come back from the URL. (For a moment, while the first
    # run of the new session is drawn, the box shows its minimum.)
    page.reload()
    wait_for_app(page)
    expect(page.get_by_text("Training on reviews:")).to_be_visible()
    expect(page.get_by_role("spinbutton", name="Epochs")).to_have_value("7", timeout=30_000)
    expect(page.get_by_role("radio", name="Build one from scratch")).to_be_checked()
    expect(page.get_by_role("spinbutton", name="Batch size")).to_have_value("32")
