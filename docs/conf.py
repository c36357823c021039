"""Sphinx configuration of perspicio's documentation site (``make docs``).

The guides under ``docs/`` are plain Markdown; each is read as a notebook (its ```python
blocks are the cells, run in order in one fresh kernel) and the page shows what the run
printed and drew. The gallery (``examples/plot_*.py``) is built by sphinx-gallery. The API
reference is generated here from every public module's ``__all__``. A cell that raises, a
broken cross-reference or a missing page fails the build (``-W``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import perspicio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "perspicio"
author = "the perspicio developers"
copyright = "2026, the perspicio developers"
release = version = perspicio.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = [
    "_build",
    "_ext",
    "jupyter_execute",
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",
]

# ---------------------------------------------------------------- the guides, executed
# a page's ```python blocks are its cells, nothing else is (docs/_ext/pagecells.py)
nb_custom_formats = {".md": "pagecells.reads"}
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 900
nb_execution_show_tb = True
nb_output_stderr = "remove"  # progress bars and Ray's log lines
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

# ---------------------------------------------------------------- the gallery
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    # pyplot's figures, and the Figures perspicio returns (docs/_ext/figures.py)
    "image_scrapers": ("matplotlib", "figures.returned_figures"),
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "plot_gallery": True,
    "write_computation_times": False,
}

# ---------------------------------------------------------------- the API reference
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc documents the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

#: (module, title) of each API page, in the order of the reference
API = [
    ("perspicio.core", "perspicio.core: the attribution methods"),
    ("perspicio.core.metrics", "perspicio.core.metrics: evaluating explanations"),
    ("perspicio.core.visualization", "perspicio.core.visualization: Captum's pictures"),
    ("perspicio.core.llm", "perspicio.core.llm: explaining generated text"),
    ("perspicio.core.module", "perspicio.core.module: stochastic gates"),
    ("perspicio.core.robust", "perspicio.core.robust: adversarial attacks"),
    ("perspicio.core.concept", "perspicio.core.concept: concepts and TCAV"),
    ("perspicio.core.influence", "perspicio.core.influence: training-data influence"),
    ("perspicio.vision", "perspicio.vision: images"),
    ("perspicio.text", "perspicio.text: text"),
    ("perspicio.tabular", "perspicio.tabular: tables"),
    ("perspicio.insights", "perspicio.insights: the explorer"),
]

#: the algorithm page of each class, linked from its reference page
ALGORITHM_PAGES = {p.stem.replace("_", ""): p.stem for p in (HERE / "algorithms").glob("*.md")}


def _write_api_pages() -> None:
    """One page per public module listing its ``__all__`` (autosummary makes a page per
    name, from its docstring)."""
    out = HERE / "api"
    out.mkdir(exist_ok=True)
    index = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", ""]
    modules = {name: importlib.import_module(name) for name, _ in API}

    def home(module: str, name: str) -> str:
        """The page that documents ``name``: the deepest listed module exporting it (the
        LLM classes, re-exported by ``perspicio.core``, live on ``perspicio.core.llm``'s)."""
        where = getattr(getattr(modules[module], name), "__module__", "") or ""
        owners = [m for m in modules if name in modules[m].__all__ and where.startswith(m)]
        return max(owners, key=len, default=module)

    for module, title in API:
        names = sorted(
            (n for n in modules[module].__all__ if home(module, n) == module), key=str.lower
        )
        index.append(f"   {module}")
        lines = [
            title,
            "=" * len(title),
            "",
            f".. automodule:: {module}",
            "   :no-members:",
            "",
            f".. currentmodule:: {module}",
            "",
            ".. autosummary::",
            "   :toctree: generated",
            "   :nosignatures:",
            "",
        ]
        lines += [f"   {name}" for name in names]
        (out / f"{module}.rst").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "index.rst").write_text("\n".join(index) + "\n", encoding="utf-8")


_write_api_pages()


def _link_algorithm_page(app, what, name, obj, options, lines) -> None:
    """A method's reference page links to its algorithm page (the maths and its costs)."""
    if what != "class" or name.count(".") < 2:
        return
    page = ALGORITHM_PAGES.get(name.rsplit(".", 1)[1].lower())
    if page is not None and not any("algorithms/" in line for line in lines):
        lines[:0] = [f"The algorithm, its assumptions and costs: :doc:`/algorithms/{page}`.", ""]


def setup(app) -> None:  # noqa: D103
    app.connect("autodoc-process-docstring", _link_algorithm_page)


# ---------------------------------------------------------------- the site
html_theme = "pydata_sphinx_theme"
html_title = "perspicio"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_static_path: list[str] = []
