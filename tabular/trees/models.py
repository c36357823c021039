"""Which library trained a tree model, and its reader: one entry point for the front ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import lgbm, sklearn, xgb
from .ensemble import TreeEnsemble


def is_tree_model(model: Any) -> bool:
    """Whether ``model`` is a fitted tree model perspicio reads exactly (scikit-learn,
    XGBoost or LightGBM)."""
    return (
        sklearn.is_tree_model(model) or xgb.is_xgboost_model(model) or lgbm.is_lightgbm_model(model)
    )


def read_tree_model(model: Any, reference_row: np.ndarray) -> TreeEnsemble:
    """The model's :class:`TreeEnsemble` (``reference_row`` fixes the base value)."""
    row = np.asarray(reference_row, dtype=np.float64)
    if xgb.is_xgboost_model(model):
        return xgb.read_xgboost(model, row)
    if lgbm.is_lightgbm_model(model):
        return lgbm.read_lightgbm(model, row)
    return sklearn.read_sklearn(model, row)


def raw_output(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The output the model's trees add up, as a function of rows: ``(N, K)``."""
    if xgb.is_xgboost_model(model):
        return xgb.xgboost_margin(model)
    if lgbm.is_lightgbm_model(model):
        return lgbm.lightgbm_margin(model)
    return sklearn.raw_output(model)


def output_name(model: Any) -> str:
    """What :func:`raw_output` explains, in words for a report."""
    if xgb.is_xgboost_model(model) or lgbm.is_lightgbm_model(model):
        return "raw margin (output_margin / raw_score)"
    return sklearn.output_name(model)


def probability_slope(model: Any) -> float | None:
    """The slope ``s`` of a boosted binary classifier's link ``p = σ(s·margin)``, or None
    where the model's trees do not add up such a margin."""
    if xgb.is_xgboost_model(model):
        return xgb.probability_slope(model)
    if lgbm.is_lightgbm_model(model):
        return lgbm.probability_slope(model)
    return sklearn.probability_slope(model)


def probability(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The positive class's probability as a function of rows: ``(N, 1)``."""
    if xgb.is_xgboost_model(model):
        return xgb.probability(model)
    if lgbm.is_lightgbm_model(model):
        return lgbm.probability(model)
    return sklearn.probability(model)


#: what a tree model's explanation can add up to
OUTPUTS = ("margin", "probability")


def resolve_output(
    model: Any,
    output: str | None,
    rows: np.ndarray,
) -> tuple[Callable[[np.ndarray], np.ndarray], str, float | None]:
    """What the explanation of a tree model adds up to: the scores as a function of rows,
    their name for a report, and the link's slope when a margin is rescaled onto a
    probability (None when the trees add up the scores themselves).

    ``output``: None (what the trees add up: the margin of boosted classifiers, the
    probability of averaged forests, the prediction of regressors), ``"margin"`` or
    ``"probability"``. The link is checked against the model's own probabilities on
    ``rows``."""
    if output is not None and output not in OUTPUTS:
        raise ValueError(f"`output` must be one of {OUTPUTS} or None, got {output!r}")
    native = output_name(model)
    name = type(model).__name__
    if output is None or output in native:
        return raw_output(model), native, None
    if output == "margin":
        raise ValueError(
            f"`output` 'margin': the trees of a {name} add up its {native}; "
            "there is no margin to explain"
        )
    slope = probability_slope(model)
    if slope is None:
        raise ValueError(
            f"`output` 'probability' needs a classifier (binary, for boosted trees: a "
            f"logistic link on one margin); the trees of this {name} add up its {native}"
        )
    margin = raw_output(model)(rows)[:, 0]
    expected = probability(model)(rows)[:, 0]
    gap = float(np.abs(1 / (1 + np.exp(-slope * margin)) - expected).max())
    if gap > 1e-5:
        raise ValueError(
            f"`output` 'probability': the {name}'s probabilities are not σ({slope:g}·margin) "
            f"(off by {gap:.2g}); explain its margin instead"
        )
    words = f"probability of the positive class (σ({slope:g}·margin), as predict_proba)"
    return probability(model), words, slope
