"""A guide page as a notebook: its ```python blocks are the code cells, in order; everything
else (prose, ```bash and other fences) stays Markdown. The site build (myst-nb) reads every
page under ``docs/`` with :func:`reads` and runs the cells in one fresh kernel per page;
``tests/docs`` uses the same split."""

from __future__ import annotations

import re
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

#: a ```python block at the start of a line, up to its closing fence
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*(?:\n|\Z)", re.S | re.M)

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}

#: a hidden first cell: a block that ends on a matplotlib Figure (perspicio returns them,
#: never through pyplot) shows it as a picture
SESSION = "%matplotlib inline"


def code_blocks(text: str) -> list[str]:
    """The ```python blocks of a page, in order."""
    return [m.group(1) for m in PYTHON_BLOCK.finditer(text)]


def reads(text: str, **kwargs: Any) -> nbformat.NotebookNode:
    """The page ``text`` as a notebook of Markdown cells and one code cell per block (after
    a hidden cell that shows Figures as pictures)."""
    cells, position = [], 0
    for match in PYTHON_BLOCK.finditer(text):
        prose = text[position : match.start()].strip("\n")
        if prose.strip():
            cells.append(new_markdown_cell(prose))
        cells.append(new_code_cell(match.group(1).rstrip("\n")))
        position = match.end()
    if text[position:].strip():
        cells.append(new_markdown_cell(text[position:].strip("\n")))
    if any(c.cell_type == "code" for c in cells):
        cells.insert(0, new_code_cell(SESSION, metadata={"tags": ["remove-cell"]}))
    return new_notebook(
        cells=cells, metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}}
    )
