"""The built site as a reader sees it (``make docs`` builds it, then runs these): every
internal link and image of every page resolves, and in a real browser (Debian's Chromium,
driven by Playwright) the home page, a guide, a gallery example and an API page show their
figures, and search finds ``IntegratedGradients``.

Run by ``make docs-check`` (``PERSPICIO_SITE_TESTS=1``); skipped in the plain test run, which
does not build the site."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from ..browser import launch, needs_chromium

SITE = Path(__file__).resolve().parents[2] / "docs" / "_build" / "html"

pytestmark = [
    pytest.mark.site,
    pytest.mark.skipif(
        os.environ.get("PERSPICIO_SITE_TESTS") != "1",
        reason="the site tests run after the build: make docs",
    ),
]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if key in attrs and attrs[key] is not None and (tag != "link" or key == "href"):
                self.targets.append((tag, attrs[key]))


def _pages() -> list[Path]:
    return sorted(p for p in SITE.rglob("*.html") if not {"_sources", "_static"} & set(p.parts))


def test_the_site_was_built_with_every_part():
    assert (SITE / "index.html").exists(), "make docs did not build the site"
    for page in (
        "getting-started.html",
        "vision.html",
        "scale.html",
        "migrating.html",
        "auto_examples/index.html",
        "api/index.html",
        "api/generated/perspicio.core.IntegratedGradients.html",
        "algorithms/integrated_gradients.html",
    ):
        assert (SITE / page).exists(), page
    examples = list((SITE / "auto_examples").glob("plot_*.html"))
    assert len(examples) >= 7


def test_no_broken_internal_link_or_image():
    broken = []
    for page in _pages():
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, target in parser.targets:
            url = urlparse(target)
            if url.scheme or url.netloc or target.startswith(("#", "mailto:", "javascript:")):
                continue
            path, _ = urldefrag(unquote(url.path))
            if not path:
                continue
            resolved = (page.parent / path).resolve()
            if not resolved.exists():
                broken.append(f"{page.relative_to(SITE)}: <{tag}> {target}")
    assert not broken, "\n".join(broken[:30])


def test_figures_come_from_the_run():
    """The guides' and the gallery's figures are images the build wrote (no page points at a
    picture committed by hand, apart from the app's screenshot)."""
    vision = (SITE / "vision.html").read_text(encoding="utf-8")
    assert vision.count("<img") >= 3 and "_images/" in vision
    gallery = (SITE / "auto_examples" / "plot_photo_five_methods.html").read_text("utf-8")
    assert "sphx_glr_plot_photo_five_methods_001.png" in gallery


@pytest.fixture(scope="module")
def served():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@needs_chromium
def test_a_reader_sees_figures_and_finds_integrated_gradients(served):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            for path, least in [
                ("index.html", 0),
                ("vision.html", 3),
                ("auto_examples/plot_photo_five_methods.html", 1),
                ("api/generated/perspicio.core.IntegratedGradients.html", 0),
            ]:
                page.goto(f"{served}/{path}", wait_until="load")
                assert page.title(), path
                images = page.eval_on_selector_all(
                    "article img",
                    "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth])",
                )
                assert len(images) >= least, (path, images)
                assert all(width for _, width in images), (path, images)  # none broken
            page.goto(f"{served}/search.html?q=IntegratedGradients", wait_until="load")
            hit = page.locator("#search-results a[href*='perspicio.core.IntegratedGradients']")
            hit.first.wait_for(timeout=30_000)
            assert hit.count() >= 1
        finally:
            browser.close()
