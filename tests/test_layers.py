"""The layers show in the tree: core's top level holds public modules and folders only, its
machinery lives in the private ``perspicio.core._engine``, and no front end (vision, text,
tabular, the apps, the ``perspicio`` package itself) imports a private core module: what they
share with core comes through :mod:`perspicio.core.frontend`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_import_cycles import graph_of, modules

ROOT = Path(__file__).resolve().parents[1]


def _setuptools_config() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def is_private_core(module: str) -> bool:
    parts = module.split(".")
    return parts[:2] == ["perspicio", "core"] and any(p.startswith("_") for p in parts[2:])


def front_end_imports_of_private_core(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    return {
        name: sorted(t for t in targets if is_private_core(t))
        for name, targets in graph.items()
        if not name.startswith("perspicio.core") and any(is_private_core(t) for t in targets)
    }


def test_no_front_end_imports_a_private_core_module():
    config = _setuptools_config()
    graph = graph_of(ROOT, config["packages"], config["package-dir"])
    assert "perspicio.core._engine.hooks" in graph, "the machinery package is not in the list"
    assert "perspicio.core.frontend" in graph["perspicio.vision.explain"]
    assert front_end_imports_of_private_core(graph) == {}


def test_the_check_sees_a_front_end_that_reaches_into_core(tmp_path):
    (tmp_path / "core" / "_engine").mkdir(parents=True)
    (tmp_path / "vision").mkdir()
    for init in ("core", "core/_engine", "vision"):
        (tmp_path / init / "__init__.py").write_text("")
    (tmp_path / "core" / "_engine" / "hooks.py").write_text("")
    (tmp_path / "core" / "frontend.py").write_text("from ._engine.hooks import *\n")
    (tmp_path / "vision" / "good.py").write_text("from perspicio.core.frontend import x\n")
    (tmp_path / "vision" / "bad.py").write_text(
        "def f():\n    from perspicio.core._engine import hooks\n"
    )
    graph = graph_of(
        tmp_path,
        ["perspicio.core", "perspicio.core._engine", "perspicio.vision"],
        {"perspicio.core": "core", "perspicio.vision": "vision"},
    )
    assert front_end_imports_of_private_core(graph) == {
        "perspicio.vision.bad": ["perspicio.core._engine.hooks"]
    }


def test_core_top_level_holds_public_modules_and_folders_only():
    private = sorted(p.name for p in (ROOT / "core").glob("_*.py") if p.name != "__init__.py")
    assert private == []


def test_every_package_folder_is_in_the_package_list():
    config = _setuptools_config()
    listed = set(config["packages"])
    known = modules(ROOT, sorted(listed), config["package-dir"])
    folders = {file.parent for file in known.values()}
    missing = []
    for folder in folders:
        for child in folder.iterdir():
            if (child / "__init__.py").is_file() and child not in folders:
                missing.append(str(child.relative_to(ROOT)))
    assert missing == []
