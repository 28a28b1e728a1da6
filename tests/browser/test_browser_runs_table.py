"""The Runs page's table in headless Chromium (issue 17, item 5): "Click a row to open the run" is true for a click
anywhere on the row, not only on its small checkbox."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.engine.runs import list_runs
from tests.core.engine.test_damaged_runs import healthy_run
from tests.support.browser import wait_for_app

pytestmark = pytest.mark.browser

HEADER_PX = 35  # Streamlit's dataframe: the column header and every row are 35 px high by default
ROW_PX = 35


def click_row(page, index: int, across: float) -> None:
    """Click inside row `index` of the page's first table, `across` (0–1) of the way along it."""
    box = page.get_by_test_id("stDataFrame").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * across, box["y"] + HEADER_PX + ROW_PX * index + ROW_PX / 2)


def test_a_click_on_a_runs_cell_opens_that_run(app_server, page, workspace):
    for _ in range(3):
        healthy_run(workspace)
    runs = [run.id for run in list_runs(workspace)]  # in the table's order
    page.goto(f"{app_server}/runs")
    expect(page.get_by_text("Click a row to open the run.")).to_be_visible(timeout=60_000)
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Run “", exact=False)).to_have_count(0)

    click_row(page, 1, across=0.5)  # the middle of the second row, far from its checkbox
    expect(page.get_by_role("heading", name=f"Run “{runs[1]}”")).to_be_visible(timeout=30_000)
    wait_for_app(page)

    click_row(page, 2, across=0.8)  # another row, another column
    expect(page.get_by_role("heading", name=f"Run “{runs[2]}”")).to_be_visible(timeout=30_000)
    assert f"run={runs[2]}" in page.evaluate("location.href")  # a refresh keeps it open
