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
    return sklearn.is_tree_model(model) or xgb.is_xgboost_model(model) or \
        lgbm.is_lightgbm_model(model)  # fmt: skip


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
