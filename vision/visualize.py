"""Pictures of image attributions. Every function returns a matplotlib Figure, drawn by
:mod:`perspicio.core.visualization` (one implementation of the scaling and colours)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from perspicio.core import visualization as core_viz

SIGNS = core_viz.SIGNS


def normalize_attribution(
    attr: Any, sign: str = "absolute_value", outlier_perc: float = 2.0
) -> np.ndarray:
    """Channels summed, the sign kept, scaled to [-1, 1] with the top ``outlier_perc``
    percent clipped (:func:`perspicio.core.visualization.normalize_attr`)."""
    return core_viz.normalize_attr(attr, sign, outlier_perc)


def _draw(method, attr, image, sign, outlier_perc, title, colorbar, ax, **kwargs) -> Figure:
    """One panel through :func:`perspicio.core.visualization.visualize_image_attr`."""
    fig, _ = core_viz.visualize_image_attr(
        attr,
        image,
        method,
        sign,
        plt_fig_axis=None if ax is None else (ax.figure, ax),
        outlier_perc=outlier_perc,
        show_colorbar=colorbar,
        title=title,
        fig_size=(4, 4),
        use_pyplot=False,
        **kwargs,
    )
    return fig


def heat_map(
    attr,
    sign: str = "absolute_value",
    outlier_perc: float = 2.0,
    title=None,
    colorbar: bool = True,
    ax=None,
) -> Figure:
    """The attribution alone (channels summed), in a sign-aware colour map: green for
    positive, red for negative, blue for magnitude, red-white-green for ``"all"``."""
    return _draw("heat_map", attr, None, sign, outlier_perc, title, colorbar, ax)


def original_image(image, title: str | None = None, ax=None) -> Figure:
    """The image itself (pixels in [0, 1])."""
    return _draw("original_image", image, image, "absolute_value", 2.0, title, False, ax)


def blended_heat_map(
    attr,
    image,
    sign: str = "absolute_value",
    alpha_overlay: float = 0.5,
    outlier_perc: float = 2.0,
    title: str | None = None,
    colorbar: bool = True,
    ax=None,
) -> Figure:
    """The attribution laid over a grey version of the image."""
    return _draw(
        "blended_heat_map",
        attr,
        image,
        sign,
        outlier_perc,
        title,
        colorbar,
        ax,
        alpha_overlay=alpha_overlay,
    )


def masked_image(
    attr,
    image,
    sign: str = "positive",
    outlier_perc: float = 2.0,
    title: str | None = None,
    ax=None,
) -> Figure:
    """The image multiplied by the normalised attribution: what the explanation keeps."""
    return _draw("masked_image", attr, image, sign, outlier_perc, title, False, ax)


def alpha_scaling(
    attr,
    image,
    sign: str = "positive",
    outlier_perc: float = 2.0,
    title: str | None = None,
    ax=None,
) -> Figure:
    """The image with its opacity set by the normalised attribution."""
    return _draw("alpha_scaling", attr, image, sign, outlier_perc, title, False, ax)


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a figure headless (Agg) to an RGBA uint8 array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()
