"""XGBoost models (``XGBClassifier``, ``XGBRegressor`` or a ``Booster``) read into a
:class:`TreeEnsemble` from the model's own JSON (``x < threshold`` goes left, compared in
float32, as XGBoost does)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .ensemble import Leaf, TreeEnsemble, walk_tree


def is_xgboost_model(model: Any) -> bool:
    """An XGBoost scikit-learn model or ``Booster``."""
    if not type(model).__module__.startswith("xgboost"):
        return False
    return hasattr(model, "get_booster") or type(model).__name__ == "Booster"


def _booster(model: Any) -> Any:
    return model.get_booster() if hasattr(model, "get_booster") else model


def xgboost_margin(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The raw margin ``(N, K)`` the trees add up."""
    import xgboost

    booster = _booster(model)

    def margin(X: np.ndarray) -> np.ndarray:
        data = xgboost.DMatrix(np.asarray(X, dtype=np.float32), feature_names=booster.feature_names)
        out = booster.predict(data, output_margin=True)
        return np.asarray(out).reshape(len(X), -1)

    return margin


def _objective(model: Any) -> str:
    config = json.loads(_booster(model).save_config())
    return config["learner"]["objective"]["name"]


def probability_slope(model: Any) -> float | None:
    """1 for a logistic objective (``p = σ(margin)``), None otherwise."""
    return 1.0 if _objective(model) in ("binary:logistic", "reg:logistic") else None


def probability(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The positive class's probability ``(N, 1)``."""
    import xgboost

    booster = _booster(model)

    def output(X: np.ndarray) -> np.ndarray:
        data = xgboost.DMatrix(np.asarray(X, dtype=np.float32), feature_names=booster.feature_names)
        return np.asarray(booster.predict(data)).reshape(len(X), 1)

    return output


def _leaves(tree: dict, k: int, column: int) -> list[Leaf]:
    left, right = tree["left_children"], tree["right_children"]
    feature, condition = tree["split_indices"], tree["split_conditions"]
    cover, default_left = tree["sum_hessian"], tree["default_left"]
    if tree.get("split_type") and any(tree["split_type"]):
        raise ValueError("XGBoost trees with categorical splits are not supported yet")

    def value(node: int) -> list[float]:
        out = [0.0] * k
        out[column] = float(condition[node])
        return out

    return walk_tree(
        0,
        lambda n: left[n] == -1,
        value,
        lambda n: (int(feature[n]), float(np.float32(condition[n])), int(left[n]), int(right[n])),
        lambda n: float(cover[n]),
        lambda n: bool(default_left[n]),
    )


def read_xgboost(model: Any, reference_row: np.ndarray) -> TreeEnsemble:
    """The ensemble of an XGBoost model (gbtree booster); its base is the margin at
    ``reference_row`` minus the trees' sum there."""
    booster = _booster(model)
    saved = json.loads(booster.save_raw("json"))
    learner = saved["learner"]
    gbm = learner["gradient_booster"]
    if gbm.get("name") not in (None, "gbtree"):
        raise ValueError(f"`model`: XGBoost booster {gbm.get('name')!r} is not a tree booster")
    trees = gbm["model"]["trees"]
    classes = gbm["model"]["tree_info"]
    k = max(1, int(learner["learner_model_param"].get("num_class", "0") or 0))
    n_features = int(learner["learner_model_param"]["num_feature"])
    leaves = [_leaves(tree, k, int(c) if k > 1 else 0) for tree, c in zip(trees, classes)]
    ensemble = TreeEnsemble.from_leaves(
        leaves, [0.0] * k, n_features, right_closed=False, routes_missing=True
    )
    ensemble.float32_inputs = True
    raw = xgboost_margin(model)(reference_row[None, :])[0]
    summed = ensemble.predict(torch.as_tensor(reference_row[None, :])).numpy()[0]
    ensemble.base = torch.as_tensor(raw - summed, dtype=torch.float64)
    return ensemble
