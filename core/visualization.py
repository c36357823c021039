"""Pictures of attributions with Captum's ``visualization`` names and arguments.

``from perspicio.core import visualization as viz`` then ``viz.visualize_image_attr(...)``,
``viz.visualize_image_attr_multiple(...)``, ``viz.visualize_timeseries_attr(...)`` and
``viz.visualize_text(records)`` work as Captum's do. Every function returns what Captum's
returns (a matplotlib ``(figure, axis)`` pair, or an HTML object); with
``use_pyplot=False`` the figure is a plain ``matplotlib.figure.Figure`` that nothing shows.
``perspicio.vision``'s pictures are drawn by these functions: the scaling and the colour
maps exist once, here.

Attributions are scaled by :func:`normalize_attr`: channels summed, the requested sign kept,
divided by the ``100 - outlier_perc`` percentile of the magnitudes and clipped to [-1, 1]
(so the top ``outlier_perc`` percent saturate).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from .errors import AttributionValueError
from .page import MAGNITUDE, NEGATIVE, NEUTRAL, POSITIVE, diverging_colour, html_page

METHODS = ("heat_map", "blended_heat_map", "original_image", "masked_image", "alpha_scaling")
SIGNS = ("all", "positive", "negative", "absolute_value")
TIMESERIES_METHODS = ("overlay_individual", "overlay_combined", "colored_graph")
#: the colours of each sign: green positive, red negative, blue magnitude, red-white-green
COLOURS = {
    "all": [NEGATIVE, NEUTRAL, POSITIVE],
    "positive": [NEUTRAL, POSITIVE],
    "negative": [NEUTRAL, NEGATIVE],
    "absolute_value": [NEUTRAL, MAGNITUDE],
}


def _cmap(sign: str, cmap: Any = None) -> Any:
    if cmap is not None:
        return cmap
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list(f"perspicio_{sign}", COLOURS[sign])


def to_hwc(x: Any, name: str = "attr") -> np.ndarray:
    """A CxHxW / 1xCxHxW tensor or an HxW / HxWxC array as an HxWxC float array."""
    if isinstance(x, Tensor):
        x = x.detach().cpu()
        if x.dim() == 4:
            if x.shape[0] != 1:
                raise AttributionValueError(
                    f"`{name}` holds a batch of {x.shape[0]}; give one image"
                )
            x = x[0]
        if x.dim() == 3:
            x = x.permute(1, 2, 0)
        x = x.numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3:
        raise AttributionValueError(
            f"`{name}` must be an image (HxWxC array or CxHxW tensor), got {x.shape}"
        )
    return x


def normalize_attr(
    attr: Any, sign: str = "absolute_value", outlier_perc: float | int = 2, reduce: bool = True
) -> np.ndarray:
    """Channels summed (``reduce``), the sign kept, scaled to [-1, 1] ([0, 1] for one sign).

    Examples
    --------
    >>> normalize_attr(np.array([[[1.0], [-2.0]]]), "all", outlier_perc=0).ravel()
    array([ 0.5, -1. ])
    """
    if sign not in SIGNS:
        raise AttributionValueError(f"`sign` must be one of {SIGNS}, got {sign!r}")
    if not 0 <= outlier_perc < 100:
        raise AttributionValueError(f"`outlier_perc` must be in [0, 100), got {outlier_perc!r}")
    a = to_hwc(attr).sum(axis=2) if reduce else np.asarray(attr, dtype=np.float64)
    if sign == "positive":
        a = np.clip(a, 0, None)
    elif sign == "negative":
        a = np.clip(-a, 0, None)
    elif sign == "absolute_value":
        a = np.abs(a)
    scale = np.percentile(np.abs(a), 100 - outlier_perc) if a.size else 0.0
    if scale <= 0:
        scale = float(np.abs(a).max()) or 1.0
    return np.clip(a / scale, -1, 1)


def _figure_axis(plt_fig_axis: Any, fig_size: tuple, use_pyplot: bool) -> tuple[Any, Any]:
    if plt_fig_axis is not None:
        return plt_fig_axis
    if use_pyplot:
        import matplotlib.pyplot as plt

        return plt.subplots(figsize=fig_size)
    from matplotlib.figure import Figure

    fig = Figure(figsize=fig_size)
    return fig, fig.add_subplot(1, 1, 1)


def visualize_image_attr(
    attr: Any,
    original_image: Any = None,
    method: str = "heat_map",
    sign: str = "absolute_value",
    plt_fig_axis: tuple[Any, Any] | None = None,
    outlier_perc: float | int = 2,
    cmap: Any = None,
    alpha_overlay: float = 0.5,
    show_colorbar: bool = False,
    title: str | None = None,
    fig_size: tuple[float, float] = (6, 6),
    use_pyplot: bool = True,
) -> tuple[Any, Any]:
    """Draw an image attribution (``H x W x C`` array, or a ``C x H x W`` tensor).

    ``method``: ``heat_map`` (the attribution alone), ``blended_heat_map`` (over a grey
    copy of the image), ``original_image``, ``masked_image`` (the image times the scaled
    attribution), ``alpha_scaling`` (the image with the attribution as opacity).
    ``sign``: ``all``, ``positive``, ``negative`` or ``absolute_value``. Returns
    ``(figure, axis)``; with ``use_pyplot=True`` the figure is made by pyplot (a notebook
    shows it), never ``show()``-n here.

    Examples
    --------
    >>> attr = np.random.default_rng(0).normal(size=(8, 8, 3))
    >>> fig, ax = visualize_image_attr(attr, method="heat_map", sign="all", use_pyplot=False)
    >>> len(fig.axes)
    1
    """
    if method not in METHODS:
        raise AttributionValueError(f"`method` must be one of {METHODS}, got {method!r}")
    if sign not in SIGNS:
        raise AttributionValueError(f"`sign` must be one of {SIGNS}, got {sign!r}")
    fig, ax = _figure_axis(plt_fig_axis, fig_size, use_pyplot)
    image = (
        None if original_image is None else np.clip(to_hwc(original_image, "original_image"), 0, 1)
    )
    if method != "heat_map" and image is None:
        if method != "original_image":
            raise AttributionValueError(f"`original_image` is needed for method {method!r}")
    mappable = None
    if method == "original_image":
        shown = image if image is not None else np.clip(to_hwc(attr), 0, 1)  # the picture given
        ax.imshow(
            shown[..., 0] if shown.shape[2] == 1 else shown,
            cmap="gray" if shown.shape[2] == 1 else None,
        )
    else:
        norm = normalize_attr(attr, sign, outlier_perc)
        low = -1 if sign == "all" else 0
        if method == "heat_map":
            mappable = ax.imshow(norm, cmap=_cmap(sign, cmap), vmin=low, vmax=1)
        elif method == "blended_heat_map":
            ax.imshow(image.mean(axis=2), cmap="gray", vmin=0, vmax=1)
            mappable = ax.imshow(
                norm, cmap=_cmap(sign, cmap), vmin=low, vmax=1, alpha=alpha_overlay
            )
        elif method == "masked_image":
            if sign == "all":
                raise AttributionValueError(
                    "`sign` 'all' cannot mask an image; use positive, negative or absolute_value"
                )
            ax.imshow(image * norm[..., None])
        else:  # alpha_scaling
            if sign == "all":
                raise AttributionValueError(
                    "`sign` 'all' cannot scale opacity; use positive, negative or absolute_value"
                )
            rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
            ax.imshow(np.concatenate([rgb, norm[..., None]], axis=2))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.axis("off")
    if title:
        ax.set_title(title)
    if show_colorbar and mappable is not None:
        fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
    return fig, ax


def visualize_image_attr_multiple(
    attr: Any,
    original_image: Any,
    methods: list[str],
    signs: list[str],
    titles: list[str] | None = None,
    fig_size: tuple[float, float] = (8, 6),
    use_pyplot: bool = True,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """Several :func:`visualize_image_attr` panels side by side: one per (method, sign).
    Returns ``(figure, axes)``; ``kwargs`` go to every panel."""
    if len(methods) != len(signs):
        raise AttributionValueError(
            f"`methods` ({len(methods)}) and `signs` ({len(signs)}) must pair up"
        )
    if titles is not None and len(titles) != len(methods):
        raise AttributionValueError(
            f"`titles` has {len(titles)} entries for {len(methods)} methods"
        )
    if use_pyplot:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=fig_size)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=fig_size)
    axes = np.atleast_1d(fig.subplots(1, len(methods)))
    for i, (method, sign) in enumerate(zip(methods, signs)):
        visualize_image_attr(
            attr,
            original_image,
            method,
            sign,
            plt_fig_axis=(fig, axes[i]),
            title=titles[i] if titles else None,
            use_pyplot=False,
            **kwargs,
        )
    fig.tight_layout()
    return fig, axes


def visualize_timeseries_attr(
    attr: Any,
    data: Any,
    x_values: Any = None,
    method: str = "overlay_individual",
    sign: str = "absolute_value",
    channel_labels: list[str] | None = None,
    channels_last: bool = True,
    plt_fig_axis: tuple[Any, Any] | None = None,
    outlier_perc: float | int = 2,
    cmap: Any = None,
    alpha_overlay: float = 0.7,
    show_colorbar: bool = False,
    title: str | None = None,
    fig_size: tuple[float, float] = (6, 6),
    use_pyplot: bool = True,
    **plot_kwargs: Any,
) -> tuple[Any, Any]:
    """A multichannel time series (``T x C``, or ``C x T`` with ``channels_last=False``)
    coloured by its attribution: ``overlay_individual`` (one panel per channel, the
    attribution as a coloured background), ``overlay_combined`` (all channels in one panel),
    ``colored_graph`` (each channel's line coloured point by point)."""
    if method not in TIMESERIES_METHODS:
        raise AttributionValueError(f"`method` must be one of {TIMESERIES_METHODS}, got {method!r}")
    a = np.asarray(attr.detach().cpu() if isinstance(attr, Tensor) else attr, dtype=np.float64)
    d = np.asarray(data.detach().cpu() if isinstance(data, Tensor) else data, dtype=np.float64)
    if a.shape != d.shape or a.ndim != 2:
        raise AttributionValueError(
            f"`attr` {a.shape} and `data` {d.shape} must be the same 2-D shape"
        )
    if not channels_last:
        a, d = a.T, d.T
    steps, channels = d.shape
    x = np.arange(steps) if x_values is None else np.asarray(x_values)
    norm = normalize_attr(a, sign, outlier_perc, reduce=False)
    low, colour = (-1 if sign == "all" else 0), _cmap(sign, cmap)
    if plt_fig_axis is not None:
        fig, axes = plt_fig_axis
    else:
        rows = channels if method == "overlay_individual" else 1
        if use_pyplot:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=fig_size)
        else:
            from matplotlib.figure import Figure

            fig = Figure(figsize=fig_size)
        axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    axes = np.atleast_1d(axes)
    mappable = None
    for c in range(channels):
        ax = axes[c] if method == "overlay_individual" else axes[0]
        label = channel_labels[c] if channel_labels else None
        if method == "colored_graph":
            from matplotlib.collections import LineCollection

            points = np.stack([x, d[:, c]], axis=1)
            segments = np.stack([points[:-1], points[1:]], axis=1)
            lines = LineCollection(segments, cmap=colour, norm=None, **plot_kwargs)
            lines.set_array(norm[:-1, c])
            lines.set_clim(low, 1)
            mappable = ax.add_collection(lines)
            ax.autoscale()
        else:
            ax.plot(x, d[:, c], color="black", label=label, **plot_kwargs)
            extent = [x[0], x[-1], float(d.min()), float(d.max()) or 1.0]
            mappable = ax.imshow(
                norm[:, c][None, :],
                cmap=colour,
                vmin=low,
                vmax=1,
                aspect="auto",
                alpha=alpha_overlay,
                extent=extent,
            )
        if label and method == "overlay_individual":
            ax.set_ylabel(label)
    if title:
        axes[0].set_title(title)
    if show_colorbar and mappable is not None:
        fig.colorbar(mappable, ax=list(axes))
    return fig, axes


@dataclass
class VisualizationDataRecord:
    """One row of :func:`visualize_text`: a text's tokens and their attributions, with
    the model's prediction and the explained class."""

    word_attributions: Any
    pred_prob: float
    pred_class: Any
    true_class: Any
    attr_class: Any
    attr_score: float
    raw_input_ids: list[str]
    convergence_score: float | None


class HTML:
    """Self-contained HTML that notebooks display and scripts can save."""

    def __init__(self, data: str) -> None:
        self.data = data

    def _repr_html_(self) -> str:
        return self.data

    def save(self, path: str) -> None:
        """Write the page (UTF-8)."""
        html_page(self.data, path=path)

    def __str__(self) -> str:
        return self.data


def _colour(value: float) -> str:
    """Green for positive, red for negative, the stronger the more opaque."""
    return diverging_colour(value)


def _tokens_html(tokens: Iterable[str], values: Iterable[float]) -> str:
    values = [float(v) for v in values]
    peak = max((abs(v) for v in values), default=0.0) or 1.0
    return "".join(
        f'<mark style="background-color:{_colour(v / peak)};padding:0 2px;margin:0 1px" '
        f'title="{v:+.4f}">{html.escape(str(t))}</mark>'
        for t, v in zip(tokens, values)
    )


def visualize_text(datarecords: Iterable[VisualizationDataRecord], legend: bool = True) -> HTML:
    """A table with one row per record: true and predicted label (probability), explained
    label, its attribution score, and the tokens highlighted by attribution (green for,
    red against; hover for the value). Every piece of text is escaped.

    Examples
    --------
    >>> rec = VisualizationDataRecord([0.5, -0.2], 0.9, "pos", "pos", "pos", 0.3,
    ...                               ["great", "<b>"], None)
    >>> "&lt;b&gt;" in visualize_text([rec]).data
    True
    """
    rows = [
        "<table style='border-collapse:collapse'><tr><th>True label</th>"
        "<th>Predicted label</th><th>Attribution label</th><th>Attribution score</th>"
        "<th>Word importance</th></tr>"
    ]
    for r in datarecords:
        values = r.word_attributions
        values = values.detach().cpu().tolist() if isinstance(values, Tensor) else list(values)
        rows.append(
            f"<tr><td>{html.escape(str(r.true_class))}</td>"
            f"<td>{html.escape(str(r.pred_class))} ({float(r.pred_prob):.2f})</td>"
            f"<td>{html.escape(str(r.attr_class))}</td>"
            f"<td>{float(r.attr_score):.2f}</td>"
            f"<td>{_tokens_html(r.raw_input_ids, values)}</td></tr>"
        )
    rows.append("</table>")
    if legend:
        rows.append(
            "<div style='margin-top:6px'>Legend: "
            f"<mark style='background-color:{_colour(-1)}'>negative</mark> "
            f"<mark style='background-color:{_colour(0)}'>neutral</mark> "
            f"<mark style='background-color:{_colour(1)}'>positive</mark></div>"
        )
    return HTML("".join(rows))


__all__ = [
    "HTML",
    "VisualizationDataRecord",
    "normalize_attr",
    "visualize_image_attr",
    "visualize_image_attr_multiple",
    "visualize_text",
    "visualize_timeseries_attr",
]
