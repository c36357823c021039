"""LightGBM models (``LGBMClassifier``, ``LGBMRegressor`` or a ``Booster``) read into a
:class:`TreeEnsemble` from the model's own dump (``x <= threshold`` goes left)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .ensemble import Leaf, TreeEnsemble


def is_lightgbm_model(model: Any) -> bool:
    """A LightGBM scikit-learn model or ``Booster``."""
    return type(model).__module__.startswith("lightgbm") and (
        hasattr(model, "booster_") or type(model).__name__ == "Booster"
    )


def _booster(model: Any) -> Any:
    return model.booster_ if hasattr(model, "booster_") else model


def lightgbm_margin(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The raw score ``(N, K)`` the trees add up."""
    booster = _booster(model)

    def margin(X: np.ndarray) -> np.ndarray:
        out = booster.predict(np.asarray(X, dtype=np.float64), raw_score=True)
        return np.asarray(out).reshape(len(X), -1)

    return margin


def _leaves(root: dict, k: int, column: int) -> list[Leaf]:
    leaves: list[Leaf] = []
    stack: list[tuple[dict, dict[int, tuple[float, float]]]] = [(root, {})]
    while stack:
        node, box = stack.pop()
        if "leaf_value" in node:
            value = [0.0] * k
            value[column] = float(node["leaf_value"])
            leaves.append((box, value, float(node.get("leaf_count", node.get("leaf_weight", 0)))))
            continue
        if node.get("decision_type", "<=") != "<=":
            raise ValueError("LightGBM trees with categorical splits are not supported yet")
        f, t = int(node["split_feature"]), float(node["threshold"])
        lo, hi = box.get(f, (-math.inf, math.inf))
        stack.append((node["right_child"], {**box, f: (max(lo, t), hi)}))
        stack.append((node["left_child"], {**box, f: (lo, min(hi, t))}))
    return leaves


def read_lightgbm(model: Any, reference_row: np.ndarray) -> TreeEnsemble:
    """The ensemble of a LightGBM model; its base is the raw score at ``reference_row``
    minus the trees' sum there."""
    dump = _booster(model).dump_model()
    k = int(dump.get("num_tree_per_iteration", 1))
    if dump.get("average_output"):
        raise ValueError("LightGBM random forests (average_output) are not supported yet")
    n_features = int(dump["max_feature_idx"]) + 1
    leaves = [_leaves(info["tree_structure"], k, info["tree_index"] % k)
              for info in dump["tree_info"]]  # fmt: skip
    ensemble = TreeEnsemble.from_leaves(leaves, [0.0] * k, n_features, right_closed=True)
    raw = lightgbm_margin(model)(reference_row[None, :])[0]
    summed = ensemble.predict(torch.as_tensor(reference_row[None, :])).numpy()[0]
    ensemble.base = torch.as_tensor(raw - summed, dtype=torch.float64)
    return ensemble
