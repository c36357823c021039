"""The tree methods as registered strategies over the tree engine.

Each is a small :class:`~perspicio.core.Attribution` whose "model" is a
:class:`~perspicio.tabular.trees.TreeEnsemble`, so the registry calls it as any other
method: :class:`TreeShap` takes the reference population as its ``baselines`` (exact
interventional Shapley values, shap's ``TreeExplainer(model, data)``), and
:class:`TreeShapPathDependent` takes none (the trees' own cover). Their specs are registered
here, when :mod:`perspicio.tabular` is imported (core knows nothing of trees).
"""

from __future__ import annotations

from torch import Tensor

from perspicio.core.attribution import Attribution
from perspicio.core.registry import MethodSpec, register

from .ensemble import DEEPEST_PATH, TreeEnsemble
from .interventional import check_depth, interventional_shap
from .path_dependent import expected_value, path_dependent_shap
from .rescaled import probability_shap


def _check_ensemble(ensemble: object, method: str) -> TreeEnsemble:
    if not isinstance(ensemble, TreeEnsemble):
        raise TypeError(
            f"`forward_func` of {method} must be a TreeEnsemble (perspicio.tabular.trees."
            f"read_tree_model), got {type(ensemble).__name__}"
        )
    return ensemble


def _pick(phi: Tensor, target: Tensor | int | None) -> Tensor:
    """``(N, F, K)`` -> ``(N, F)``: each row's values for its target output."""
    rows = range(phi.shape[0])
    if target is None:
        return phi[:, :, 0]
    if isinstance(target, int):
        return phi[:, :, target]
    return phi[list(rows), :, target.tolist() if isinstance(target, Tensor) else list(target)]


class TreeShap(Attribution):
    """Exact interventional Shapley values of a tree ensemble against reference rows.

    Parameters
    ----------
    forward_func : TreeEnsemble
        The trees (:func:`~perspicio.tabular.trees.read_tree_model`).
    slope : float, optional
        Explain ``σ(slope · margin)`` (a boosted binary classifier's probability): the
        margin's values against each reference row, rescaled pair by pair.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from perspicio.tabular.trees import read_tree_model
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> tree = DecisionTreeRegressor(max_depth=3).fit(X, X[:, 0])
    >>> ensemble = read_tree_model(tree, X[0])
    >>> x, refs = torch.tensor(X[:2]), torch.tensor(X[10:20])
    >>> phi = TreeShap(ensemble).attribute(x, baselines=refs)
    >>> gap = ensemble.predict(x)[:, 0] - ensemble.predict(refs)[:, 0].mean()
    >>> bool(torch.allclose(phi.sum(1), gap))
    True
    """

    def __init__(self, forward_func: TreeEnsemble, slope: float | None = None) -> None:
        self.ensemble = _check_ensemble(forward_func, "TreeShap")
        super().__init__(self.ensemble.predict)
        check_depth(self.ensemble, DEEPEST_PATH, "interventional tree Shapley values")
        self.slope = slope

    @property
    def algorithm(self) -> str:
        if self.slope is not None:
            return (
                "interventional tree Shapley values of the margin (exact), rescaled per "
                "background row onto the probability"
            )
        return "interventional tree Shapley values (exact)"

    def attribute(self, inputs: Tensor, baselines: Tensor, target: Tensor | int | None = None):
        """Values ``(N, F)`` of each row's ``target`` output against the rows of
        ``baselines`` ``(M, F)``; row ``n``'s sum to its output minus their mean output."""
        if self.slope is not None:
            phi = probability_shap(self.ensemble, inputs, baselines, self.slope)
        else:
            phi = interventional_shap(self.ensemble, inputs, baselines)
        return _pick(phi, target)


class TreeShapPathDependent(Attribution):
    """Exact path-dependent Shapley values of a tree ensemble (no reference rows: the trees'
    own cover decides what a missing feature does, shap's ``feature_perturbation=
    "tree_path_dependent"``); row ``n``'s values sum to its output minus
    :meth:`expected_value`.

    Parameters
    ----------
    forward_func : TreeEnsemble
    slope : None
        Only the margin is explained; a probability needs reference rows (:class:`TreeShap`).
    """

    algorithm = "path-dependent tree Shapley values (exact; the trees' cover, no background)"

    def __init__(self, forward_func: TreeEnsemble, slope: float | None = None) -> None:
        self.ensemble = _check_ensemble(forward_func, "TreeShapPathDependent")
        super().__init__(self.ensemble.predict)
        if slope is not None:
            raise ValueError(
                "`output` 'probability': TreeShapPathDependent explains the margin (the trees' "
                "cover, no background); the probability is explained against the background "
                "with TreeShap"
            )

    def expected_value(self, target: Tensor) -> Tensor:
        """The cover-weighted mean output of each row's ``target``."""
        return expected_value(self.ensemble)[target]

    def attribute(self, inputs: Tensor, target: Tensor | int | None = None) -> Tensor:
        """Values ``(N, F)`` of each row's ``target`` output."""
        return _pick(path_dependent_shap(self.ensemble, inputs), target)


_TREE = {
    "family": "tree",
    "tree": True,
    "exact": True,
    "shapley": True,
    "test": {"skip": "explains tree ensembles (tests/tabular/test_trees.py)"},
}

#: the tree methods' specs, registered for as long as the process runs
SPECS = (
    MethodSpec(
        "tree_shap", TreeShap, baselines="distribution", default_for=("table_tree",), **_TREE
    ),
    MethodSpec("tree_shap_path_dependent", TreeShapPathDependent, **_TREE),
)
REGISTRATIONS = [register(spec) for spec in SPECS]
