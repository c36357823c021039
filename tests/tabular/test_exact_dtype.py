"""Exact on the user's own data: float64 tables are explained as the model sees them, and
every exact explanation adds up to the model's own output or refuses to be shown.

The data are scikit-learn's breast-cancer and diabetes tables, as loaded (float64, values
that float32 rounds across the trees' thresholds). Two oracles that cannot share the
explainer's mistakes: the model's own prediction on all features, and Shapley values by
enumerating every coalition through the model's own prediction on an 8-feature twin.
"""

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from sklearn import ensemble, tree  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes  # noqa: E402

from perspicio import tabular  # noqa: E402
from perspicio.core.errors import EfficiencyError  # noqa: E402
from perspicio.tabular.trees import raw_output  # noqa: E402

torch.set_num_threads(1)
E = ensemble


def sklearn_models():
    return [
        ("DecisionTreeClassifier", tree.DecisionTreeClassifier(max_depth=6, random_state=0)),
        ("DecisionTreeRegressor", tree.DecisionTreeRegressor(max_depth=6, random_state=0)),
        ("RandomForestClassifier", E.RandomForestClassifier(10, max_depth=5, random_state=0)),
        ("RandomForestRegressor", E.RandomForestRegressor(10, max_depth=5, random_state=0)),
        ("ExtraTreesClassifier", E.ExtraTreesClassifier(10, max_depth=5, random_state=0)),
        ("ExtraTreesRegressor", E.ExtraTreesRegressor(10, max_depth=5, random_state=0)),
        ("GradientBoostingClassifier", E.GradientBoostingClassifier(random_state=0)),
        ("GradientBoostingRegressor", E.GradientBoostingRegressor(random_state=0)),
        # the issue's model: scikit-learn's defaults, which compare raw float64 values
        ("HistGradientBoostingClassifier", E.HistGradientBoostingClassifier(random_state=0)),
        ("HistGradientBoostingRegressor", E.HistGradientBoostingRegressor(random_state=0)),
    ]


def other_models():
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    return [
        ("XGBClassifier", xgboost.XGBClassifier(n_estimators=50, max_depth=4)),
        ("XGBRegressor", xgboost.XGBRegressor(n_estimators=50, max_depth=4)),
        ("LGBMClassifier", lightgbm.LGBMClassifier(n_estimators=50, verbose=-1)),
        ("LGBMRegressor", lightgbm.LGBMRegressor(n_estimators=50, verbose=-1)),
    ]


NAMES = [name for name, _ in sklearn_models()] + [
    "XGBClassifier",
    "XGBRegressor",
    "LGBMClassifier",
    "LGBMRegressor",
]


def model_named(name):
    for candidate, model in sklearn_models():
        if candidate == name:
            return model
    return dict(other_models())[name]


def table(name: str, n_features: int | None = None):
    """The float64 table the model type fits: breast cancer (classifiers), diabetes
    (regressors); ``n_features`` keeps the first columns."""
    load = load_breast_cancer if name.endswith("Classifier") else load_diabetes
    X, y = load(return_X_y=True, as_frame=True)
    assert (X.dtypes == np.float64).all()
    return (X if n_features is None else X.iloc[:, :n_features]), y


def own_output(model, column: int = -1):
    """The model's own output (the positive class's where it gives several), as its
    library computes it, on a DataFrame or array."""
    f = raw_output(model)
    return lambda rows: f(np.asarray(rows))[:, column]


def enumerated(f, x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Shapley values of the background-averaged game by enumerating all ``2^F``
    coalitions through ``f`` (the model's own prediction) in one call: ``(F,)``."""
    n = len(x)
    coalitions = np.array(list(itertools.product((0, 1), repeat=n)), dtype=bool)  # (2^F, F)
    mixed = np.where(coalitions[:, None, :], x[None, None, :], background[None, :, :])
    value = f(mixed.reshape(-1, n)).reshape(len(coalitions), len(background)).mean(1)
    index = {tuple(c): v for c, v in zip(coalitions.tolist(), value)}
    phi = np.zeros(n)
    for c in coalitions.tolist():
        size = sum(c)
        for i in range(n):
            if not c[i]:
                w = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                with_i = list(c)
                with_i[i] = True
                phi[i] += w * (index[tuple(with_i)] - index[tuple(c)])
    return phi


def explained(name: str, n_features: int | None, rows: slice, **kwargs):
    X, y = table(name, n_features)
    model = model_named(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    explainer = tabular.Explainer(model, X.iloc[:100], **kwargs)
    # the positive class where the model scores each class (forests' probabilities)
    target = 1 if raw_output(model)(X.iloc[:1].to_numpy()).shape[1] == 2 else None
    return model, X, explainer.explain(X.iloc[rows], target=target)


@pytest.mark.parametrize("name", NAMES)
def test_all_features_add_up_to_the_models_own_output(name):
    """On all columns, the scores are the model's own output on the user's float64 rows,
    and base + values equal them (1e-9 of the row's scale for float64 libraries)."""
    model, X, exp = explained(name, None, slice(100, 300))
    f = own_output(model)
    truth = f(X.iloc[100:300])
    assert exp.scores.dtype == torch.float64
    np.testing.assert_array_equal(exp.scores.numpy(), truth)
    total = exp.baseline_scores.numpy() + exp.attributions.numpy().sum(1)
    scale = np.maximum.reduce(
        [np.ones_like(truth), np.abs(truth), np.abs(exp.attributions.numpy()).sum(1)]
    )
    rtol = 1e-5 if name.startswith(("XGB", "Decision", "Random", "Extra", "Gradient")) else 1e-9
    assert (np.abs(total - truth) / scale).max() <= rtol


@pytest.mark.parametrize("name", NAMES)
def test_an_8_feature_twin_equals_brute_force_enumeration(name):
    model, X, exp = explained(name, 8, slice(100, 112), max_background=30)
    f = own_output(model)
    background = X.iloc[:100].to_numpy()
    # the explainer's background: 30 of the 100 rows, drawn with seed 0 (make_reference)
    pick = torch.randperm(100, generator=torch.Generator().manual_seed(0))[:30].sort().values
    background = background[pick.numpy()]
    atol = 2e-5 if name.startswith("XGB") else 1e-9  # XGBoost adds its leaves in float32
    for r, x in enumerate(X.iloc[100:112].to_numpy()):
        np.testing.assert_allclose(
            exp.attributions[r].numpy(), enumerated(f, x, background), atol=atol, rtol=0
        )


def test_the_issues_histogram_boosting_case_is_exact():
    """The default HistGradientBoostingClassifier on the float64 breast-cancer table: a
    float32 copy of the rows sent rows across thresholds (1.19 log-odds off)."""
    model, X, exp = explained("HistGradientBoostingClassifier", None, slice(100, 300))
    margin = model.decision_function(X.iloc[100:300])
    total = exp.baseline_scores.numpy() + exp.attributions.numpy().sum(1)
    assert np.abs(total - margin).max() <= 1e-9 * max(1.0, np.abs(margin).max())
    # and the float32 copy would have been wrong: the check is not vacuous on this table
    rounded = model.decision_function(X.iloc[100:300].astype(np.float32))
    assert np.abs(rounded - margin).max() > 0.1


@pytest.mark.parametrize("name", ["HistGradientBoostingClassifier", "LGBMClassifier"])
def test_path_dependent_and_probability_outputs_add_up_on_float64(name):
    model, X, exp = explained(name, None, slice(100, 200), method="tree_shap_path_dependent")
    np.testing.assert_array_equal(exp.scores.numpy(), own_output(model)(X.iloc[100:200]))
    _, _, prob = explained(name, None, slice(100, 200), output="probability")
    truth = model.predict_proba(X.iloc[100:200])[:, 1]
    np.testing.assert_allclose(prob.scores.numpy(), truth, rtol=0, atol=1e-15)
    total = prob.baseline_scores.numpy() + prob.attributions.numpy().sum(1)
    np.testing.assert_allclose(total, truth, rtol=0, atol=1e-9)


def test_values_that_do_not_add_up_are_refused_naming_the_model_and_the_row():
    X, y = table("HistGradientBoostingClassifier")
    model = E.HistGradientBoostingClassifier(random_state=0).fit(X, y)
    explainer = tabular.Explainer(model, X.iloc[:100])
    explainer.tree.float32_inputs = True  # as if the trees were read from a float32 copy
    with pytest.raises(EfficiencyError, match=r"HistGradientBoostingClassifier .*row \d+"):
        explainer.explain(X.iloc[100:300])
    assert isinstance(EfficiencyError("x"), ArithmeticError)
    unchecked = tabular.Explainer(model, X.iloc[:100], check_efficiency=False)
    unchecked.tree.float32_inputs = True
    unchecked.explain(X.iloc[100:300])  # the user turned the check off


def test_a_predict_function_receives_the_users_float64_rows_and_adds_up():
    """Exact Shapley values through any scoring function: the function sees the user's
    float64 values, and base + values equal its output to 1e-9."""
    X, y = table("GradientBoostingRegressor", 6)
    seen = []

    def score(rows):  # a float64 function whose output float32 would visibly round
        seen.append(rows.dtype)
        return np.asarray(rows, dtype=np.float64) @ np.arange(1.0, 7.0) * 1e3 + 1e4

    explainer = tabular.Explainer(score, X.iloc[:40], method="shapley_values")
    exp = explainer.explain(X.iloc[40:50])
    assert set(seen) == {np.dtype(np.float64)}
    truth = score(X.iloc[40:50].to_numpy())
    np.testing.assert_array_equal(exp.scores.numpy(), truth)
    total = exp.baseline_scores.numpy() + exp.attributions.numpy().sum(1)
    assert np.abs(total - truth).max() <= 1e-9 * np.abs(truth).max()
    # the linear function's exact values: coefficient times the distance to the mean row
    centred = X.iloc[40:50].to_numpy() - X.iloc[:40].to_numpy().mean(0)
    np.testing.assert_allclose(
        exp.attributions.numpy(), centred * np.arange(1.0, 7.0) * 1e3, rtol=1e-9, atol=1e-9
    )


def test_torch_models_get_their_parameters_dtype():
    X, _ = table("GradientBoostingRegressor", 5)
    net64 = torch.nn.Linear(5, 1).double()
    exp = tabular.Explainer(net64, X.iloc[:30], method="shapley_values").explain(X.iloc[30:35])
    assert exp.attributions.dtype == torch.float64
    with torch.no_grad():
        truth = net64(torch.tensor(X.iloc[30:35].to_numpy())).reshape(-1)
    torch.testing.assert_close(exp.scores, truth, rtol=0, atol=0)
    net32 = torch.nn.Linear(5, 1)
    exp32 = tabular.Explainer(net32, X.iloc[:30]).explain(X.iloc[30:35])  # float32 model
    assert exp32.attributions.dtype == torch.float32


def test_tables_keep_their_precision():
    from perspicio.tabular._data import to_matrix

    frame = pd.DataFrame({"a": np.array([0.1, 0.2]), "b": [1, 2]})
    values, _ = to_matrix(frame)
    assert values.dtype == torch.float64 and values[0, 0].item() == 0.1
    small = pd.DataFrame({"a": np.array([0.5, 0.25], dtype=np.float32), "b": [True, False]})
    assert to_matrix(small)[0].dtype == torch.float32
    assert to_matrix(np.array([[2**40 + 1]], dtype=np.int64))[0].item() == 2**40 + 1
