"""Files people really have, in headless Chromium (issue 17, items 6, 7, 8 and 10): the UCI-like SMSSpamCollection
(no extension, no header, 87 % ham) goes in as it is, the page says what it assumed about the first row and one click
changes it; an AG-News-like CSV labelled 1–4 gets its title and description joined and its classes named from
classes.txt; a quick run on it shows the names in the Runs evaluation and the Playground, with the score of always
answering the most common class beside the accuracy. Screenshots of each step are kept under test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import build_bag_of_embeddings, photograph, pick, set_number, wait_for_app
from tests.support.real_files import CLASSES_TXT, news_csv, sms_collection

pytestmark = pytest.mark.browser


def save_as(page, name: str) -> None:
    box = page.get_by_role("textbox", name="Dataset name")
    box.fill(name)
    box.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text(re.compile(f"Saved “{name}”"))).to_be_visible()


def test_sms_without_extension_or_header_goes_in_and_the_first_row_can_change(app_server, page, tmp_path):
    sms = tmp_path / "SMSSpamCollection"
    sms.write_bytes(sms_collection(600))
    page.goto(f"{app_server}/data")
    wait_for_app(page)
    page.locator("input[type=file]").first.set_input_files(str(sms))
    expect(page.get_by_text("600 rows · 2 columns · read as TSV")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile("The first row was read as data, not as column names"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"87\.3 % of the texts are “ham”"))).to_be_visible()
    expect(page.get_by_text(re.compile("10 rows would have vanished"))).to_be_visible()
    photograph(page, "real_files_sms_data")

    page.get_by_text("The first row holds the column names", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("599 rows · 2 columns · read as TSV")).to_be_visible()
    expect(page.get_by_text("As you chose, the first row holds the column names.")).to_be_visible()
    page.get_by_text("The first row holds the column names", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("600 rows · 2 columns · read as TSV")).to_be_visible()
    save_as(page, "sms")
    expect(page.get_by_text(re.compile("Saved “sms”: 478 training and 119 validation examples"))).to_be_visible()


def test_news_named_from_classes_txt_trains_and_shows_the_names(app_server, page, tmp_path):
    news, classes = tmp_path / "train.csv", tmp_path / "classes.txt"
    news.write_bytes(news_csv(60))
    classes.write_text(CLASSES_TXT)
    page.goto(f"{app_server}/data")
    wait_for_app(page)
    page.locator("input[type=file]").first.set_input_files(str(news))
    expect(page.get_by_text("240 rows · 3 columns · read as CSV")).to_be_visible(timeout=30_000)
    wait_for_app(page)
    pick(page, "Column with the text", "column 2")  # the title first…
    pick(page, re.compile("Join more text columns"), "column 3")  # …then the description
    page.keyboard.press("Escape")
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"Each text is column 2 \+ column 3, joined with a full stop"))).to_be_visible()

    page.locator("input[type=file]").nth(1).set_input_files(str(classes))
    wait_for_app(page)
    expect(page.get_by_text("Saved as: 1 → World, 2 → Sports, 3 → Business, 4 → Sci/Tech")).to_be_visible()
    expect(page.locator(".js-plotly-plot").filter(has_text="Sci/Tech").first).to_be_visible()  # the class chart
    photograph(page, "real_files_news_data")
    save_as(page, "news")

    page.get_by_role("link", name=re.compile("Train a model on it")).click()
    expect(page.get_by_text("Training on news:")).to_be_visible(timeout=30_000)
    build_bag_of_embeddings(page)
    set_number(page, "Epochs", 20)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("completed")).to_be_visible(timeout=240_000)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Run “"))).to_be_visible()
    floor = page.get_by_test_id("stMetric").filter(has_text="Always the most common class")
    expect(floor).to_be_visible(timeout=60_000)
    expect(floor).to_contain_text("25.0%")  # four classes of 60: always one of them is right a quarter of the time
    confusion = page.locator(".js-plotly-plot").filter(has_text="World")
    expect(confusion.first).to_be_visible()
    for name in ("Sports", "Business", "Sci/Tech"):
        expect(confusion.filter(has_text=name).first).to_be_attached()
    photograph(page, "real_files_news_runs")

    page.goto(f"{app_server}/playground")
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"Validation:\W*accuracy [\d.]+ % \(always answering “\w+” gets [\d.]+ %\)")
                            )).to_be_visible(timeout=60_000)
    page.get_by_label(re.compile("Text to classify")).fill("Striker and coach in the news. The league said on Tuesday")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_text(re.compile(r"Sports\*?\*? \(\d+% sure\)"))).to_be_visible(timeout=60_000)
    photograph(page, "real_files_news_playground")
