"""A sphinx-gallery image scraper for the Figures perspicio returns.

perspicio's plots are ``matplotlib.figure.Figure`` objects handed to the caller, never
registered with pyplot, so the gallery's own matplotlib scraper (which reads pyplot's open
figures) cannot see them. After each block, :func:`returned_figures` saves every Figure the
example's globals name that it has not saved yet and that pyplot does not manage (those the
matplotlib scraper saves)."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from sphinx_gallery.scrapers import figure_rst

_SAVED: dict[str, set[int]] = {}


def returned_figures(block: Any, block_vars: dict[str, Any], gallery_conf: dict[str, Any]) -> str:
    """Save the new Figures among the example's global names; return their rST."""
    saved = _SAVED.setdefault(block_vars["src_file"], set())
    paths = []
    for value in list(block_vars["example_globals"].values()):
        if not isinstance(value, Figure) or id(value) in saved:
            continue
        if getattr(value.canvas, "manager", None) is not None:  # pyplot's: already scraped
            continue
        saved.add(id(value))
        path = next(block_vars["image_path_iterator"])
        value.savefig(path, dpi=100, bbox_inches="tight")
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
