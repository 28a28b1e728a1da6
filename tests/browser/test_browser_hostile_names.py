"""Hostile names and labels in headless Chromium, on a hosted app with two people (issue 21, item 2).

Mallory signs in as `![zqp](http://127.0.0.1:PORT/person.png)`, PORT being a local HTTP server that records every
request. Her workspace holds a dataset named like a web address, whose classes are a link, an image and Streamlit's
own syntax, a trained classifier and a language model's run whose samples are Markdown. She uploads a file whose
columns and labels are hostile too, starts a run (it waits in the queue: nothing trains here), and opens the Data,
Train, Runs, Playground and Prompt lab pages; Bob opens the Runs page (the queue says who started her run) and the
Team page (her run, her name). On every page: the server got no request, and no link or image points at it.
"""

from __future__ import annotations

import http.server
import re
import threading

import pandas as pd
import pytest
from playwright.sync_api import expect

from core.hosting.people import Person, Team
from tests.browser.test_browser_signin import TEAM_PASSWORD, sign_in
from tests.pages.test_hostile_names import DATASET, hostile, hostile_workspace
from tests.pages.test_prompt_lab_page import make_tiny_lm
from tests.support.browser import free_port, start_served_app, stop_app, wait_for_app

pytestmark = pytest.mark.browser
WORD_JOINER = "\u2060"


@pytest.fixture
def tracker():
    """A local HTTP server that records the path of every request it gets: (its URL, the paths)."""
    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


@pytest.fixture
def hosted(workspace, tmp_path, tracker):
    """Mallory's workspace made hostile, and the hosted app (queued runs wait: this machine trains nothing)."""
    url, _ = tracker
    names = hostile(url)
    team = Team(workspace.root)
    mallory = Person(identity=names["person"].lower(), name=names["person"])
    space = team.register(mallory)
    classifier, writer = hostile_workspace(space, url)
    make_tiny_lm(space.root / "tiny-lm")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'team_password = "{TEAM_PASSWORD}"\n')
    server, app = start_served_app(workspace.root, {"AI_PLAYGROUND_HOSTED": "true",
                                                    "AI_PLAYGROUND_CONSUME_HERE": "false",
                                                    "STREAMLIT_SECRETS_FILES": str(secrets)})
    yield app, names, mallory, classifier, writer
    stop_app(server, workspace.root)


def nothing_points_at(page, tracker_url: str, hits: list[str], requested: list[str]) -> None:
    """After the page settles: no request reached the tracker, and no link or image (HTML or a chart's SVG) names
    it."""
    wait_for_app(page)
    page.wait_for_timeout(1500)  # an image in the page would have been asked for by now
    pointing = page.evaluate(r"""(url) => {
        const found = [];
        for (const link of document.querySelectorAll('a')) {
            const href = link.getAttribute('href') || link.getAttribute('xlink:href')
                || link.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || '';
            // the tracker, a bare address made a link (www.zqd.example), or a mail link
            if (href.includes(url) || /^(https?:)?\/\/[^/]*zq/.test(href) || href.startsWith('mailto:')) {
                found.push('link ' + href);
            }
        }
        for (const image of document.querySelectorAll('img, image')) {
            const src = image.getAttribute('src') || image.getAttribute('href') || '';
            if (src.includes(url)) found.push('image ' + src);
        }
        return found;
    }""", tracker_url)
    assert pointing == [] and hits == [] and requested == []


def chart_drawn(page, index: int = 0) -> None:
    """The page's chart number `index` drawn (plotly draws a chart once it is scrolled into view)."""
    chart = page.get_by_test_id("stPlotlyChart").nth(index)
    chart.scroll_into_view_if_needed(timeout=60_000)
    expect(chart.locator(".main-svg").first).to_be_attached(timeout=60_000)


def visible(page) -> str:
    return page.evaluate("document.body.innerText").replace(WORD_JOINER, "")


def open_as(chromium, app: str, path: str, name: str):
    """A new tab on `path`, signed in as `name` (each tab is a new session, which asks for the password)."""
    tab = chromium.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    tab.set_default_timeout(60_000)
    tab.goto(f"{app}{path}")
    sign_in(tab, name, TEAM_PASSWORD)
    return tab


def test_hostile_names_and_labels_reach_every_page_as_text(hosted, tracker, chromium, tmp_path):
    app, names, mallory, classifier, writer = hosted
    tracker_url, hits = tracker
    expect.set_options(timeout=60_000)  # a page's first run on a busy machine
    requested: list[str] = []

    def watch(tab):
        tab.on("request", lambda request: requested.append(request.url) if tracker_url in request.url else None)
        return tab

    # Data: an upload whose columns and labels are hostile; its checks, class names, balance warning and chart.
    data = watch(open_as(chromium, app, "/data", names["person"]))
    upload = tmp_path / "reviews.csv"
    pd.DataFrame({f"review [zqt]({tracker_url}/column)": [f"text number {i} is here" for i in range(40)],
                  "<b>zqc</b>": [names["label_image"]] * 36 + [names["label_link"]] * 4}).to_csv(upload, index=False)
    data.locator("input[type=file]").first.set_input_files(str(upload))
    expect(data.get_by_text("Name the classes", exact=False).or_(data.get_by_text("Rename the classes")).first
           ).to_be_visible()
    chart_drawn(data)
    nothing_points_at(data, tracker_url, hits, requested)
    assert names["label_image"] in visible(data) and f"Signed in as {names['person']}" in visible(data)
    data.context.close()

    # Train: her dataset by name, and a run started from it (it waits in the queue, started by her).
    train = watch(open_as(chromium, app, f"/train?dataset={DATASET}", names["person"]))
    expect(train.get_by_role("button", name="Start training")).to_be_visible()
    assert f"Training on {DATASET}" in visible(train)
    train.get_by_role("button", name="Start training").click()
    expect(train.get_by_text("Run “", exact=False).first).to_be_visible()
    nothing_points_at(train, tracker_url, hits, requested)
    train.context.close()

    # Runs: the queue, the table, the trained run's live panel, charts and evaluation; the language model's samples.
    runs = watch(open_as(chromium, app, f"/runs?run={classifier.id}", names["person"]))
    expect(runs.get_by_text("started by")).to_be_visible()
    for index in range(4):  # the curves, the confusion matrix, precision and recall per class
        chart_drawn(runs, index)
    nothing_points_at(runs, tracker_url, hits, requested)
    assert names["label_link"] in visible(runs)
    runs.context.close()
    samples = watch(open_as(chromium, app, f"/runs?run={writer.id}", names["person"]))
    expect(samples.get_by_text("zqg", exact=False).first).to_be_visible()
    nothing_points_at(samples, tracker_url, hits, requested)
    assert names["prompt"] in visible(samples)
    samples.context.close()

    # Playground: the predicted class in words and in the chart.
    play = watch(open_as(chromium, app, f"/playground?run={classifier.id}", names["person"]))
    box = play.get_by_role("textbox", name="Text to classify")
    box.fill("The cake was lovely and the staff were kind.")
    box.press("Control+Enter")
    chart_drawn(play)
    nothing_points_at(play, tracker_url, hits, requested)
    play.context.close()

    # Prompt lab: a hostile model name refused in words, then the tiny model of her workspace and its label words.
    lab = watch(open_as(chromium, app, "/prompt_lab", names["person"]))
    lab.get_by_test_id("stSelectbox").filter(has_text="Language model").click()
    lab.get_by_role("option", name="Another model: a folder or a Hugging Face id").click()
    other = lab.get_by_role("textbox", name="Folder or Hugging Face id")
    other.fill(f"![zqm]({tracker_url}/model.png)")
    other.press("Enter")
    wait_for_app(lab)
    nothing_points_at(lab, tracker_url, hits, requested)
    other.fill("tiny-lm")
    other.press("Enter")
    lab.get_by_role("button", name=re.compile(r"^Load .*tiny-lm$")).click()  # read from her workspace
    expect(lab.get_by_role("textbox", name=re.compile("zq2"))).to_be_visible()  # the class's answer word
    nothing_points_at(lab, tracker_url, hits, requested)
    assert names["label_image"] in visible(lab)
    lab.context.close()

    # Bob: the queue says who started her run; the Team page shows her run under her name.
    bob_runs = watch(open_as(chromium, app, "/runs", "Bob"))
    expect(bob_runs.get_by_text("started by")).to_be_visible()
    nothing_points_at(bob_runs, tracker_url, hits, requested)
    assert names["person"].lower() in visible(bob_runs)
    bob_runs.context.close()
    team = watch(open_as(chromium, app, f"/team?team_run={mallory.id}/{classifier.id}", "Bob"))
    expect(team.get_by_text("’s run", exact=False).first).to_be_visible()
    for index in range(4):
        chart_drawn(team, index)
    nothing_points_at(team, tracker_url, hits, requested)
    assert f"{names['person']}’s run" in visible(team)
    team.context.close()
