"""A boosted binary classifier's probability explained through its margin: the exact margin
values against each background row, rescaled by the pair's secant slope of the link."""

import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")
from sklearn import ensemble  # noqa: E402

from perspicio import tabular  # noqa: E402
from perspicio.tabular.trees import probability_shap, read_tree_model  # noqa: E402
from perspicio.tabular.trees.interventional import interventional_shap  # noqa: E402

from .test_trees import data, other_library_models  # noqa: E402

torch.set_num_threads(1)

SKLEARN = [
    (
        "log-loss",
        ensemble.GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
        1.0,
    ),
    (
        "exponential",
        ensemble.GradientBoostingClassifier(
            n_estimators=15, max_depth=3, loss="exponential", random_state=0
        ),
        2.0,
    ),
    (
        "histogram",
        ensemble.HistGradientBoostingClassifier(max_iter=15, max_depth=4, random_state=0),
        1.0,
    ),
]


def rescaled_by_definition(model, background, rows):
    """Per background row: the exact margin values of the one-row game (themselves tested
    against enumeration in test_trees), times the secant slope of the model's own
    ``predict_proba`` against its ``decision_function``; averaged."""
    ensemble_ = read_tree_model(model, background[0])
    margin = model.decision_function
    p = lambda X: model.predict_proba(X)[:, 1]  # noqa: E731
    out = np.zeros((len(rows), rows.shape[1]))
    for z in background:
        phi = interventional_shap(ensemble_, torch.tensor(rows), torch.tensor(z[None]))
        rise, run = p(rows) - p(z[None]), margin(rows) - margin(z[None])
        # equal margins: the rows reach the same leaves, and their values are all 0
        slope = np.divide(rise, run, out=np.zeros_like(rise), where=run != 0)
        out += phi[..., 0].numpy() * slope[:, None]
    return out / len(background)


@pytest.mark.parametrize("name, model, slope", SKLEARN, ids=[m[0] for m in SKLEARN])
def test_equal_to_the_rescaled_margin_values_and_efficient(name, model, slope):
    X, y = data(2)
    model.fit(X, y)
    background, rows = X[:30], X[150:160]
    phi = probability_shap(
        read_tree_model(model, X[0]), torch.tensor(rows), torch.tensor(background), slope
    )[..., 0].numpy()
    np.testing.assert_allclose(phi, rescaled_by_definition(model, background, rows), atol=1e-10)
    p = model.predict_proba(rows)[:, 1] - model.predict_proba(background)[:, 1].mean()
    np.testing.assert_allclose(phi.sum(1), p, atol=1e-10)


def _shap_probability(model, background, rows):
    import shap

    explainer = shap.TreeExplainer(
        model, data=background, model_output="probability", feature_perturbation="interventional"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.asarray(explainer.shap_values(rows))
    return values[..., 1] if values.ndim == 3 else values


def _binary_models():
    models = [("GradientBoostingClassifier", SKLEARN[0][1])]
    return models + [(n, m) for n, m, classes in other_library_models() if classes == 2]


@pytest.mark.parametrize("index", range(3))
def test_equal_to_shaps_probability_output(index):
    """scikit-learn's log-loss boosting, XGBoost and LightGBM. shap is no oracle for the
    exponential loss (it takes σ(margin), not σ(2·margin): its values then missed
    predict_proba by 0.15) nor for histogram boosting (its values missed by 0.03); there
    the test above checks the definition and efficiency."""
    pytest.importorskip("shap")
    name, model = _binary_models()[index]
    X, y = data(2, ties=False)
    model.fit(X, y)
    background, rows = X[:50], X[150:160]
    explainer = tabular.Explainer(model, background, output="probability")
    exp = explainer.explain(rows)
    np.testing.assert_allclose(
        exp.attributions.numpy(), _shap_probability(model, background, rows), atol=1e-5
    )
    gap = exp.attributions.sum(1) - (exp.scores - exp.baseline_scores).double()
    assert float(gap.abs().max()) < 1e-6, name
    assert exp.parameters["output"].startswith("probability of the positive class")
    assert "rescaled" in exp.parameters["algorithm"]


def test_a_rows_probability_values_do_not_depend_on_the_other_rows():
    X, y = data(2)
    model = SKLEARN[0][1].fit(X, y)
    explainer = tabular.Explainer(model, X[:40], output="probability")
    together = explainer.explain(X[150:170]).attributions
    alone = explainer.explain(X[155:156]).attributions
    torch.testing.assert_close(together[5:6], alone, rtol=0, atol=1e-12)


def test_outputs_that_do_not_exist_are_refused_by_name():
    X, y = data(2)
    forest = ensemble.RandomForestClassifier(5, max_depth=3, random_state=0).fit(X, y)
    boosted = SKLEARN[0][1].fit(X, y)
    X3, y3 = data(3)
    boosted3 = ensemble.GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X3, y3)
    regressor = ensemble.GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="add up its probability.*no margin"):
        tabular.Explainer(forest, X[:20], output="margin")
    with pytest.raises(ValueError, match=r"`output` must be one of"):
        tabular.Explainer(boosted, X[:20], output="log-odds")
    with pytest.raises(ValueError, match="'probability' needs a classifier"):
        tabular.Explainer(boosted3, X3[:20], output="probability")
    with pytest.raises(ValueError, match="'probability' needs a classifier"):
        tabular.Explainer(regressor, X[:20], output="probability")
    with pytest.raises(ValueError, match="'probability' chooses what a scikit-learn model"):
        tabular.Explainer(torch.nn.Linear(5, 1), X[:20], output="probability")
    with pytest.raises(ValueError, match="explains the margin"):
        tabular.Explainer(boosted, X[:20], output="probability", method="tree_shap_path_dependent")
    # the forests' own output and the boosting's margin are what the trees add up
    assert "probability" in tabular.Explainer(forest, X[:20], output="probability").tree_output
    assert "margin" in tabular.Explainer(boosted, X[:20], output="margin").tree_output
