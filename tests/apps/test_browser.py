"""End to end: the app in a real browser (Debian's Chromium, driven by Python Playwright)."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ..browser import launch, needs_chromium

APP = str(Path(__file__).resolve().parents[2] / "apps" / "app.py")
pytestmark = [pytest.mark.slow, needs_chromium]
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            APP,
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.read().strip() == b"ok":
                        break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_explain_the_cat_with_gradcam_in_a_real_browser(server, tmp_path):
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(server, timeout=180_000)
            explain = page.get_by_role("button", name="Explain", exact=True).first
            explain.wait_for(timeout=300_000)  # the demo models load on the first visit
            explain.click()
            page.get_by_text("Prediction: Egyptian cat").wait_for(timeout=300_000)
            page.get_by_text("gradcam", exact=True).first.wait_for(
                timeout=60_000
            )  # the result's caption
            page.locator("img").nth(1).wait_for(timeout=60_000)  # the input and the explanation
            assert page.locator("img").count() >= 2
            shot = tmp_path / "app.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("PERSPICIO_SCREENSHOT"):
                shutil.copy(shot, os.environ["PERSPICIO_SCREENSHOT"])
            # the Table page (top navigation): the first held-out patient gets real credit
            page.get_by_role("link", name="Table").first.click()
            page.get_by_role("button", name="Explain the row").click()
            line = page.get_by_text("Largest contributions:")
            line.wait_for(timeout=120_000)
            values = [float(v) for v in re.findall(r"\(([+-][0-9.]+)\)", line.inner_text())]
            assert len(values) == 3 and max(abs(v) for v in values) > 0.01, values
            page.get_by_text("the training split (455 rows)", exact=False).first.wait_for()
        finally:
            browser.close()


def test_explain_a_detected_box_in_a_real_browser(server):
    """The image page's shapes detector: the top detection of a generated scene is
    explained with Grad-CAM, its class and box in the heading, the picture shown."""
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(server, timeout=180_000)
            page.get_by_text("shapes detector (demo)").first.click(timeout=300_000)
            explain = page.get_by_role("button", name="Explain", exact=True).first
            explain.wait_for(timeout=300_000)
            page.wait_for_timeout(1000)  # the page reruns with the scene before the click
            explain.click()
            heading = page.get_by_text(re.compile(r"Prediction: \w+ at \(\d+, \d+, \d+, \d+\)"))
            heading.wait_for(timeout=300_000)
            # the scene and the explanation: Streamlit draws the heading before the pictures
            page.locator("img").nth(1).wait_for(timeout=60_000)
            assert page.locator("img").count() >= 2
        finally:
            browser.close()


def test_explain_a_caption_in_a_real_browser(server):
    """The image page's dual-encoder demo: a caption typed as the target is explained, the
    caption in the heading and its map shown."""
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(server, timeout=180_000)
            page.get_by_text("shapes captions, a dual encoder (demo)").first.click(timeout=300_000)
            caption = page.get_by_label(re.compile(r"^Caption"))
            caption.wait_for(timeout=300_000)
            caption.fill("a square")
            caption.press("Enter")
            page.wait_for_timeout(1000)  # the page reruns with the caption before the click
            page.get_by_role("button", name="Explain", exact=True).first.click()
            page.get_by_text(re.compile(r"Prediction: a square")).wait_for(timeout=300_000)
            page.locator("img").nth(1).wait_for(timeout=60_000)
            assert page.locator("img").count() >= 2
        finally:
            browser.close()
