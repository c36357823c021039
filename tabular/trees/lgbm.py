"""LightGBM models (``LGBMClassifier``, ``LGBMRegressor`` or a ``Booster``) read into a
:class:`TreeEnsemble` from the model's own dump (``x <= threshold`` goes left)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .ensemble import Leaf, TreeEnsemble, walk_tree


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


def probability_slope(model: Any) -> float | None:
    """The ``sigmoid`` parameter of a binary objective (``p = σ(s·margin)``), else None."""
    objective = str(_booster(model).dump_model().get("objective", ""))
    if not objective.startswith(("binary", "cross_entropy", "xentropy")):
        return None
    for part in objective.split():
        if part.startswith("sigmoid:"):
            return float(part.split(":", 1)[1])
    return 1.0


def probability(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The positive class's probability ``(N, 1)``."""
    booster = _booster(model)

    def output(X: np.ndarray) -> np.ndarray:
        out = booster.predict(np.asarray(X, dtype=np.float64))
        return np.asarray(out).reshape(len(X), 1)

    return output


def _leaves(root: dict, k: int, column: int) -> list[Leaf]:
    def value(node: dict) -> list[float]:
        out = [0.0] * k
        out[column] = float(node["leaf_value"])
        return out

    def split(node: dict) -> tuple[int, float, dict, dict]:
        if node.get("decision_type", "<=") != "<=":
            raise ValueError("LightGBM trees with categorical splits are not supported yet")
        return (
            int(node["split_feature"]),
            float(node["threshold"]),
            node["left_child"],
            node["right_child"],
        )

    def cover(node: dict) -> float:
        return float(node.get("leaf_count", node.get("internal_count", 0)))

    def missing_left(node: dict) -> bool:
        kind = node.get("missing_type", "None")
        if kind == "NaN":
            return bool(node["default_left"])
        if kind == "None":  # LightGBM reads a missing value as 0 at this split
            return 0.0 <= float(node["threshold"])
        raise ValueError(
            "LightGBM trees that route zeros as missing (zero_as_missing) are not supported"
        )

    return walk_tree(root, lambda n: "leaf_value" in n, value, split, cover, missing_left)


def read_lightgbm(model: Any, reference_row: np.ndarray) -> TreeEnsemble:
    """The ensemble of a LightGBM model; its base is the raw score at ``reference_row``
    minus the trees' sum there."""
    dump = _booster(model).dump_model()
    k = int(dump.get("num_tree_per_iteration", 1))
    if dump.get("average_output"):
        raise ValueError("LightGBM random forests (average_output) are not supported yet")
    n_features = int(dump["max_feature_idx"]) + 1
    leaves = [
        _leaves(info["tree_structure"], k, info["tree_index"] % k) for info in dump["tree_info"]
    ]
    ensemble = TreeEnsemble.from_leaves(
        leaves, [0.0] * k, n_features, right_closed=True, routes_missing=True
    )
    raw = lightgbm_margin(model)(reference_row[None, :])[0]
    summed = ensemble.predict(torch.as_tensor(reference_row[None, :])).numpy()[0]
    ensemble.base = torch.as_tensor(raw - summed, dtype=torch.float64)
    return ensemble
