"""The image flow as a person does it, in headless Chromium: upload a zip of class folders, save it, train a tiny
CNN, see it finish, and classify an image in the Playground."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect

from core.tasks.image_classification.data import write_digits_sample
from tests.support.browser import set_number, wait_for_app

pytestmark = pytest.mark.browser


def test_upload_a_zip_train_a_cnn_and_classify_an_image(app_server, page, tmp_path):
    folder = write_digits_sample(tmp_path / "digits", per_class=10, side=16, digits_wanted=(0, 1, 7))
    archive = shutil.make_archive(str(tmp_path / "digits"), "zip", root_dir=folder)

    page.goto(f"{app_server}/data")
    wait_for_app(page)
    page.get_by_role("radio", name="Images in class folders").click()
    expect(page.get_by_text("1 · Your images")).to_be_visible()
    wait_for_app(page)
    page.locator("input[type=file]").first.set_input_files(archive)
    expect(page.get_by_text("30 images in 3 classes.")).to_be_visible()
    expect(page.get_by_text("Images per class").first).to_be_visible(timeout=20_000)  # the class-count chart
    expect(page.get_by_text("How the model sees them")).to_be_visible()
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text(re.compile("Saved “digits”: 24 training and 6 validation images"))).to_be_visible()

    page.get_by_role("link", name=re.compile("Train a model on it")).click()
    expect(page.get_by_text("Training settings")).to_be_visible()
    expect(page.get_by_text("The classic convolutional network")).to_be_visible()  # from scratch, CNN by default
    channels = page.get_by_role("textbox", name="Conv channels")
    channels.fill("8, 16")
    channels.press("Enter")
    wait_for_app(page)
    set_number(page, "Epochs", 6)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("completed")).to_be_visible(timeout=120_000)
    expect(page.locator(".js-plotly-plot").first).to_be_attached()  # the live loss chart

    page.goto(f"{app_server}/playground")
    page.locator("input[type=file]").first.set_input_files(str(folder / "7" / "7_000.png"))
    expect(page.get_by_text(re.compile(r"\(\d+% sure\)"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile("Top 3 classes"))).to_be_visible()
