"""Opening the app in Streamlit's AppTest, and reading what a page shows, for the page tests of every package."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.support.paths import ROOT


def app(page: str | None = None, timeout: float = 60) -> AppTest:
    """The app, run once as a browser would open it, then on `page` (a file under pages/, without `.py`) when one
    is named; fails the test on any exception the page raised."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py")
        at.run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    """The values of a page's elements of one kind (captions, markdown, errors…) as one string to search in."""
    return " ".join(str(element.value) for element in elements)
