"""scikit-learn's trees read into a :class:`TreeEnsemble`: decision trees, random forests,
extra trees, gradient boosting and histogram gradient boosting."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .ensemble import Leaf, TreeEnsemble, walk_tree


def _tree_leaves(
    estimator: Any, scale: float, normalise: bool, column: int | None = None
) -> list[Leaf]:
    tree = estimator.tree_
    values = tree.value[:, 0, :] if column is None else tree.value[:, 0, column : column + 1]

    def value(node: int) -> list[float]:
        v = values[node]
        if normalise:
            v = v / v.sum()
        return list(v * scale)

    missing = getattr(tree, "missing_go_to_left", None)  # scikit-learn >= 1.3
    return walk_tree(
        0,
        lambda n: tree.children_left[n] == -1,
        value,
        lambda n: (
            int(tree.feature[n]),
            float(tree.threshold[n]),
            int(tree.children_left[n]),
            int(tree.children_right[n]),
        ),
        lambda n: float(tree.weighted_n_node_samples[n]),
        None if missing is None else lambda n: bool(missing[n]),
    )


def _hist_leaves(predictor: Any) -> list[Leaf]:
    nodes = predictor.nodes
    if nodes["is_categorical"].any():
        raise ValueError("histogram gradient boosting with categorical splits is not supported yet")
    return walk_tree(
        0,
        lambda n: bool(nodes["is_leaf"][n]),
        lambda n: [float(nodes["value"][n])],
        lambda n: (
            int(nodes["feature_idx"][n]),
            float(nodes["num_threshold"][n]),
            int(nodes["left"][n]),
            int(nodes["right"][n]),
        ),
        lambda n: float(nodes["count"][n]),
        lambda n: bool(nodes["missing_go_to_left"][n]),
    )


#: the scikit-learn tree models read exactly
SUPPORTED = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
)


def is_tree_model(model: Any) -> bool:
    """Whether ``model`` is a fitted scikit-learn tree model :func:`read_sklearn` reads."""
    return (
        type(model).__name__ in SUPPORTED
        and type(model).__module__.startswith("sklearn")
        and hasattr(model, "n_features_in_")
    )


def output_name(model: Any) -> str:
    """What :func:`raw_output` explains, in words for a report."""
    name = type(model).__name__
    if name.endswith("Classifier") and name.startswith(("GradientBoosting", "HistGradient")):
        return "raw margin (decision_function, log-odds)"
    if name.endswith("Classifier"):
        return "probability (predict_proba)"
    return "prediction (predict)"


def raw_output(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The output the ensemble adds up: probabilities of averaged forests, the margin
    (decision function) of boosted classifiers, the prediction of regressors; ``(N, K)``.
    Rows come as arrays in the model's column order, so a model fitted on a DataFrame is
    not warned about missing feature names."""
    name = type(model).__name__
    if name.endswith("Classifier") and not name.startswith(("GradientBoosting", "HistGradient")):
        method = model.predict_proba
    elif name.endswith("Classifier"):
        method = model.decision_function
    else:
        method = model.predict

    def output(X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return np.asarray(method(X)).reshape(len(X), -1)

    return output


def probability_slope(model: Any) -> float | None:
    """The slope ``s`` of a boosted binary classifier's link ``p = σ(s·margin)`` (2 for the
    exponential loss), or None where the trees do not add up a margin of one."""
    name = type(model).__name__
    if name not in ("GradientBoostingClassifier", "HistGradientBoostingClassifier"):
        return None
    if len(getattr(model, "classes_", ())) != 2:
        return None
    return 2.0 if getattr(model, "loss", "log_loss") == "exponential" else 1.0


def probability(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The positive class's probability ``(N, 1)`` (``predict_proba[:, 1]``)."""

    def output(X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return np.asarray(model.predict_proba(X))[:, 1:]

    return output


def _first_tree(model: Any) -> Any:
    """The first ``tree_`` of a classic scikit-learn tree model."""
    if hasattr(model, "tree_"):
        return model.tree_
    first = np.asarray(model.estimators_, dtype=object).reshape(-1)[0]
    return first.tree_


def read_sklearn(model: Any, reference_row: np.ndarray) -> TreeEnsemble:
    """The ensemble of a fitted scikit-learn tree model; its ``base`` is the model's output
    at ``reference_row`` minus the trees' sum there (the boosting's initial prediction)."""
    name = type(model).__name__
    n_features = int(model.n_features_in_)
    if name in ("DecisionTreeClassifier", "DecisionTreeRegressor"):
        trees = [_tree_leaves(model, 1.0, name.endswith("Classifier"))]
    elif name in (
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
    ):
        scale = 1.0 / len(model.estimators_)
        trees = [_tree_leaves(e, scale, name.endswith("Classifier")) for e in model.estimators_]
    elif name in ("GradientBoostingClassifier", "GradientBoostingRegressor"):
        k = model.estimators_.shape[1]
        trees = []
        for row in model.estimators_:
            per_class = [_tree_leaves(e, model.learning_rate, False) for e in row]
            if k == 1:
                trees.append(per_class[0])
            else:  # one tree per class: its values go to its class's output
                for c, leaves in enumerate(per_class):
                    trees.append(
                        [
                            (box, [v[0] if j == c else 0.0 for j in range(k)], w)
                            for box, v, w in leaves
                        ]
                    )
    elif name in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        loss = getattr(model, "loss", "squared_error")
        if name.endswith("Regressor") and loss not in (
            "squared_error",
            "absolute_error",
            "quantile",
        ):
            raise ValueError(
                f"`model`: a HistGradientBoostingRegressor with loss {loss!r} predicts through "
                "a link function; only identity-link losses are supported"
            )
        k = len(model._predictors[0])
        trees = []
        for row in model._predictors:
            for c, predictor in enumerate(row):
                leaves = _hist_leaves(predictor)
                trees.append(
                    [(box, [v[0] if j == c else 0.0 for j in range(k)], w) for box, v, w in leaves]
                    if k > 1
                    else leaves
                )
    else:
        raise TypeError(f"`model`: {name} is not a supported scikit-learn tree model")
    raw = raw_output(model)(reference_row[None, :])[0]
    routes = name.startswith("HistGradient") or hasattr(_first_tree(model), "missing_go_to_left")
    ensemble = TreeEnsemble.from_leaves(trees, [0.0] * len(raw), n_features, routes_missing=routes)
    ensemble.float32_inputs = not name.startswith("HistGradient")
    summed = ensemble.predict(torch.as_tensor(reference_row[None, :])).numpy()[0]
    ensemble.base = torch.as_tensor(raw - summed, dtype=torch.float64)
    return ensemble
