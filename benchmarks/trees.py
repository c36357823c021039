"""Exact tree Shapley values against shap's TreeExplainer: 1,000 rows against 100 background
rows (the interventional game) of a 200-tree depth-6 gradient boosting classifier on 30
features (its margin; its probability on 200 rows), and of LightGBM's default classifier
(interventional, path-dependent, and path-dependent interaction values on 100 rows).

Defaults: each library's user-facing call, the model read inside the timed call (perspicio's
``tabular.Explainer(...).explain``, which checks efficiency; shap's
``TreeExplainer(...)(rows)``, which checks additivity). Best: the model read once, outside
both timed calls, perspicio's tree functions and shap's ``shap_values`` without the
additivity check."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .common import Case

ROWS, BACKGROUND = 1000, 100
PROBABILITY_ROWS = 200
INTERACTION_ROWS = 100

DEFAULTS = (
    "the model read inside both timed calls: perspicio tabular.Explainer(model, background"
    "{extra}).explain(rows) (its efficiency check on, its default), shap TreeExplainer(model"
    "{shap_extra})(rows) (check_additivity=True, its default{shap_note})"
)
BEST = (
    "the model read once, outside both timed calls: perspicio {ours} on the read ensemble, "
    "shap explainer.{call}(rows{check}) on the built explainer"
)
#: shap's compiled TreeSHAP (``shap._cext``) starts no threads; LightGBM's own
#: ``pred_contrib``, which shap calls for path-dependent values, runs on OpenMP threads
ONE_THREAD = "shap's compiled TreeSHAP runs on one thread whatever the limit"


def setup():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = make_classification(n_samples=3000, n_features=30, n_informative=10, random_state=0)
    model = GradientBoostingClassifier(n_estimators=200, max_depth=6, random_state=0).fit(X, y)
    return model, X[:BACKGROUND], X[BACKGROUND : BACKGROUND + ROWS]


def _values(values, n: int, *shape: int) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values)).reshape(n, *(shape or (-1,)))


def _quiet(fn):
    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return call


def one_thread(fn):
    """``fn`` with torch on one thread (the thread count restored after)."""

    def call():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn()
        finally:
            torch.set_num_threads(threads)

    return call


def cases(device: torch.device) -> list[Case]:
    import lightgbm
    import shap
    from sklearn.datasets import make_classification

    from perspicio import tabular
    from perspicio.tabular.trees import (
        interventional_shap,
        path_dependent_interactions,
        path_dependent_shap,
        probability_shap,
        read_tree_model,
    )

    def check(a, b):
        return float((a.cpu().double() - b.cpu().double()).abs().max())

    out = []

    model, background, rows = setup()
    X, y = make_classification(n_samples=3000, n_features=30, n_informative=10, random_state=0)
    deep = lightgbm.LGBMClassifier(verbose=-1).fit(X, y)  # defaults: 100 trees, 31 leaves
    deep_background, deep_rows = X[:BACKGROUND], X[BACKGROUND : BACKGROUND + ROWS]

    def interventional(label, model, background, rows, n_rows=ROWS, probability=False):
        """The four calls of an interventional case."""
        part = rows[:n_rows]
        ensemble = read_tree_model(model, background[0]).to(device)
        x, z = torch.tensor(part, device=device), torch.tensor(background, device=device)
        extra = {"model_output": "probability"} if probability else {}
        built = shap.TreeExplainer(model, data=background, **extra)
        if probability:
            ours_best = lambda: probability_shap(ensemble, x, z, slope=1.0)[..., 0]  # noqa: E731
        else:
            ours_best = lambda: interventional_shap(ensemble, x, z)[..., 0]  # noqa: E731
        output = {"output": "probability"} if probability else {}
        return (
            Case(
                label,
                lambda: tabular.Explainer(model, background, **output).explain(part).attributions,
                _quiet(
                    lambda: _values(
                        shap.TreeExplainer(model, data=background, **extra)(part).values, n_rows
                    )
                ),
                check=check,
                ours_best=ours_best,
                theirs_best=_quiet(
                    lambda: _values(built.shap_values(part, check_additivity=False), n_rows)
                ),
                settings=DEFAULTS.format(
                    extra=', output="probability"' if probability else "",
                    shap_extra=", data=background"
                    + (', model_output="probability"' if probability else ""),
                    shap_note="; with data, feature_perturbation is interventional",
                ),
                best=BEST.format(
                    ours="probability_shap" if probability else "interventional_shap",
                    call="shap_values",
                    check=", check_additivity=False",
                ),
            ),
            ours_best,
            built,
        )

    case, gb_best, gb_built = interventional(
        f"GradientBoosting 200 trees depth 6, {ROWS:,} rows x {BACKGROUND} background",
        model,
        background,
        rows,
    )
    out.append(case)
    out.append(
        Case(
            "the same, perspicio on one torch thread (best settings)",
            one_thread(gb_best),
            None,
            check=check,
            theirs_best=_quiet(
                lambda: _values(gb_built.shap_values(rows, check_additivity=False), ROWS)
            ),
            settings=f"{ONE_THREAD}; here perspicio's torch runs on one thread too",
            best=BEST.format(
                ours="interventional_shap", call="shap_values", check=", check_additivity=False"
            ),
        )
    )
    out.append(
        interventional(
            f"the probability output, {PROBABILITY_ROWS} rows x {BACKGROUND} background",
            model,
            background,
            rows,
            PROBABILITY_ROWS,
            probability=True,
        )[0]
    )
    ensemble = read_tree_model(deep, X[0])
    width = ensemble.features.shape[-1]
    out.append(
        interventional(
            f"LightGBM defaults (100 trees, 31 leaves, paths through {width} features), "
            f"{ROWS:,} rows x {BACKGROUND} background",
            deep,
            deep_background,
            deep_rows,
        )[0]
    )

    # path-dependent: no background (the trees' own cover)
    x_deep = torch.tensor(deep_rows, device=device)
    deep_ensemble = ensemble.to(device)
    path_explainer = shap.TreeExplainer(deep)
    path = "tree_shap_path_dependent"
    out.append(
        Case(
            f"path-dependent values, LightGBM defaults, {ROWS:,} rows",
            lambda: (
                tabular.Explainer(deep, deep_background, method=path)
                .explain(deep_rows)
                .attributions
            ),
            _quiet(lambda: _values(shap.TreeExplainer(deep)(deep_rows).values, ROWS)),
            check=check,
            ours_best=lambda: path_dependent_shap(deep_ensemble, x_deep)[..., 0],
            theirs_best=_quiet(lambda: _values(path_explainer.shap_values(deep_rows), ROWS)),
            settings=DEFAULTS.format(
                extra=f', method="{path}"',
                shap_extra="",
                shap_note="; without data it is path-dependent: it calls "
                "LightGBM's own predict(pred_contrib=True), on OpenMP "
                "threads, and checks no additivity on that path",
            ),
            best=BEST.format(ours="path_dependent_shap", call="shap_values", check=""),
        )
    )
    few = deep_rows[:INTERACTION_ROWS]
    x_few = x_deep[:INTERACTION_ROWS]
    out.append(
        Case(
            f"path-dependent interaction values, LightGBM defaults, {INTERACTION_ROWS} rows",
            lambda: path_dependent_interactions(read_tree_model(deep, X[0]).to(device), x_few)[
                ..., 0
            ],
            _quiet(
                lambda: _values(
                    shap.TreeExplainer(deep).shap_interaction_values(few), INTERACTION_ROWS, 30, 30
                )
            ),
            check=check,
            ours_best=lambda: path_dependent_interactions(deep_ensemble, x_few)[..., 0],
            theirs_best=_quiet(
                lambda: _values(
                    path_explainer.shap_interaction_values(few), INTERACTION_ROWS, 30, 30
                )
            ),
            settings="the model read inside both timed calls: perspicio read_tree_model and "
            "path_dependent_interactions (tabular.Explainer has no interaction values), "
            "shap TreeExplainer(model).shap_interaction_values(rows) (its compiled code)",
            best="the model read once, outside both timed calls",
        )
    )
    return out
