"""perspicio.core.visualization: Captum's visualize_* functions, one colour scaling."""

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

from perspicio.core import visualization as viz  # noqa: E402


def _pixels(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


def _colours(fig):
    px = _pixels(fig)
    red = ((px[..., 0] - px[..., 1]) > 60) & ((px[..., 0] - px[..., 2]) > 60)
    green = ((px[..., 1] - px[..., 0]) > 60) & ((px[..., 1] - px[..., 2]) > 30)
    blue = ((px[..., 2] - px[..., 0]) > 60) & ((px[..., 2] - px[..., 1]) > 20)
    return int(red.sum()), int(green.sum()), int(blue.sum())


ATTR = np.zeros((20, 20, 3))
ATTR[:, :10] = 1.0  # positive left half
ATTR[:, 10:] = -1.0  # negative right half
IMAGE = np.full((20, 20, 3), 0.5)


@pytest.mark.parametrize(
    ("sign", "expected"),
    [("positive", "green"), ("negative", "red"), ("absolute_value", "blue"), ("all", "both")],
)
def test_heat_map_colours_for_each_sign(sign, expected):
    fig, ax = viz.visualize_image_attr(ATTR, method="heat_map", sign=sign, use_pyplot=False)
    red, green, blue = _colours(fig)
    if expected == "green":
        assert green > 0 and red == 0 and blue == 0
    elif expected == "red":
        assert red > 0 and green == 0 and blue == 0
    elif expected == "blue":
        assert blue > 0 and red == 0 and green == 0
    else:
        assert red > 0 and green > 0


def test_every_method_draws_and_the_image_only_where_needed():
    for method in viz.METHODS:
        sign = "positive" if method in ("masked_image", "alpha_scaling") else "all"
        fig, ax = viz.visualize_image_attr(
            ATTR, IMAGE, method=method, sign=sign, use_pyplot=False, title=method
        )
        assert ax.get_title() == method and _pixels(fig).shape[-1] == 3
    # Captum raises for original_image without an image; here the given picture is shown
    fig, _ = viz.visualize_image_attr(IMAGE, None, method="original_image", use_pyplot=False)
    assert _pixels(fig).std() > 0
    with pytest.raises(ValueError, match="`original_image` is needed"):
        viz.visualize_image_attr(ATTR, None, method="blended_heat_map", use_pyplot=False)
    with pytest.raises(ValueError, match="`method`"):
        viz.visualize_image_attr(ATTR, IMAGE, method="contour", use_pyplot=False)
    with pytest.raises(ValueError, match="`sign`"):
        viz.visualize_image_attr(ATTR, IMAGE, sign="both", use_pyplot=False)


def test_masked_image_keeps_only_the_attributed_half():
    fig, _ = viz.visualize_image_attr(
        ATTR, IMAGE, method="masked_image", sign="positive", use_pyplot=False, fig_size=(2, 2)
    )
    px = _pixels(fig)
    middle = px.shape[0] // 2
    left, right = px[middle, px.shape[1] // 4], px[middle, 3 * px.shape[1] // 4]
    assert left.mean() > 100 and right.mean() < 30  # grey kept on the left, black on the right


def test_outliers_are_clipped_so_the_rest_keeps_its_contrast():
    a = np.ones((10, 10, 1))
    a[0, 0] = 1000.0  # one outlier
    assert viz.normalize_attr(a, "positive", outlier_perc=2)[5, 5] == pytest.approx(1.0)
    assert viz.normalize_attr(a, "positive", outlier_perc=0)[5, 5] == pytest.approx(1e-3)


def test_called_as_captums_documentation_calls_it():
    attr = torch.randn(1, 3, 16, 16)
    image = torch.rand(1, 3, 16, 16)
    a = np.transpose(attr.squeeze().numpy(), (1, 2, 0))
    img = np.transpose(image.squeeze().numpy(), (1, 2, 0))
    fig, axes = viz.visualize_image_attr_multiple(
        a,
        img,
        ["original_image", "heat_map", "blended_heat_map"],
        ["all", "positive", "all"],
        titles=["image", "heat", "blend"],
        show_colorbar=True,
        use_pyplot=False,
    )
    assert len(axes) == 3 and [ax.get_title() for ax in axes] == ["image", "heat", "blend"]
    fig, ax = viz.visualize_image_attr(
        attr[0], image[0], "blended_heat_map", use_pyplot=False
    )  # tensors (CxHxW) too
    series = np.sin(np.linspace(0, 6, 50))[:, None].repeat(2, 1)
    for method in viz.TIMESERIES_METHODS:
        fig, axes = viz.visualize_timeseries_attr(
            series, series, method=method, sign="all", use_pyplot=False
        )
        assert _pixels(fig).shape[-1] == 3


def test_visualize_text_escapes_and_works_without_ipython(tmp_path):
    record = viz.VisualizationDataRecord(
        torch.tensor([0.8, -0.4, 0.0]),
        0.93,
        "pos",
        "pos<script>",
        "pos",
        1.2,
        ["a", "<b>bold</b>", "&"],
        None,
    )
    page = viz.visualize_text([record])
    assert "<script>" not in page.data and "pos&lt;script&gt;" in page.data
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.data and "&amp;" in page.data
    assert "Legend" in page.data and page._repr_html_() == page.data
    page.save(tmp_path / "text.html")
    assert (tmp_path / "text.html").read_text().startswith("<!DOCTYPE html>")
