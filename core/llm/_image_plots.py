"""Pictures of an :class:`~perspicio.core.ImageMaskInput`: its segments, and a result's
attribution painted over the image (the project's red-white-green scale)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..visualization import _cmap


def _figure(show: bool) -> Any:
    if show:
        import matplotlib.pyplot as plt

        return plt.figure()
    from matplotlib.figure import Figure

    return Figure()


def _finish(fig: Any, ax: Any, show: bool) -> tuple[Any, Any] | None:
    fig.set_facecolor("white")
    ax.axis("off")
    if show:
        import matplotlib.pyplot as plt

        plt.show()
        return None
    return fig, ax


def border(mask: np.ndarray, width: int) -> np.ndarray:
    """The pixels of ``mask`` within ``width`` pixels (4-neighbour steps) of its outside."""
    inner = mask.copy()
    for _ in range(width):
        padded = np.pad(inner, 1, constant_values=False)
        inner = (
            padded[1:-1, 1:-1]
            & padded[:-2, 1:-1]
            & padded[2:, 1:-1]
            & padded[1:-1, :-2]
            & padded[1:-1, 2:]
        )
    return mask & ~inner


def _draw_border(ax: Any, mask: np.ndarray, width: int, colour: Any) -> None:
    edge = border(mask, width)
    layer = np.zeros((*mask.shape, 4))
    layer[edge] = colour
    ax.imshow(layer)


def _draw_label(ax: Any, mask: np.ndarray, label: str) -> None:
    rows, cols = np.nonzero(mask)
    if rows.size:
        ax.text(
            cols.mean(),
            rows.mean(),
            label,
            ha="center",
            va="center",
            fontsize=9,
            color="white",
            bbox={"facecolor": "black", "alpha": 0.6, "pad": 1.5},
        )


def mask_overlay(inp: Any, show: bool, border_width: int, show_legends: bool) -> Any:
    """Each segment of ``inp`` tinted in its own colour (fixed, not random), bordered and
    labelled with its id."""
    from matplotlib import colormaps

    fig = _figure(show)
    ax = fig.add_subplot()
    ax.imshow(inp.image)
    palette = colormaps["tab20"]
    for k, (mask, mid) in enumerate(zip(inp.get_mask_list(), inp.mask_id_to_idx)):
        m = mask.numpy()
        colour = np.array([*palette(k % 20)[:3], 0.55])
        ax.imshow(m[..., None] * colour)
        if border_width > 0:
            _draw_border(ax, m, border_width, [*colour[:3], 0.9])
        if show_legends:
            _draw_label(ax, m, str(mid))
    return _finish(fig, ax, show)


def image_heatmap(inp: Any, attr: Any, show: bool, border_width: int, show_legends: bool) -> Any:
    """The image in grey under each pixel's attribution (``attr``: one value a feature)."""
    fig = _figure(show)
    ax = fig.add_subplot()
    grey = np.asarray(inp.image.convert("L"), dtype=float)
    ax.imshow(grey, cmap="gray")
    pixel = inp.format_pixel_attr(attr.detach().float().cpu()[None])[0].numpy()
    bound = float(np.abs(pixel).max()) or 1.0
    cmap = _cmap("all")
    shown = ax.imshow(pixel, cmap=cmap, vmin=-bound, vmax=bound, alpha=0.8)
    fig.colorbar(shown, ax=ax).ax.set_ylabel("attribution", rotation=-90, va="bottom")
    values = attr.detach().float().cpu().numpy()
    for k, (mask, mid) in enumerate(zip(inp.get_mask_list(), inp.mask_id_to_idx)):
        m = mask.numpy()
        if border_width > 0:
            rgba = np.array(cmap((values[k] / bound + 1) / 2))
            _draw_border(ax, m, border_width, [*(rgba[:3] * 0.7), 0.8])
        if show_legends:
            _draw_label(ax, m, str(mid))
    return _finish(fig, ax, show)


def pixel_heatmap(inp: Any, pixel: Any, show: bool) -> Any:
    """The image in grey under an attribution per pixel ``(H, W)`` (the gradient path)."""
    fig = _figure(show)
    ax = fig.add_subplot()
    ax.imshow(np.asarray(inp.image.convert("L"), dtype=float), cmap="gray")
    values = pixel.detach().float().cpu().numpy()
    bound = float(np.abs(values).max()) or 1.0
    shown = ax.imshow(values, cmap=_cmap("all"), vmin=-bound, vmax=bound, alpha=0.8)
    fig.colorbar(shown, ax=ax).ax.set_ylabel("attribution", rotation=-90, va="bottom")
    return _finish(fig, ax, show)
