"""Exact tree Shapley values against shap's compiled TreeExplainer (interventional) and
against perspicio's own KernelShap: 1,000 rows, 100 background rows, a 200-tree depth-6
gradient boosting classifier on 30 features (its margin; its probability on 200 rows)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .common import Case

ROWS, BACKGROUND = 1000, 100
PROBABILITY_ROWS = 200
INTERACTION_ROWS = 100


def setup():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = make_classification(n_samples=3000, n_features=30, n_informative=10, random_state=0)
    model = GradientBoostingClassifier(n_estimators=200, max_depth=6, random_state=0).fit(X, y)
    return model, X[:BACKGROUND], X[BACKGROUND : BACKGROUND + ROWS]


def cases(device: torch.device) -> list[Case]:
    import shap

    from perspicio.tabular.trees import (
        interventional_shap,
        path_dependent_interactions,
        path_dependent_shap,
        read_tree_model,
    )

    model, background, rows = setup()
    ensemble = read_tree_model(model, background[0]).to(device)
    x, z = torch.tensor(rows, device=device), torch.tensor(background, device=device)

    def ours():
        return interventional_shap(ensemble, x, z)[..., 0].cpu()

    def theirs():
        explainer = shap.TreeExplainer(model, data=background,
                                       feature_perturbation="interventional")  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.tensor(np.asarray(explainer(rows, check_additivity=False).values))

    def check(a, b):
        return float((a - b).abs().max())

    from perspicio.tabular.trees import probability_shap

    few = rows[:PROBABILITY_ROWS]
    x_few = torch.tensor(few, device=device)

    def ours_probability():
        return probability_shap(ensemble, x_few, z, slope=1.0)[..., 0].cpu()

    def theirs_probability():
        explainer = shap.TreeExplainer(model, data=background, model_output="probability",
                                       feature_perturbation="interventional")  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.tensor(np.asarray(explainer.shap_values(few)))

    from perspicio import tabular

    exact = tabular.Explainer(model, background)  # tree_shap
    sampled = tabular.Explainer(model.decision_function, background, method="kernel_shap",
                                seed=0)  # fmt: skip

    def kernel_part():  # KernelShap's time is linear in rows: 20 rows, scaled by 50
        return sampled.explain(rows[:20]).attributions

    import lightgbm
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=3000, n_features=30, n_informative=10, random_state=0)
    deep = lightgbm.LGBMClassifier(verbose=-1).fit(X, y)  # defaults: 100 trees, 31 leaves
    deep_ensemble = read_tree_model(deep, X[0]).to(device)
    deep_background, deep_rows = X[:BACKGROUND], X[BACKGROUND : BACKGROUND + ROWS]
    x_deep = torch.tensor(deep_rows, device=device)
    z_deep = torch.tensor(deep_background, device=device)

    def ours_deep():
        return interventional_shap(deep_ensemble, x_deep, z_deep)[..., 0].cpu()

    def theirs_deep():
        explainer = shap.TreeExplainer(deep, data=deep_background,
                                       feature_perturbation="interventional")  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = explainer(deep_rows, check_additivity=False).values
            return torch.tensor(np.asarray(values)).reshape(len(deep_rows), -1)

    def ours_deep_path():
        return path_dependent_shap(deep_ensemble, x_deep)[..., 0].cpu()

    def theirs_deep_path():
        explainer = shap.TreeExplainer(deep, feature_perturbation="tree_path_dependent")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = explainer(deep_rows, check_additivity=False).values
            return torch.tensor(np.asarray(values)).reshape(len(deep_rows), -1)

    def ours_deep_pairs():
        return path_dependent_interactions(deep_ensemble, x_deep[:INTERACTION_ROWS])[..., 0].cpu()

    def theirs_deep_pairs():
        explainer = shap.TreeExplainer(deep, feature_perturbation="tree_path_dependent")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = explainer.shap_interaction_values(deep_rows[:INTERACTION_ROWS])
            return torch.tensor(np.asarray(values)).reshape(INTERACTION_ROWS, 30, 30)

    return [
        Case(f"path-dependent interaction values, LightGBM defaults (row by row), "
             f"{INTERACTION_ROWS} rows (vs shap)", ours_deep_pairs, theirs_deep_pairs,
             check=check),
        Case(f"path-dependent tree Shapley values, LightGBM defaults (paths through "
             f"{deep_ensemble.features.shape[-1]} features: row by row), 1000 rows (vs shap)",
             ours_deep_path, theirs_deep_path, check=check),
        Case(f"tree Shapley values, LightGBM defaults (100 trees, 31 leaves, paths through "
             f"{deep_ensemble.features.shape[-1]} features: read pair by pair), 1000 rows x "
             "100 background (vs shap)", ours_deep, theirs_deep, check=check),
        Case("tree Shapley values, GB 200 trees depth 6, 1000 rows x 100 background (vs shap)",
             ours, theirs, check=check),
        Case(f"the probability output (margin values rescaled per pair), {PROBABILITY_ROWS} "
             "rows x 100 background (vs shap's model_output='probability')",
             ours_probability, theirs_probability, check=check),
        Case("tabular.Explainer on the same 1000 rows: tree_shap vs kernel_shap (200 samples, "
             "every background row; measured on 20 rows x 50)",
             lambda: exact.explain(rows).attributions, kernel_part, theirs_scale=ROWS / 20),
    ]  # fmt: skip
