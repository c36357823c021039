"""Pictures of image attributions. Every function returns a matplotlib Figure."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from torch import Tensor

SIGNS = ("all", "positive", "negative", "absolute_value")
_CMAPS = {
    "all": "RdBu_r",  # diverging: red positive, blue negative, white zero
    "positive": LinearSegmentedColormap.from_list("positive", ["#ffffff", "#1a9850"]),
    "negative": LinearSegmentedColormap.from_list("negative", ["#ffffff", "#d73027"]),
    "absolute_value": LinearSegmentedColormap.from_list("absolute", ["#ffffff", "#2166ac"]),
}


def _hwc(x: Any) -> np.ndarray:
    """A CxHxW tensor / HxWxC array (or 1xCxHxW) as an HxWxC float array."""
    if isinstance(x, Tensor):
        x = x.detach().cpu()
        if x.dim() == 4:
            if x.shape[0] != 1:
                raise ValueError(f"expected one image, got a batch of {x.shape[0]}")
            x = x[0]
        if x.dim() == 3:
            x = x.permute(1, 2, 0)
        x = x.numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3:
        raise ValueError(f"expected an image CxHxW (tensor) or HxWxC (array), got shape {x.shape}")
    return x


def normalize_attribution(
    attr: Any, sign: str = "absolute_value", outlier_perc: float = 2.0
) -> np.ndarray:
    """Sum over channels, keep the requested sign, scale to [-1, 1] (or [0, 1]) with the
    top ``outlier_perc`` percent clipped."""
    if sign not in SIGNS:
        raise ValueError(f"`sign` must be one of {SIGNS}, got {sign!r}")
    a = _hwc(attr).sum(axis=2)
    if sign == "positive":
        a = np.clip(a, 0, None)
    elif sign == "negative":
        a = np.clip(-a, 0, None)
    elif sign == "absolute_value":
        a = np.abs(a)
    scale = np.percentile(np.abs(a), 100 - outlier_perc) if a.size else 0.0
    if scale <= 0:
        scale = np.abs(a).max() or 1.0
    return np.clip(a / scale, -1, 1)


def _figure(size=(4, 4)) -> tuple[Figure, Any]:
    fig = Figure(figsize=size)
    return fig, fig.add_subplot(1, 1, 1)


def _finish(fig, ax, mappable, title, colorbar):
    ax.axis("off")
    if title:
        ax.set_title(title)
    if colorbar and mappable is not None:
        fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
    return fig


def _heat(ax, norm: np.ndarray, sign: str, alpha: float = 1.0):
    low = -1 if sign == "all" else 0
    return ax.imshow(norm, cmap=_CMAPS[sign], vmin=low, vmax=1, alpha=alpha)


def heat_map(
    attr,
    sign: str = "absolute_value",
    outlier_perc: float = 2.0,
    title=None,
    colorbar: bool = True,
    ax=None,
) -> Figure:
    """The attribution alone (channels summed), in a sign-aware colour map: green for
    positive, red for negative, blue for magnitude, red/blue diverging for ``"all"``."""
    fig, ax = (ax.figure, ax) if ax is not None else _figure()
    norm = normalize_attribution(attr, sign, outlier_perc)
    return _finish(fig, ax, _heat(ax, norm, sign), title, colorbar)


def original_image(image, title: str | None = None, ax=None) -> Figure:
    """The image itself (pixels in [0, 1])."""
    fig, ax = (ax.figure, ax) if ax is not None else _figure()
    img = np.clip(_hwc(image), 0, 1)
    ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None)
    return _finish(fig, ax, None, title, False)


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
    fig, ax = (ax.figure, ax) if ax is not None else _figure()
    grey = np.clip(_hwc(image), 0, 1).mean(axis=2)
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
    mappable = _heat(ax, normalize_attribution(attr, sign, outlier_perc), sign, alpha_overlay)
    return _finish(fig, ax, mappable, title, colorbar)


def masked_image(
    attr,
    image,
    sign: str = "positive",
    outlier_perc: float = 2.0,
    title: str | None = None,
    ax=None,
) -> Figure:
    """The image multiplied by the normalised attribution: what the explanation keeps."""
    fig, ax = (ax.figure, ax) if ax is not None else _figure()
    weight = np.abs(normalize_attribution(attr, sign, outlier_perc))[..., None]
    ax.imshow(np.clip(_hwc(image), 0, 1) * weight)
    return _finish(fig, ax, None, title, False)


def alpha_scaling(
    attr,
    image,
    sign: str = "positive",
    outlier_perc: float = 2.0,
    title: str | None = None,
    ax=None,
) -> Figure:
    """The image with its opacity set by the normalised attribution."""
    fig, ax = (ax.figure, ax) if ax is not None else _figure()
    img = np.clip(_hwc(image), 0, 1)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    weight = np.abs(normalize_attribution(attr, sign, outlier_perc))[..., None]
    ax.imshow(np.concatenate([img, weight], axis=2))
    return _finish(fig, ax, None, title, False)


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a figure headless (Agg) to an RGBA uint8 array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()
