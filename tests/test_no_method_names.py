"""No code outside the registry branches on a method's name: no string equal to a registered
method name is compared with, tested for membership in, or used as a dict key (the registry,
its specs, the docs and the tests may name methods; everything else asks the specs)."""

from __future__ import annotations

import ast
from pathlib import Path

import perspicio.tabular  # noqa: F401  (registers the tree methods)
from perspicio.core.registry import ALIASES, METHODS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "vision", "text", "tabular", "apps", "perspicio")
#: where method names belong: the registry and the specs registered outside it
ALLOWED = ("core/registry/", "tabular/trees/strategies.py")


def _strings(node: ast.AST) -> list[str]:
    """The string constants of a node, or of the elements of a literal tuple, list or set,
    or of a literal dict's values."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for element in node.elts for s in _strings(element)]
    if isinstance(node, ast.Dict):
        return [s for value in node.values for s in _strings(value)]
    return []


def name_branches(tree: ast.AST, known: set[str]) -> list[tuple[int, str]]:
    """``(line, name)`` for each method name used in a comparison, a membership test, a dict
    key, a literal list (tuple, set) or a constant of its own (``TREE_METHOD = "tree_shap"``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            found += [(node.lineno, s) for s in _strings(node) if s in known]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            found += [(node.lineno, s) for s in _strings(node.value) if s in known]
        elif isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                found += [(node.lineno, s) for s in _strings(operand) if s in known]
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    found += [(key.lineno, s) for s in _strings(key) if s in known]
    return found


def test_the_check_finds_a_name_branch():
    code = (
        "if method == 'saliency': pass\nx = method in ('occlusion', 'other')\n"
        "y = {'lime': 1}\nDEFAULT = 'deeplift'\nf(methods=['gradcam'])"
    )
    known = {"saliency", "occlusion", "lime", "deeplift", "gradcam"}
    assert sorted(set(n for _, n in name_branches(ast.parse(code), known))) == sorted(known)


def test_no_method_name_is_a_branch_or_a_list_outside_the_registry():
    # aliases are left out: "smoothgrad" is also NoiseTunnel's nt_type, Captum's argument
    known = set(METHODS) | {a for a in ALIASES.values() if not a.startswith("noise_tunnel:")}
    offences = []
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            relative = file.relative_to(ROOT).as_posix()
            if relative.startswith(ALLOWED):
                continue
            for line, name in name_branches(ast.parse(file.read_text()), known):
                offences.append(f"{relative}:{line}: {name!r}")
    assert not offences, "ask the specs instead of naming methods:\n" + "\n".join(offences)
