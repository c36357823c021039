"""Exact Shapley values of tree ensembles: every supported model type read correctly, equal
to a brute-force enumeration of coalitions and to shap, efficient, missing values routed
as the libraries route them."""

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

sklearn = pytest.importorskip("sklearn")
from sklearn import ensemble, tree  # noqa: E402

from perspicio.tabular.trees import read_tree_model  # noqa: E402
from perspicio.tabular.trees.interventional import interventional_shap  # noqa: E402
from perspicio.tabular.trees.sklearn import raw_output, read_sklearn  # noqa: E402

torch.set_num_threads(1)


def data(classes: int = 2, n: int = 200, features: int = 5, seed: int = 0, ties: bool = True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    X = X.round(2) if ties else X  # ties exercise the <= at thresholds
    score = X[:, 0] + 2 * X[:, 1] * (X[:, 2] > 0) - X[:, 3]
    if classes:
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    else:
        y = score + 0.1 * rng.normal(size=n)
    return X, y


E = ensemble
MODELS = [
    ("DecisionTreeClassifier", tree.DecisionTreeClassifier(max_depth=4, random_state=0), 2),
    ("DecisionTreeRegressor", tree.DecisionTreeRegressor(max_depth=4, random_state=0), 0),
    ("RandomForestClassifier", E.RandomForestClassifier(8, max_depth=3, random_state=0), 3),
    ("RandomForestRegressor", E.RandomForestRegressor(8, max_depth=3, random_state=0), 0),
    ("ExtraTreesClassifier", E.ExtraTreesClassifier(8, max_depth=3, random_state=0), 2),
    ("ExtraTreesRegressor", E.ExtraTreesRegressor(8, max_depth=3, random_state=0), 0),
    (
        "GradientBoostingClassifier",
        E.GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
        2,
    ),
    (
        "GradientBoostingClassifier3",
        E.GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0),
        3,
    ),
    (
        "GradientBoostingRegressor",
        E.GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0),
        0,
    ),
    (
        "HistGradientBoostingClassifier",
        E.HistGradientBoostingClassifier(max_iter=15, max_depth=3, random_state=0),
        2,
    ),
    (
        "HistGradientBoostingClassifier3",
        E.HistGradientBoostingClassifier(max_iter=8, max_depth=3, random_state=0),
        3,
    ),
    (
        "HistGradientBoostingRegressor",
        E.HistGradientBoostingRegressor(max_iter=15, max_depth=3, random_state=0),
        0,
    ),
]


def brute_force(f, x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Shapley values by enumerating every coalition: ``(F, K)``."""
    n_features = len(x)
    value = {}
    for size in range(n_features + 1):
        for coalition in itertools.combinations(range(n_features), size):
            mixed = background.copy()
            mixed[:, list(coalition)] = x[list(coalition)]
            value[coalition] = f(mixed).mean(0)
    phi = np.zeros((n_features, len(value[()])))
    for i in range(n_features):
        others = [j for j in range(n_features) if j != i]
        for size in range(n_features):
            weight = (
                math.factorial(size)
                * math.factorial(n_features - size - 1)
                / math.factorial(n_features)
            )
            for coalition in itertools.combinations(others, size):
                with_i = tuple(sorted((*coalition, i)))
                phi[i] += weight * (value[with_i] - value[coalition])
    return phi


@pytest.mark.parametrize("name, model, classes", MODELS, ids=[m[0] for m in MODELS])
def test_equal_to_enumerated_shapley_values_and_efficient(name, model, classes):
    X, y = data(classes)
    model.fit(X, y)
    f = raw_output(model)
    ensemble = read_sklearn(model, X[0])
    # the boxes reproduce the model exactly, ties at thresholds included
    np.testing.assert_allclose(ensemble.predict(torch.tensor(X)).numpy(), f(X), atol=1e-9)
    background, rows = X[:40], X[150:156]
    phi = interventional_shap(ensemble, torch.tensor(rows), torch.tensor(background)).numpy()
    for r in range(len(rows)):
        np.testing.assert_allclose(phi[r], brute_force(f, rows[r], background), atol=1e-9)
    np.testing.assert_allclose(phi.sum(1), f(rows) - f(background).mean(0), atol=1e-9)


def test_rows_do_not_interact_and_bad_models_are_named():
    X, y = data(0)
    model = ensemble.GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=0).fit(
        X, y
    )
    ens = read_sklearn(model, X[0])
    all_rows = interventional_shap(ens, torch.tensor(X[:20]), torch.tensor(X[50:80]), chunk=7)
    one = interventional_shap(ens, torch.tensor(X[5:6]), torch.tensor(X[50:80]))
    torch.testing.assert_close(all_rows[5:6], one)
    from sklearn.linear_model import LinearRegression

    with pytest.raises(TypeError, match="not a supported"):
        read_sklearn(LinearRegression().fit(X, y), X[0])


def test_the_explainer_takes_a_tree_model_and_explains_it_exactly():
    """The shap users' call: Explainer(GradientBoostingClassifier().fit(X, y), X_train)
    explains the margin exactly by default, equal to perspicio's exact ShapleyValues over
    the same background, and says so in its parameters."""
    import pandas as pd

    from perspicio import tabular

    X, y = data(2)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = E.GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(frame, y)
    explainer = tabular.Explainer(model, frame.iloc[:30])
    exp = explainer.explain(frame.iloc[150:154])
    assert exp.method == "tree_shap"
    assert exp.parameters["output"].startswith("raw margin")
    gap = (exp.scores - exp.baseline_scores).double()
    torch.testing.assert_close(exp.attributions.sum(1).double(), gap, atol=1e-5, rtol=0)
    exact = tabular.Explainer(
        lambda rows: model.decision_function(rows),
        frame.iloc[:30],
        method="shapley_values",
        baseline="background",
        feature_names=list(frame.columns),
    )
    reference = exact.explain(frame.iloc[150:154].to_numpy())
    torch.testing.assert_close(
        exp.attributions.double(), reference.attributions.double(), atol=1e-5, rtol=0
    )
    forest = E.RandomForestClassifier(10, max_depth=3, random_state=0).fit(frame, y)
    probability = tabular.Explainer(forest, frame.iloc[:30]).explain(frame.iloc[150:152])
    assert probability.parameters["output"].startswith("probability")
    sampled = tabular.Explainer(model.predict_proba, frame.iloc[:30], method="kernel_shap")
    assert sampled.method == "kernel_shap"  # a bound method keeps the sampled path


def other_library_models():
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    return [
        ("XGBClassifier", xgboost.XGBClassifier(n_estimators=10, max_depth=3), 2),
        ("XGBClassifier3", xgboost.XGBClassifier(n_estimators=5, max_depth=3), 3),
        ("XGBRegressor", xgboost.XGBRegressor(n_estimators=10, max_depth=3), 0),
        ("LGBMClassifier", lightgbm.LGBMClassifier(n_estimators=10, max_depth=3, verbose=-1), 2),
        ("LGBMClassifier3", lightgbm.LGBMClassifier(n_estimators=5, max_depth=3, verbose=-1), 3),
        ("LGBMRegressor", lightgbm.LGBMRegressor(n_estimators=10, max_depth=3, verbose=-1), 0),
    ]


@pytest.mark.parametrize("index", range(6))
def test_xgboost_and_lightgbm_are_read_exactly(index):
    from perspicio.tabular.trees import raw_output as any_raw_output

    name, model, classes = other_library_models()[index]
    X, y = data(classes)
    model.fit(X, y)
    f = any_raw_output(model)
    ensemble = read_tree_model(model, X[0])
    # XGBoost adds its margins in float32: equal to its rounding
    np.testing.assert_allclose(ensemble.predict(torch.tensor(X)).numpy(), f(X), atol=2e-6)
    background, rows = X[:40], X[150:153]
    phi = interventional_shap(ensemble, torch.tensor(rows), torch.tensor(background)).numpy()
    for r in range(len(rows)):
        np.testing.assert_allclose(phi[r], brute_force(f, rows[r], background), atol=1e-5)


def _shap_values(model, background, rows):
    import shap

    explainer = shap.TreeExplainer(model, data=background, feature_perturbation="interventional")
    values = np.asarray(explainer(rows, check_additivity=False).values)
    return values if values.ndim == 3 else values[..., None]


@pytest.mark.parametrize("name, model, classes", MODELS, ids=[m[0] for m in MODELS])
def test_equal_to_shaps_tree_explainer(name, model, classes):
    """Without values at a threshold: there shap's tree traversal and scikit-learn's
    disagree (a RandomForestRegressor's values differed by 2e-3 on rows rounded to two
    decimals), and perspicio follows scikit-learn (the enumeration test above)."""
    pytest.importorskip("shap")
    if name == "GradientBoostingClassifier3":
        pytest.skip("shap reads GradientBoostingClassifier for binary classification only")
    X, y = data(classes, ties=False)
    model.fit(X, y)
    background, rows = X[:50], X[150:160]
    ours = interventional_shap(
        read_tree_model(model, X[0]), torch.tensor(rows), torch.tensor(background)
    ).numpy()
    np.testing.assert_allclose(ours, _shap_values(model, background, rows), atol=1e-5)


@pytest.mark.parametrize("index", range(6))
def test_xgboost_and_lightgbm_equal_shaps_tree_explainer(index):
    pytest.importorskip("shap")
    name, model, classes = other_library_models()[index]
    X, y = data(classes, ties=False)
    model.fit(X, y)
    background, rows = X[:50], X[150:160]
    ours = interventional_shap(
        read_tree_model(model, X[0]), torch.tensor(rows), torch.tensor(background)
    ).numpy()
    np.testing.assert_allclose(ours, _shap_values(model, background, rows), atol=1e-5)


@pytest.mark.parametrize("name, model, classes", MODELS, ids=[m[0] for m in MODELS])
def test_path_dependent_values_equal_shaps_and_are_efficient(name, model, classes):
    from perspicio.tabular.trees import expected_value, path_dependent_shap

    X, y = data(classes, ties=False)
    model.fit(X, y)
    ensemble = read_tree_model(model, X[0])
    rows = X[150:160]
    ours = path_dependent_shap(ensemble, torch.tensor(rows)).numpy()
    f = raw_output(model)
    np.testing.assert_allclose(ours.sum(1), f(rows) - expected_value(ensemble).numpy(), atol=1e-9)
    shap = pytest.importorskip("shap")
    if name == "GradientBoostingClassifier3":
        pytest.skip("shap reads GradientBoostingClassifier for binary classification only")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(shap.TreeExplainer(model)(rows, check_additivity=False).values)
    np.testing.assert_allclose(ours, theirs.reshape(ours.shape), atol=1e-5)


@pytest.mark.parametrize("index", range(6))
def test_path_dependent_values_of_xgboost_and_lightgbm_equal_shaps(index):
    shap = pytest.importorskip("shap")
    from perspicio.tabular.trees import path_dependent_shap

    name, model, classes = other_library_models()[index]
    X, y = data(classes, ties=False)
    model.fit(X, y)
    rows = X[150:160]
    ours = path_dependent_shap(read_tree_model(model, X[0]), torch.tensor(rows)).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(shap.TreeExplainer(model)(rows, check_additivity=False).values)
    np.testing.assert_allclose(ours, theirs.reshape(ours.shape), atol=1e-5)


def test_the_explainer_offers_the_path_dependent_variant_by_name():
    import pandas as pd

    from perspicio import tabular
    from perspicio.tabular.trees import expected_value, path_dependent_shap

    X, y = data(2, ties=False)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = E.RandomForestClassifier(10, max_depth=3, random_state=0).fit(frame, y)
    explainer = tabular.Explainer(model, frame.iloc[:30], method="tree_shap_path_dependent")
    exp = explainer.explain(frame.iloc[150:154], target=1)
    assert exp.method == "tree_shap_path_dependent"
    assert "path-dependent" in exp.parameters["algorithm"]
    ensemble = read_tree_model(model, X[0])
    expected = path_dependent_shap(ensemble, torch.tensor(X[150:154]))[..., 1]
    torch.testing.assert_close(exp.attributions.double(), expected, atol=1e-6, rtol=0)
    mean = expected_value(ensemble)[1].expand(4)
    torch.testing.assert_close(exp.baseline_scores.double(), mean, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="needs a tree model"):
        tabular.Explainer(model.predict_proba, frame.iloc[:30], method="tree_shap")


INTERACTION_MODELS = [m for m in MODELS if m[2] in (0, 2) and m[0] != "DecisionTreeClassifier"]


@pytest.mark.parametrize(
    "name, model, classes", INTERACTION_MODELS, ids=[m[0] for m in INTERACTION_MODELS]
)
def test_path_dependent_interaction_values_equal_shaps(name, model, classes):
    shap = pytest.importorskip("shap")
    from perspicio.tabular.trees import path_dependent_interactions, path_dependent_shap

    X, y = data(classes, ties=False)
    model.fit(X, y)
    rows = X[150:155]
    ensemble = read_tree_model(model, X[0])
    ours = path_dependent_interactions(ensemble, torch.tensor(rows)).numpy()
    torch.testing.assert_close(
        torch.tensor(ours).sum(2), path_dependent_shap(ensemble, torch.tensor(rows))
    )
    assert np.allclose(ours, ours.transpose(0, 2, 1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(shap.TreeExplainer(model).shap_interaction_values(rows))
    if ours.shape[-1] == 1:
        np.testing.assert_allclose(ours[..., 0], theirs.reshape(ours.shape[:3]), atol=1e-5)
    else:  # one matrix per class, classes last in shap's array
        np.testing.assert_allclose(ours, theirs.reshape(ours.shape), atol=1e-5)


def test_dependence_plot_finds_the_interacting_feature():
    """y = x0 * x1 (+ x2): the attribution of x0 at a given x0 depends on x1 only."""
    import pandas as pd

    from perspicio import tabular

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = X[:, 0] * X[:, 1] + 0.5 * X[:, 2]
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = E.GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0).fit(frame, y)
    exp = tabular.Explainer(model, frame.iloc[:50]).explain(frame.iloc[100:300])
    assert exp.strongest_interaction("a") == "b"
    assert exp.strongest_interaction("b") == "a"
    fig = exp.plot_dependence("a")
    assert len(fig.axes) == 2  # the scatter and its colour bar
    with pytest.raises(ValueError, match="`feature`"):
        exp.plot_dependence("z")


def with_missing(X: np.ndarray, share: float = 0.15, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = X.copy()
    X[rng.random(X.shape) < share] = np.nan
    return X


def missing_value_models():
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    return [
        tree.DecisionTreeClassifier(max_depth=4, random_state=0),
        E.RandomForestRegressor(5, max_depth=3, random_state=0),
        E.HistGradientBoostingClassifier(max_iter=10, max_depth=3, random_state=0),
        xgboost.XGBClassifier(n_estimators=8, max_depth=3),
        lightgbm.LGBMRegressor(n_estimators=8, max_depth=3, verbose=-1),
    ]


@pytest.mark.parametrize("index", range(5))
def test_missing_values_follow_the_trees_default_branches(index):
    """Trained and explained with NaN: the ensemble predicts what the model does, and the
    Shapley values equal the enumeration over coalitions (a NaN is a value like another:
    the model itself scores the mixed rows), rows and background both holding NaN."""
    from perspicio.tabular.trees import raw_output as any_raw_output

    model = missing_value_models()[index]
    X, y = data(2 if "Classifier" in type(model).__name__ else 0)
    X = with_missing(X)
    model.fit(X, y)
    f = any_raw_output(model)
    ensemble = read_tree_model(model, X[0])
    np.testing.assert_allclose(ensemble.predict(torch.tensor(X)).numpy(), f(X), atol=2e-6)
    background, rows = X[:30], X[150:156]
    assert np.isnan(rows).any() and np.isnan(background).any()
    phi = interventional_shap(ensemble, torch.tensor(rows), torch.tensor(background)).numpy()
    for r in range(len(rows)):
        np.testing.assert_allclose(phi[r], brute_force(f, rows[r], background), atol=1e-5)


@pytest.mark.parametrize("index", range(2, 5))
def test_missing_values_as_shap_routes_them(index):
    """Both variants against shap's TreeExplainer on rows with NaN (histogram boosting,
    XGBoost, LightGBM)."""
    shap = pytest.importorskip("shap")
    from perspicio.tabular.trees import path_dependent_shap

    model = missing_value_models()[index]
    X, y = data(2 if "Classifier" in type(model).__name__ else 0, ties=False)
    X = with_missing(X)
    model.fit(X, y)
    ensemble = read_tree_model(model, X[0])
    background, rows = X[:50], X[150:160]
    ours = interventional_shap(ensemble, torch.tensor(rows), torch.tensor(background)).numpy()
    np.testing.assert_allclose(ours, _shap_values(model, background, rows), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(shap.TreeExplainer(model).shap_values(rows))
    ours = path_dependent_shap(ensemble, torch.tensor(rows)).numpy()
    np.testing.assert_allclose(ours, theirs.reshape(ours.shape), atol=1e-5)


def test_missing_values_are_refused_where_the_trees_do_not_say_where_they_go():
    from perspicio import tabular
    from perspicio.tabular.trees import TreeEnsemble

    leaves = [
        [
            ({0: (-math.inf, 0.5, 0.5, True)}, [1.0], 1.0),
            ({0: (0.5, math.inf, 0.5, False)}, [2.0], 1.0),
        ]
    ]
    routed = TreeEnsemble.from_leaves(leaves, [0.0], 1, routes_missing=True)
    silent = TreeEnsemble.from_leaves(leaves, [0.0], 1)
    nan = torch.tensor([[math.nan], [1.0]])
    assert routed.predict(nan)[:, 0].tolist() == [1.0, 2.0]  # NaN goes left here
    with pytest.raises(ValueError, match="missing values"):
        silent.predict(nan)
    # the front end: NaN only where the exact tree methods route it
    X, y = data(2)
    X = with_missing(X)
    model = E.HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    exp = tabular.Explainer(model, X[:40]).explain(X[100:110])
    gap = exp.attributions.sum(1) - (exp.scores - exp.baseline_scores).double()
    assert float(gap.abs().max()) < 1e-5
    with pytest.raises(ValueError, match="`background` holds NaN"):
        tabular.Explainer(model.predict_proba, X[:40])
    with pytest.raises(ValueError, match="`background` holds missing values"):
        tabular.Explainer(model, X[:40], method="kernel_shap")
    with pytest.raises(ValueError, match="`X` holds NaN"):
        tabular.Explainer(model.predict_proba, X[~np.isnan(X).any(1)][:40]).explain(X[:5])


def test_global_importance_of_a_tree_model_through_the_dataset_engine():
    """The whole table, shard by shard, equals explaining it at once."""
    import pandas as pd

    from perspicio import tabular

    X, y = data(2, ties=False)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = E.GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0).fit(frame, y)
    explainer = tabular.Explainer(model, frame.iloc[:40])
    table = explainer.global_importance(frame.iloc[40:140], batch_size=30, show_progress=False)
    direct = explainer.explain(frame.iloc[40:140])
    assert table.method == "tree_shap" and table.attributions.shape == (100, 5)
    torch.testing.assert_close(table.attributions, direct.attributions)
    importance = table.global_importance()
    assert importance.index[-1] == "f4"  # the one column y is not made of


def test_deep_trees_are_explained_pair_by_pair_and_equal_enumeration():
    """Paths through more features than the pattern table holds (as a default histogram
    boosting model grows: 31 leaves, no depth limit): the interventional values read each
    pair's bits, equal to enumeration, NaN included; the probability too; the
    path-dependent values and interaction values row by row (efficient, symmetric)."""
    from perspicio import tabular
    from perspicio.tabular.trees import MAX_PATH_FEATURES, probability_shap

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 12)).round(2)
    y = X @ np.arange(1, 13) + rng.normal(size=2000)
    gappy = with_missing(X, share=0.05)
    deep = tree.DecisionTreeRegressor(min_samples_leaf=3, random_state=0).fit(gappy, y)
    ensemble = read_tree_model(deep, gappy[0])
    assert ensemble.features.shape[-1] > MAX_PATH_FEATURES
    f = raw_output(deep)
    background, rows = gappy[:12], gappy[300:302]
    assert np.isnan(background).any()
    phi = interventional_shap(ensemble, torch.tensor(rows), torch.tensor(background)).numpy()
    for r in range(len(rows)):
        np.testing.assert_allclose(phi[r], brute_force(f, rows[r], background), atol=1e-9)

    boosted = E.GradientBoostingClassifier(n_estimators=3, max_depth=20, random_state=0)
    boosted.fit(X, y > np.median(y))
    ensemble = read_tree_model(boosted, X[0])
    assert ensemble.features.shape[-1] > MAX_PATH_FEATURES
    background, rows = X[:30], X[300:305]
    p = probability_shap(ensemble, torch.tensor(rows), torch.tensor(background), 1.0)
    gap = p[..., 0].sum(1).numpy() - (
        boosted.predict_proba(rows)[:, 1] - boosted.predict_proba(background)[:, 1].mean()
    )
    assert np.abs(gap).max() < 1e-10
    assert tabular.Explainer(boosted, X[:20]).explain(X[:2]).attributions.shape == (2, 12)
    # the path-dependent values and interaction values row by row: efficient
    from perspicio.tabular.trees import (
        expected_value,
        path_dependent_interactions,
        path_dependent_shap,
    )

    explainer = tabular.Explainer(boosted, X[:20], method="tree_shap_path_dependent")
    exp = explainer.explain(X[:4], target=0)
    margin = boosted.decision_function(X[:4]) - expected_value(ensemble)[0].item()
    np.testing.assert_allclose(exp.attributions.double().sum(1).numpy(), margin, atol=1e-6)
    matrix = path_dependent_interactions(ensemble, torch.tensor(X[:3]))
    torch.testing.assert_close(matrix.sum(2), path_dependent_shap(ensemble, torch.tensor(X[:3])))
    torch.testing.assert_close(matrix, matrix.transpose(1, 2))


@pytest.mark.parametrize("name, model, classes", MODELS, ids=[m[0] for m in MODELS])
def test_the_row_by_row_path_dependent_values_equal_the_tabulated_ones(name, model, classes):
    """The algorithm for deep paths (each leaf's product built per row, each factor
    divided out; for the interaction values, each pair of factors) against the pattern
    table, on trees shallow enough for both, with missing values where the model routes
    them."""
    from perspicio.tabular.trees.path_dependent import (
        _deep_pair_values,
        _deep_path_dependent_shap,
        _tabulated_pair_values,
        path_dependent_shap,
    )

    X, y = data(classes)
    if name.startswith("HistGradientBoosting"):
        X = with_missing(X)
    model.fit(X, y)
    ensemble = read_tree_model(model, X[0])
    rows = torch.tensor(X[150:170])
    tabulated = path_dependent_shap(ensemble, rows)
    by_row = _deep_path_dependent_shap(ensemble, ensemble.prepare(rows), chunk=7)
    torch.testing.assert_close(by_row, tabulated, atol=1e-12, rtol=0)
    prepared = ensemble.prepare(rows)
    pairs = _deep_pair_values(ensemble, prepared, chunk=7)
    expected = _tabulated_pair_values(ensemble, prepared, 64, 8)
    off = ~torch.eye(ensemble.n_features, dtype=torch.bool)
    torch.testing.assert_close(pairs[:, off], expected[:, off], atol=1e-12, rtol=0)


def test_a_default_lightgbm_model_with_deep_paths_equals_shap():
    """LightGBM's defaults (31 leaves, no depth limit) on 30 features: paths deeper than
    the pattern table, explained pair by pair (interventional) and row by row
    (path-dependent, and its interaction values), each equal to shap's TreeExplainer."""
    pytest.importorskip("shap")
    lightgbm = pytest.importorskip("lightgbm")
    from sklearn.datasets import make_classification

    from perspicio.tabular.trees import MAX_PATH_FEATURES

    X, y = make_classification(n_samples=3000, n_features=30, n_informative=10, random_state=0)
    model = lightgbm.LGBMClassifier(n_estimators=60, verbose=-1).fit(X, y)
    ensemble = read_tree_model(model, X[0])
    assert ensemble.features.shape[-1] > MAX_PATH_FEATURES
    background, rows = X[:40], X[100:120]
    ours = interventional_shap(ensemble, torch.tensor(rows), torch.tensor(background)).numpy()
    np.testing.assert_allclose(ours, _shap_values(model, background, rows), atol=1e-5)
    import shap

    from perspicio.tabular.trees import path_dependent_interactions, path_dependent_shap

    ours = path_dependent_shap(ensemble, torch.tensor(rows)).numpy()
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    theirs = np.asarray(explainer(rows, check_additivity=False).values)
    np.testing.assert_allclose(ours, theirs.reshape(ours.shape), atol=1e-8)
    # interaction values (shap's path-dependent ones), on a few rows
    ours = path_dependent_interactions(ensemble, torch.tensor(rows[:4])).numpy()
    theirs = np.asarray(explainer.shap_interaction_values(rows[:4]))
    np.testing.assert_allclose(ours[..., 0], theirs.reshape(ours.shape[:-1]), atol=1e-8)
