"""End to end: the generation page explains an image prompt in a real browser (Debian's
Chromium, driven by Python Playwright)."""

import re

import pytest

from ..browser import launch, needs_chromium
from .test_browser import server  # noqa: F401 - the app's server, a fixture

pytestmark = [pytest.mark.slow, needs_chromium]
sync_api = pytest.importorskip("playwright.sync_api")


def test_explain_an_image_prompt_in_a_real_browser(server):  # noqa: F811
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(f"{server}/generation", timeout=180_000)
            explain = page.get_by_role("button", name="Explain the answer")
            explain.wait_for(timeout=300_000)  # the first run (the text demo) has finished
            page.get_by_text("demo scene", exact=True).click()
            page.get_by_text("Segments (a grid of n x n)").wait_for(timeout=300_000)
            explain.wait_for(timeout=300_000)  # the vision-language demo has loaded
            page.wait_for_timeout(1000)  # the page reruns with the scene before the click
            explain.click()
            heading = page.get_by_text(re.compile(r"Answer: (circle|square|triangle)"))
            heading.wait_for(timeout=300_000)
            page.get_by_text("image_feature_0").first.wait_for(timeout=60_000)  # the table
            page.locator("img").first.wait_for(timeout=60_000)  # the image heat map
            assert page.locator("img").count() >= 1
        finally:
            browser.close()


def test_a_gradient_method_on_an_image_prompt_in_a_real_browser(server):  # noqa: F811
    """The same page with Layer Integrated Gradients: the answer's map over the pixels and
    the prompt's tokens."""
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(f"{server}/generation", timeout=180_000)
            explain = page.get_by_role("button", name="Explain the answer")
            explain.wait_for(timeout=300_000)
            page.get_by_text("demo scene", exact=True).click()
            page.get_by_text("Segments (a grid of n x n)").wait_for(timeout=300_000)
            page.get_by_role("combobox").last.click()
            page.get_by_role("option", name="layer_integrated_gradients").click()
            page.wait_for_timeout(1000)  # the page reruns with the method before the click
            explain.click()
            heading = page.get_by_text(re.compile(r"Answer: (circle|square|triangle)"))
            heading.wait_for(timeout=300_000)
            page.get_by_text("what", exact=True).first.wait_for(timeout=60_000)  # a token
            page.locator("img").first.wait_for(timeout=60_000)  # the map over the pixels
            assert page.locator("img").count() >= 1
        finally:
            browser.close()
