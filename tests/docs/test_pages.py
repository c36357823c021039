"""The documentation's pages as the site build reads them: every ```python block of every
page under docs/ is a code cell of that page's notebook, in order, and nothing else is (a
```bash block is shown, never run). The build (``make docs``) runs each page's cells in one
fresh kernel and fails on an error; these checks are fast and run with the test suite."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
pytest.importorskip("nbformat")


def _reader():
    spec = importlib.util.spec_from_file_location("pagecells", DOCS / "_ext" / "pagecells.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def test_a_page_becomes_prose_and_its_python_blocks():
    pagecells = _reader()
    text = (
        "# Title\n\n```bash\nrm -rf /\n```\n\n"
        "```python\nx = 1\n```\ntext\n```python\nprint(x)\n```\n"
    )
    nb = pagecells.reads(text)
    kinds = [(c.cell_type, c.source) for c in nb.cells]
    assert nb.cells[0].metadata.tags == ["remove-cell"]  # the session setting, not shown
    assert kinds[1:] == [
        ("markdown", "# Title\n\n```bash\nrm -rf /\n```"),
        ("code", "x = 1"),
        ("markdown", "text"),
        ("code", "print(x)"),
    ]
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_every_python_block_is_a_cell_and_the_prose_is_kept(page):
    pagecells = _reader()
    text = page.read_text(encoding="utf-8")
    nb = pagecells.reads(text)
    code = [c.source for c in nb.cells if c.cell_type == "code"][1:]  # after the setting
    assert len(code) == text.count("\n```python\n") + text.startswith("```python\n")
    assert code == [b.rstrip("\n") for b in pagecells.code_blocks(text)]
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "```python" not in prose
    # each code block compiles (a syntax error would only show when the site is built)
    for i, block in enumerate(code):
        compile(block, f"{page.name} block {i}", "exec")


def test_every_page_is_in_the_site():
    """Each page is reachable from the home page's tables of contents."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([\w-]+)$", index, re.M)) | {"index"}
    for page in PAGES:
        name = page.relative_to(DOCS).with_suffix("").as_posix()
        assert name in listed or name.startswith("algorithms/"), f"{name} is in no toctree"
