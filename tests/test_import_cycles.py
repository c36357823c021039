"""No module of perspicio imports, directly or through others, a module that imports it back.

The graph counts every ``import`` statement, those inside functions too: a function-local
import only hides a circle until the day someone moves it to the top of the file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def modules(root: Path, packages: list[str], package_dir: dict[str, str]) -> dict[str, Path]:
    """Map each dotted module name of ``packages`` to its file, following ``package_dir``."""
    found = {}
    for package in packages:
        base = max((k for k in package_dir if package == k or package.startswith(k + ".")), key=len)
        rest = package[len(base) + 1 :].split(".") if package != base else []
        folder = root.joinpath(package_dir[base], *rest)
        for file in folder.glob("*.py"):
            found[package if file.stem == "__init__" else f"{package}.{file.stem}"] = file
    return found


def imports_of(name: str, file: Path, known: dict[str, Path]) -> set[str]:
    """The known modules that ``file`` (module ``name``) imports anywhere in its body."""
    package = name if file.stem == "__init__" else name.rsplit(".", 1)[0]
    targets = set()
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(parts + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                targets.add(sub if sub in known else source)
    return {t for t in targets if t in known and t != name}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def graph_of(root: Path, packages: list[str], package_dir: dict[str, str]) -> dict[str, set[str]]:
    known = modules(root, packages, package_dir)
    return {name: imports_of(name, file, known) for name, file in known.items()}


def test_perspicio_has_no_import_circle():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser as a package
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    graph = graph_of(ROOT, config["packages"], config["package-dir"])
    assert len(graph) > 100, "the module walk found too few modules: the package map changed"
    assert "perspicio.core.attribution" in graph["perspicio.core.primary.saliency"]
    assert circles(graph) == []


@pytest.mark.parametrize("local", [False, True])
def test_a_circle_is_found_even_through_a_function_local_import(tmp_path, local):
    pkg = tmp_path / "src"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    body = "def f():\n    from .. import a\n" if local else "from ..a import f\n"
    (pkg / "sub" / "b.py").write_text(body)
    (pkg / "c.py").write_text("from . import a\n")
    graph = graph_of(tmp_path, ["demo", "demo.sub"], {"demo": "src"})
    assert circles(graph) == [["demo.a", "demo.sub.b"]]
