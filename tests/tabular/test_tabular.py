"""The tabular front end: analytic attributions, a stated background, row independence,
groups, non-torch models, reports."""

import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from perspicio import tabular
from perspicio.tabular import TABULAR_METHODS, Explainer


@pytest.fixture
def linear():
    torch.manual_seed(0)
    net = nn.Linear(5, 1)
    X = pd.DataFrame(
        np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32), columns=list("abcde")
    )
    return net, X


@pytest.fixture(scope="module")
def classifier():
    """A small non-linear classifier, a background population and rows unlike it."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).eval()
    rng = np.random.default_rng(0)
    background = pd.DataFrame(rng.normal(size=(60, 5)).astype(np.float32), columns=list("abcde"))
    rows = pd.DataFrame(rng.normal(1.0, 1.0, size=(6, 5)).astype(np.float32), columns=list("abcde"))
    return net, background, rows


@pytest.mark.parametrize("method", ["integrated_gradients", "kernel_shap"])
def test_linear_model_against_the_background_mean(linear, method):
    net, X = linear
    exp = tabular.explain(net, X.iloc[:10], background=X, method=method, baseline="mean", seed=0)
    x = torch.tensor(X.to_numpy())
    expected = (x[:10] - x.mean(0)) * net.weight[0].detach()
    assert torch.allclose(exp.attributions, expected, atol=1e-4)
    assert torch.allclose(exp.attributions.sum(1), exp.scores - exp.baseline_scores, atol=1e-4)


def test_averaging_over_the_background_on_a_linear_model_is_the_interventional_shap(linear):
    """For a linear model the Shapley value against a background population is
    w_i (x_i - E[b_i]): averaging over background rows gives it exactly."""
    net, X = linear
    rows, background = X.iloc[:3], X.iloc[3:]
    exp = Explainer(net, background, method="kernel_shap", seed=0).explain(rows)
    assert exp.parameters["baseline"] == "background"
    b = torch.tensor(background.to_numpy())
    expected = (torch.tensor(rows.to_numpy()) - b.mean(0)) * net.weight[0].detach()
    assert torch.allclose(exp.attributions, expected, atol=1e-4)
    with torch.no_grad():
        assert torch.allclose(exp.baseline_scores, net(b).mean().expand(3), atol=1e-5)


def _kwargs(method):
    extra = {"seed": 0, "n_samples": 40}
    if method == "integrated_gradients":
        extra["n_steps"] = 16
    return extra


@pytest.mark.parametrize("method", TABULAR_METHODS)
def test_a_row_is_explained_the_same_alone_or_among_others(classifier, method):
    """Same background, same seed: a row's explanation does not depend on the other rows
    of the call, and a row unlike the background gets credit."""
    net, background, rows = classifier
    explainer = Explainer(net, background, method=method, **_kwargs(method))
    together = explainer.explain(rows, target=1)
    for i in (0, 3):
        alone = explainer.explain(rows.iloc[[i]], target=1)
        assert torch.allclose(alone.attributions[0], together.attributions[i], atol=1e-5), i
        assert alone.scores[0] == pytest.approx(float(together.scores[i]), abs=1e-6)
        assert float(alone.attributions.abs().sum()) > 1e-3, "all zeros for an unusual row"
    # and the one-call form agrees with the explainer
    one_call = tabular.explain(
        net, rows.iloc[[0]], background=background, method=method, target=1, **_kwargs(method)
    )
    assert torch.allclose(one_call.attributions, together.attributions[:1], atol=1e-5)


@pytest.mark.parametrize("method", ["kernel_shap", "shapley_value_sampling", "shapley_values"])
def test_shapley_attributions_sum_to_the_score_minus_the_mean_background_score(classifier, method):
    net, background, rows = classifier
    exp = Explainer(net, background, method=method, seed=0, n_samples=30).explain(rows)
    with torch.no_grad():
        out = net(torch.tensor(rows.to_numpy()))
        mean_background = net(torch.tensor(background.to_numpy())).mean(0)
    targets = out.argmax(1)
    gap = out[torch.arange(6), targets] - mean_background[targets]
    # KernelShap is efficiency-constrained, Shapley sampling telescopes along each ordering
    assert torch.allclose(exp.attributions.sum(1), gap, atol=1e-4)


def test_one_row_without_a_background_is_refused_with_the_way_out(linear):
    net, X = linear
    with pytest.raises(ValueError, match=r"`background` is needed.*background=X_train"):
        tabular.explain(net, X.iloc[[0]])
    with pytest.raises(ValueError, match="`background`"):
        tabular.explain(net, X.iloc[:10])
    with pytest.raises(ValueError, match="`background` is required"):
        Explainer(net, None)
    many = pd.concat([X] * 2, ignore_index=True)  # 80 rows stand for their own population
    with pytest.warns(UserWarning, match="no `background` given"):
        exp = tabular.explain(net, many)
    assert exp.background == "the mean of the explained rows (80 rows)"


def test_the_background_sample_is_stated_and_seeded(classifier):
    net, background, rows = classifier
    small = Explainer(net, background, method="kernel_shap", max_background=20, seed=1)
    assert small.reference.rows.shape == (20, 5)
    assert (
        small.background_description
        == "averaged over 20 rows sampled from the background (60 rows)"
    )
    again = Explainer(net, background, method="kernel_shap", max_background=20, seed=1)
    assert torch.equal(small.reference.rows, again.reference.rows)
    full = Explainer(net, background, method="kernel_shap", background_name="training data")
    assert full.background_description == "averaged over every row of training data (60 rows)"


def test_ignored_feature_gets_nothing_and_ranks_last(linear):
    _, X = linear
    net = nn.Linear(5, 1)
    with torch.no_grad():
        net.weight[0, 2] = 0.0
    result = tabular.global_importance(net, X, method="kernel_shap", seed=0, show_progress=False)
    assert result.attributions[:, 2].abs().max() < 1e-4
    assert result.global_importance().index[-1] == "c"
    assert result.background == "averaged over every row of the explained rows (40 rows)"


def test_global_importance_equals_explaining_row_by_row(classifier):
    net, background, rows = classifier
    explainer = Explainer(net, background, method="kernel_shap", seed=0, n_samples=40)
    report = explainer.global_importance(rows, batch_size=4, show_progress=False)
    assert torch.allclose(report.attributions, explainer.explain(rows).attributions, atol=1e-5)


def test_groups_equal_ablating_their_columns_together():
    rng = np.random.default_rng(1)
    sex = rng.integers(0, 2, 30)
    X = pd.DataFrame(
        {"age": rng.normal(size=30), "sex_f": sex, "sex_m": 1 - sex, "bmi": rng.normal(size=30)}
    )
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    exp = tabular.explain(net, X, background=X, method="feature_ablation")  # prefix detected
    assert exp.features == ["age", "sex", "bmi"]
    x = torch.tensor(X.to_numpy(), dtype=torch.float32)
    base = x.mean(0, keepdim=True)
    ablated = torch.cat([x[:, :1], base[:, 1:3].expand(30, 2), x[:, 3:]], 1)
    with torch.no_grad():
        expected = (net(x) - net(ablated)).squeeze(1)
    assert torch.allclose(exp.attributions[:, 1], expected, atol=1e-5)
    explicit = tabular.explain(
        net, X, background=X, method="feature_ablation", groups={"sex": ["sex_f", "sex_m"]}
    )
    assert torch.allclose(explicit.attributions, exp.attributions)
    with pytest.raises(ValueError, match="unknown columns"):
        tabular.explain(net, X, background=X, groups={"sex": ["sex_x"]})


def test_feature_permutation_is_the_expected_effect_of_replacing_a_column(classifier):
    """Per row: the mean over background rows b of f(x) - f(x with column j := b_j)."""
    net, background, rows = classifier
    exp = Explainer(net, background, method="feature_permutation").explain(rows, target=2)
    x, b = torch.tensor(rows.to_numpy()), torch.tensor(background.to_numpy())
    expected = torch.zeros(6, 5)
    with torch.no_grad():
        for j in range(5):
            replaced = x.repeat_interleave(len(b), 0)
            replaced[:, j] = b[:, j].repeat(6)
            expected[:, j] = net(x)[:, 2] - net(replaced)[:, 2].reshape(6, len(b)).mean(1)
    assert torch.allclose(exp.attributions, expected, atol=1e-5)


def test_scikit_learn_classifier_and_the_gradient_error():
    from perspicio.tabular.demo import gradient_boosting

    clf, background, rows = gradient_boosting()
    exp = tabular.explain(
        clf.predict_proba,
        rows.iloc[:3],
        background=background,
        max_background=30,
        n_samples=100,
        seed=0,
    )
    assert exp.method == "kernel_shap" and exp.attributions.shape == (3, 30)
    assert torch.allclose(exp.attributions.sum(1), exp.scores - exp.baseline_scores, atol=1e-4)
    assert exp.parameters["model"] == "GradientBoostingClassifier.predict_proba"
    with pytest.raises(TypeError, match="needs gradients.*kernel_shap"):
        tabular.explain(
            clf.predict_proba, rows, background=background, method="integrated_gradients"
        )


def test_breast_cancer_demo_explains_one_patient_against_the_training_data(tmp_path):
    from perspicio.tabular.demo import breast_cancer_mlp

    model, background, rows = breast_cancer_mlp()
    assert (len(background), len(rows)) == (455, 114)
    explainer = Explainer(model, background, background_name="the training split")
    exp = explainer.explain(rows.iloc[[0]])
    assert float(exp.attributions.abs().sum()) > 1.0  # one patient: real, non-zero credit
    gap = float(exp.scores[0] - exp.baseline_scores[0])  # IG on a ReLU net: quadrature error
    assert float(exp.attributions.sum()) == pytest.approx(gap, rel=2e-2, abs=2e-2)
    report = explainer.explain(rows.iloc[:5])
    assert torch.allclose(report.attributions[:1], exp.attributions, atol=1e-5)
    path = report.save(tmp_path / "report.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "http" not in page  # the saved page
    assert "the mean of the training split (455 rows)" in page and "StandardizedMLP" in page
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == 4
    assert "worst radius" in page and f"{float(report.scores[0]):.4f}" in page
    frame = report.to_frame()
    assert list(frame.columns) == ["row", "feature", "value", "attribution"]
    assert len(frame) == 5 * 30
    assert len(report.plot(0).axes) == 1 and len(report.plot_global().axes) == 2
    assert path.with_suffix(".csv").exists()


def test_a_scikit_learn_preprocessor_in_front_of_a_torch_model():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], 50),
            "size": rng.normal(size=50),
            "weight": rng.normal(size=50),
        }
    )
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(sparse_output=False), ["colour"]),
            ("num", StandardScaler(), ["size", "weight"]),
        ]
    ).fit(X)
    torch.manual_seed(0)
    net = nn.Linear(5, 1)  # additive in the original columns
    exp = tabular.explain(net, X.iloc[:6], background=X, preprocessor=pre, baseline="mean", seed=0)
    assert exp.method == "kernel_shap" and exp.features == ["colour", "size", "weight"]
    assert torch.allclose(exp.attributions.sum(1), exp.scores - exp.baseline_scores, atol=1e-4)
    assert "most frequent category" in exp.background
    # the colour's attribution is its one-hot effect against the most frequent colour
    onehot_w = dict(zip(pre.named_transformers_["cat"].categories_[0], net.weight[0, :3].tolist()))
    mode = X["colour"].mode()[0]
    for i in range(6):
        expected = onehot_w[X["colour"].iloc[i]] - onehot_w[mode]
        assert exp.attributions[i, 0].item() == pytest.approx(expected, abs=1e-4)
    assert exp.to_frame()["value"].iloc[0] == X["colour"].iloc[0]
    alone = tabular.explain(net, X.iloc[[4]], background=X, preprocessor=pre, seed=0)
    among = tabular.explain(net, X.iloc[:6], background=X, preprocessor=pre, seed=0)
    assert torch.allclose(alone.attributions[0], among.attributions[4], atol=1e-5)
    with pytest.raises(TypeError, match="needs gradients"):
        tabular.explain(net, X.iloc[:2], background=X, preprocessor=pre, method="saliency")
    with pytest.raises(ValueError, match=r"column 'colour' holds \['purple'\]"):
        tabular.explain(net, X.iloc[:1].assign(colour="purple"), background=X, preprocessor=pre)


def test_regression_demo_and_the_model_named_in_the_report():
    from perspicio.tabular.demo import diabetes_mlp

    model, background, rows = diabetes_mlp()
    exp = tabular.explain(model, rows.iloc[:4], background=background, n_steps=200)
    assert exp.targets == [None] * 4 and exp.attributions.shape == (4, 10)
    gap = exp.scores - exp.baseline_scores  # IG on a ReLU net: a small quadrature error
    assert torch.allclose(exp.attributions.sum(1), gap, rtol=1e-2, atol=1e-2)
    assert "StandardizedMLP" in exp.to_html()
