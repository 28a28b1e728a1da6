"""The table flow as a person does it, in headless Chromium: upload a CSV, pick the column to predict, save, train
the small network, see it finish, and get a prediction from the Playground's form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.core.tasks.tabular.test_tabular_pipeline import people
from tests.support.browser import pick, set_number, wait_for_app

pytestmark = pytest.mark.browser


def test_upload_a_table_pick_the_target_train_and_predict(app_server, page, tmp_path):
    csv = tmp_path / "customers.csv"
    people().to_csv(csv, index=False)  # ID, numbers with gaps, categories, free text; 'spend' comes last

    page.goto(f"{app_server}/data")
    wait_for_app(page)
    page.get_by_role("radio", name="A table (predict a column)").click()
    expect(page.get_by_text("1 · Your table")).to_be_visible()
    wait_for_app(page)
    page.locator("input[type=file]").first.set_input_files(str(csv))
    expect(page.get_by_text(re.compile(r"Suggested regression"))).to_be_visible(timeout=20_000)  # the last column

    pick(page, re.compile("Column to predict"), "bought")
    expect(page.get_by_text(re.compile(r"Suggested classification"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Left out to start with: customer_id"))).to_be_visible()
    expect(page.get_by_text("What will be done to each column", exact=False)).to_be_visible()
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text(re.compile("Saved “customers”: 96 training and 24 validation rows"))).to_be_visible()

    page.get_by_role("link", name=re.compile("Train a model on it")).click()
    expect(page.get_by_text("Training settings")).to_be_visible()
    expect(page.get_by_text("The classic small network")).to_be_visible()  # the MLP, from scratch
    set_number(page, "Epochs", "15")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("completed")).to_be_visible(timeout=120_000)
    expect(page.locator(".js-plotly-plot").first).to_be_attached()  # the live loss chart

    page.goto(f"{app_server}/playground")
    wait_for_app(page)
    expect(page.get_by_role("spinbutton", name="income", exact=True)).to_be_visible(timeout=60_000)
    set_number(page, "income", "95")
    expect(page.get_by_text(re.compile(r"Predicted bought: (yes|no) \(\d+% sure\)"))).to_be_visible()
    expect(page.get_by_text("Class probabilities").first).to_be_visible()  # a stale copy may linger mid-rerun
