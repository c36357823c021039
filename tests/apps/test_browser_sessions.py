"""Several visitors at once: the app serves every session from one cached model, in threads.
Four browser sessions click Explain together; each must get its pictures, equal to those a
session alone gets (Streamlit names a picture by a hash of its bytes, so equal pictures
have equal addresses)."""

import time

import pytest

from ..browser import launch, needs_chromium
from .test_browser import server  # noqa: F401 - the app, started once for the test

pytestmark = [pytest.mark.slow, needs_chromium]
sync_api = pytest.importorskip("playwright.sync_api")

SESSIONS = 4


def open_page(browser, url: str, link: str | None = None):
    page = browser.new_context(viewport={"width": 1400, "height": 2600}).new_page()
    page.goto(url, timeout=180_000)
    if link is not None:
        page.get_by_role("link", name=link).first.click(timeout=900_000)
    # a demo model may train on its first use (an empty cache)
    page.get_by_role("button", name="Explain", exact=True).first.wait_for(timeout=900_000)
    return page


def add_method(page, name: str) -> None:
    """Add ``name`` to the image page's methods (a Streamlit multiselect)."""
    page.get_by_text("Methods (up to four)").wait_for()
    box = page.locator("[data-testid='stMultiSelect']").first
    box.click()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)


def pictures(page, count: int) -> list[str]:
    """The addresses of the page's pictures, once the prediction and ``count`` pictures
    (the input and the explanations) are there."""
    page.get_by_text("Prediction:").first.wait_for(timeout=600_000)
    page.locator("img").nth(count - 1).wait_for(timeout=600_000)
    page.wait_for_timeout(500)
    sources = [img.get_attribute("src") for img in page.locator("img").all()]
    return sorted(s for s in sources if s)


def run(pages, count: int, click_name: str = "Explain") -> tuple[list, float]:
    start = time.perf_counter()
    for page in pages:  # the clicks reach the server together; it explains in threads
        page.get_by_role("button", name=click_name, exact=True).first.click()
    shots = [pictures(page, count) for page in pages]
    return shots, time.perf_counter() - start


def test_four_sessions_explain_an_image_at_once(server):  # noqa: F811
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            for _ in range(2):  # the first run warms the model and the caches up
                alone = open_page(browser, server)
                add_method(alone, "feature_ablation")
                (single,), one = run([alone], 3)
            pages = [open_page(browser, server) for _ in range(SESSIONS)]
            for page in pages:
                add_method(page, "feature_ablation")
            shots, four = run(pages, 3)
            print(f"image page: one session {one:.1f} s, {SESSIONS} at once {four:.1f} s")
            for page in pages:
                assert page.get_by_text("Could not explain").count() == 0
            assert len(single) >= 3  # the input and the two explanations
            assert all(shot == single for shot in shots), "a session got another picture"
        finally:
            browser.close()


def test_four_sessions_explain_a_sentence_at_once(server):  # noqa: F811
    def result(page) -> tuple[str, list[str]]:
        heading = page.get_by_text("Prediction:").first
        heading.wait_for(timeout=600_000)
        page.locator("img").first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        words = page.locator("[data-testid='stHtml']").first.inner_html()
        return heading.inner_text() + words, pictures(page, 1)

    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            for _ in range(2):  # the first run warms the model and the caches up
                alone = open_page(browser, server, "Text")
                start = time.perf_counter()
                alone.get_by_role("button", name="Explain", exact=True).first.click()
                single = result(alone)
                one = time.perf_counter() - start
            pages = [open_page(browser, server, "Text") for _ in range(SESSIONS)]
            start = time.perf_counter()
            for page in pages:
                page.get_by_role("button", name="Explain", exact=True).first.click()
            results = [result(page) for page in pages]
            four = time.perf_counter() - start
            print(f"text page: one session {one:.1f} s, {SESSIONS} at once {four:.1f} s")
            assert "<span" in single[0] and single[1]
            assert all(r == single for r in results), "a session got another explanation"
        finally:
            browser.close()
