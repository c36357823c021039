"""End to end: the explorer page served from this test's own process, in a real browser.

The model class below exists only in this test module: the page can only explain it if it
runs on the live objects, in this process."""

import pytest
import torch
from torch import nn

from ..browser import launch, needs_chromium

pytestmark = [pytest.mark.slow, needs_chromium]
sync_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("streamlit")

from perspicio.insights import AttributionVisualizer, Batch, ImageFeature  # noqa: E402


class OnlyInThisFile(nn.Module):
    """Bright images are class 1."""

    def forward(self, x):
        score = (x.mean((1, 2, 3)) - 0.5) * 20
        return torch.stack([-score, score], 1)


def test_filter_to_wrong_predictions_and_explain_one_in_a_real_browser(tmp_path):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 3, 8, 8, generator=g) * 0.5
    images[::2] += 0.5  # even rows bright
    labels = torch.tensor([1, 0, 1, 1, 1, 0])  # row 3 is labelled bright but is dark
    visualizer = AttributionVisualizer(
        models=[OnlyInThisFile()],
        classes=["dark", "bright"],
        features=[ImageFeature("photo")],
        dataset=[Batch(images, labels=labels)],
        score_func=lambda out: out.softmax(1),
    )
    url = visualizer.serve()
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(url, timeout=120_000)
            page.get_by_text("incorrect", exact=True).click()
            page.get_by_role("button", name="Fetch examples").click()
            page.get_by_text("Example 3: true bright").wait_for(timeout=60_000)
            assert page.get_by_text("Example 0:").count() == 0  # correct ones filtered out
            page.get_by_role("button", name="Explain").first.click()
            page.get_by_text("of the attribution").first.wait_for(timeout=60_000)
            heat = page.locator('img[alt="photo attribution"]')
            heat.first.wait_for(timeout=60_000)
            assert heat.count() == 1
            page.screenshot(path=str(tmp_path / "insights.png"))
        finally:
            browser.close()
