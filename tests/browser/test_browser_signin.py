"""Hosted mode in headless Chromium: signing in with the team password (refused, then allowed), and a second
person seeing the first one's run read-only on the Team page and copying it into their own workspace.

(An OIDC provider cannot be reached from a test; the allow-list behind it is tested in
tests/core/hosting/test_people.py.)
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.hosting.people import Person, Team
from tests.core.hosting.test_people import finished_run
from tests.support.browser import start_app, start_served_app, stop_app, wait_for_app

pytestmark = pytest.mark.browser

TEAM_PASSWORD = "correct horse battery staple"


@pytest.fixture
def hosted_server(workspace, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'team_password = "{TEAM_PASSWORD}"\n')
    server, url = start_served_app(workspace.root, {"AI_PLAYGROUND_HOSTED": "true", "AI_PLAYGROUND_MAX_UPLOAD_MB": "1",
                                                    "STREAMLIT_SECRETS_FILES": str(secrets)})
    yield url
    stop_app(server, workspace.root)


def sign_in(page, name: str, password: str) -> None:
    expect(page.get_by_role("textbox", name="Team password")).to_be_visible(timeout=60_000)  # a cold first load
    page.get_by_role("textbox", name="Your name").fill(name)
    page.get_by_role("textbox", name="Team password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_for_app(page)


def test_sign_in_then_a_team_mate_sees_the_run_read_only_and_copies_it(hosted_server, workspace, chromium):
    team = Team(workspace.root)
    run = finished_run(team.register(Person("ada", "Ada")))  # Ada's finished run, in her own workspace

    # Ada: a wrong password keeps every page shut; the right one opens the page the link asked for.
    ada = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    ada.goto(f"{hosted_server}/runs")
    sign_in(ada, "Ada", "not the password")
    expect(ada.get_by_text("That password is not right")).to_be_visible(timeout=30_000)
    expect(ada.get_by_role("heading", name="Runs", exact=True)).to_have_count(0)
    expect(ada.get_by_role("link", name="Data")).to_have_count(0)  # no way round it through the menu
    sign_in(ada, "Ada", TEAM_PASSWORD)
    expect(ada.get_by_role("heading", name="Runs", exact=True)).to_be_visible(timeout=30_000)
    expect(ada.get_by_text("Signed in as Ada")).to_be_visible()
    expect(ada.get_by_text(run.id).first).to_be_attached(timeout=30_000)  # a cell of her runs table

    # Bob: his own workspace is empty; on the Team page he sees Ada's run, read-only, and copies it.
    bob = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    bob.goto(f"{hosted_server}/team?team_run={Person('ada', 'Ada').id}/{run.id}")
    sign_in(bob, "Bob", TEAM_PASSWORD)
    expect(bob.get_by_text(f"“{run.id}” · Ada’s run")).to_be_visible(timeout=30_000)
    expect(bob.get_by_text("completed").first).to_be_visible()
    for action in ("Stop", "Delete", "Resume"):
        expect(bob.get_by_role("button", name=re.compile(action))).to_have_count(0)
    bob.get_by_role("button", name="Copy into my workspace").click()
    expect(bob.get_by_text(re.compile("Copied as"))).to_be_visible(timeout=30_000)
    bob.get_by_role("link", name=re.compile("Open it on the Runs page")).click()
    expect(bob.get_by_role("heading", name=re.compile(f"Run “{re.escape(run.id)}”"))).to_be_visible(timeout=30_000)
    assert (team.workspace_of(Person("bob", "Bob")).runs / run.id / "model" / "model.safetensors").is_file()
    assert run.status.state == "completed" and not run.status.copied_from  # Ada's run is untouched

    # Signing out closes the door again.
    ada.get_by_role("button", name="Sign out").click()
    expect(ada.get_by_role("textbox", name="Team password")).to_be_visible(timeout=30_000)
    ada.context.close()
    bob.context.close()


def test_wrong_passwords_are_counted_on_the_server_so_a_reload_does_not_start_again(hosted_server, chromium):
    def tab_from(address: str):
        # The proxy in front says who is calling (X-Forwarded-For), as nginx and Caddy do; the app trusts it only
        # from the proxy's own address, 127.0.0.1.
        context = chromium.new_context(viewport={"width": 1400, "height": 1000},
                                       extra_http_headers={"X-Forwarded-For": address})
        tab = context.new_page()
        tab.goto(hosted_server)
        return tab

    guesser = tab_from("203.0.113.7")
    for _ in range(3):
        sign_in(guesser, "Ada", "a guess")
    expect(guesser.get_by_text("Too many wrong tries: wait 15 seconds before the next one")).to_be_visible()

    guesser.reload()  # a new session, which used to start the count again
    sign_in(guesser, "Ada", TEAM_PASSWORD)  # even the right password waits its turn
    expect(guesser.get_by_text(re.compile(r"Too many wrong passwords for this name or from this computer\. "
                                          r"Wait 1\d seconds"))).to_be_visible(timeout=30_000)
    expect(guesser.get_by_text("Signed in as")).to_have_count(0)
    sign_in(guesser, "Bob", TEAM_PASSWORD)  # another name from the same address waits too
    expect(guesser.get_by_text(re.compile("Too many wrong passwords"))).to_be_visible()
    expect(guesser.get_by_text("Signed in as")).to_have_count(0)

    elsewhere = tab_from("198.51.100.9")
    sign_in(elsewhere, "Ada", TEAM_PASSWORD)  # the name waits from every address
    expect(elsewhere.get_by_text(re.compile("Too many wrong passwords"))).to_be_visible()
    sign_in(elsewhere, "Bob", TEAM_PASSWORD)  # another name from another address is not held up
    expect(elsewhere.get_by_text("Signed in as Bob")).to_be_visible(timeout=30_000)
    guesser.context.close()
    elsewhere.context.close()


def test_a_signed_in_person_uploads_through_the_gate_within_the_per_person_limit(hosted_server, chromium, tmp_path):
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{hosted_server}/data")
    sign_in(page, "Ada", TEAM_PASSWORD)
    expect(page.get_by_text(re.compile(r"^1MB per file")).first).to_be_visible(timeout=30_000)  # not 200MB
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\n" + "".join(f"review {i} was {'fine' if i % 2 else 'poor'},{i % 2}\n"
                                                for i in range(40)))
    page.locator("input[type=file]").first.set_input_files(str(reviews))
    expect(page.get_by_text("40 examples in 2 classes are ready.")).to_be_visible(timeout=30_000)
    page.context.close()


def test_a_hosted_app_started_without_the_gate_shows_no_page(workspace, page, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'team_password = "{TEAM_PASSWORD}"\n')
    server, url = start_app(workspace.root, {"AI_PLAYGROUND_HOSTED": "true", "STREAMLIT_SECRETS_FILES": str(secrets)})
    try:
        page.goto(url)
        expect(page.get_by_text(re.compile("started without the guard"))).to_be_visible(timeout=60_000)
        expect(page.get_by_role("textbox", name="Team password")).to_have_count(0)
    finally:
        stop_app(server, workspace.root)
