"""How :class:`~perspicio.tabular.Explainer` explains a tree model exactly: the trees read
once, the registered tree method (interventional or path-dependent Shapley values) built,
each row's values against the background (or the trees' cover), checked to add up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from perspicio.core.efficiency import check_efficiency
from perspicio.core.frontend import Facts
from perspicio.core.registry import MethodNames, default_method, get_spec, instantiate, prepare

from .ensemble import TreeEnsemble
from .grouped import GroupedEnsemble
from .models import read_tree_model, resolve_output

#: The exact methods for tree ensembles (registered by :mod:`perspicio.tabular.trees`):
#: interventional Shapley values against the background (the default), and the
#: path-dependent ones (the trees' own cover).
TREE_METHODS = MethodNames(lambda spec: spec.tree)


class TreeRoute:
    """A tree model's exact explanation: its trees (:attr:`ensemble`), the registered tree
    method built on them (:attr:`strategy`), what it adds up to (:attr:`output`)."""

    def __init__(
        self,
        ensemble: TreeEnsemble,
        strategy: Any,
        method: str,
        output: str,
        encode: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.ensemble, self.strategy, self.method, self.output = ensemble, strategy, method, output
        self.encode = encode

    def attribute(self, xs: Tensor, targets: list[int | None], refs: Tensor) -> Tensor:
        """Each row's exact values against every reference row (or the cover); rows of a
        pipeline's DataFrame go through its preprocessing first (``encode``)."""
        if self.encode is not None:
            xs, refs = self.encode(xs), self.encode(refs)
        index = torch.tensor([0 if t is None else t for t in targets])
        run = prepare(self.strategy, None, Facts(xs, target=index, population=refs))
        return run.attribute().cpu()

    def base_scores(self, targets: list[int | None], background_scores: Tensor) -> Tensor:
        """What the values start from: the background's mean score, or the trees' expected
        value where the method explains against their cover (no background)."""
        if get_spec(self.method).accepts("baselines"):
            return background_scores
        index = torch.tensor([0 if t is None else t for t in targets])
        return self.strategy.expected_value(index).to(background_scores.dtype)

    def check(self, attr: Tensor, base: Tensor, scores: Tensor, model_name: str) -> None:
        """Refuse values that do not add up to the model's own output (to the trees' rtol)."""
        check_efficiency(attr, base, scores, self.ensemble.rtol, model=model_name)

    def parameters(self) -> dict[str, Any]:
        return {"algorithm": self.strategy.algorithm, "output": self.output}


def route_trees(
    model: Any,
    values: Tensor,
    method: str | None,
    output: str | None,
    players: list[int] | None = None,
    n_players: int | None = None,
    encode: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Any, TreeRoute | None]:
    """A tree model's scores (its margin or probability, by ``output``) and, where it is
    explained by a tree method (``method`` None or one of :data:`TREE_METHODS`), its route;
    refused here (a path too deep, an output the method cannot explain), not at the first
    explain.

    Inside a pipeline, ``values`` are the rows as the trees see them, ``players[j]`` the
    original column of the trees' column ``j`` (one player each, :class:`GroupedEnsemble`)
    and ``encode`` turns the original rows into the trees' (the pipeline's steps)."""
    scores, output_name, slope = resolve_output(model, output, values[:20].double().numpy())
    if method is not None and not (isinstance(method, str) and method in TREE_METHODS):
        return scores, None
    name = method or default_method("table_tree")
    ensemble = read_tree_model(model, values[0].double().numpy())
    if players is not None:
        ensemble = GroupedEnsemble.group(ensemble, players, n_players or max(players) + 1)
    strategy = instantiate(get_spec(name), ensemble, slope=slope)
    return scores, TreeRoute(ensemble, strategy, name, output_name, encode)


__all__ = ["TREE_METHODS", "TreeRoute", "route_trees"]
