"""Pages and pictures, made one way for every modality.

An explanation's ``to_html()`` is always a fragment (a notebook cell, a Streamlit page or a
report embeds it); :func:`html_page` is the one way to make a whole page of it. Pictures are
embedded as PNG by :func:`png_bytes` and :func:`data_uri`, and every view colours values on
one diverging scale: :data:`POSITIVE` green for, :data:`NEGATIVE` red against
(:func:`diverging_colour` for HTML, :func:`bar_colours` for matplotlib), :data:`MAGNITUDE`
blue where only the size counts.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: the colour of a value that speaks for the explained output
POSITIVE = "#1a9850"
#: the colour of a value that speaks against it
NEGATIVE = "#d73027"
#: the colour of a value whose sign does not count (an absolute value, an importance)
MAGNITUDE = "#2166ac"
#: the colour of zero
NEUTRAL = "#ffffff"


def _rgb(colour: str) -> str:
    return ",".join(str(int(colour[i : i + 2], 16)) for i in (1, 3, 5))


def diverging_colour(
    value: float, bound: float = 1.0, *, opacity: tuple[float, float] = (0.0, 1.0)
) -> str:
    """A CSS colour for ``value`` on the diverging scale: :data:`POSITIVE` or
    :data:`NEGATIVE`, more opaque the nearer ``|value|`` is to ``bound`` (from
    ``opacity[0]`` at zero to ``opacity[1]`` at the bound and beyond).

    Examples
    --------
    >>> diverging_colour(0.5), diverging_colour(-2.0)
    ('rgba(26,152,80,0.500)', 'rgba(215,48,39,1.000)')
    >>> diverging_colour(1.0, 4.0, opacity=(0.1, 0.9))
    'rgba(26,152,80,0.300)'
    """
    strength = min(abs(float(value)) / bound, 1.0) if bound > 0 else 0.0
    low, high = opacity
    rgb = _rgb(POSITIVE if value >= 0 else NEGATIVE)
    return f"rgba({rgb},{low + (high - low) * strength:.3f})"


def bar_colours(values: Iterable[float]) -> list[str]:
    """The matplotlib colour of each value's bar: :data:`POSITIVE` or :data:`NEGATIVE`.

    Examples
    --------
    >>> bar_colours([0.2, -1.0])
    ['#1a9850', '#d73027']
    """
    return [POSITIVE if v >= 0 else NEGATIVE for v in values]


def png_bytes(fig: Any, dpi: int = 100, *, tight: bool = True) -> bytes:
    """A matplotlib Figure as PNG bytes (cropped to what is drawn unless ``tight`` is False).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> png_bytes(Figure(figsize=(1, 1)))[:4]
    b'\\x89PNG'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buffer.getvalue()


def data_uri(fig: Any, dpi: int = 80, *, tight: bool = True) -> str:
    """A matplotlib Figure as a ``data:image/png;base64,...`` URI, for self-contained HTML.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> data_uri(Figure(figsize=(1, 1)))[:22]
    'data:image/png;base64,'
    """
    picture = base64.b64encode(png_bytes(fig, dpi, tight=tight)).decode()
    return "data:image/png;base64," + picture


def html_page(
    body: str | Sequence[str], title: str = "perspicio", path: str | Path | None = None
) -> str:
    """A whole, self-contained HTML page around ``body`` (fragments already escaped), written
    to ``path`` when given.

    Examples
    --------
    >>> html_page("<p>hi</p>", title="a & b")[:64]
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>a &amp; '
    """
    fragment = body if isinstance(body, str) else "".join(body)
    page = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body>{fragment}</body></html>"
    )
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(page, encoding="utf-8")
    return page


__all__ = [
    "MAGNITUDE",
    "NEGATIVE",
    "NEUTRAL",
    "POSITIVE",
    "bar_colours",
    "data_uri",
    "diverging_colour",
    "html_page",
    "png_bytes",
]
