"""The tabular front end: analytic attributions, groups, non-torch models, reports, errors."""

import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from perspicio import tabular


@pytest.fixture
def linear():
    torch.manual_seed(0)
    net = nn.Linear(5, 1)
    X = pd.DataFrame(
        np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32), columns=list("abcde")
    )
    return net, X


@pytest.mark.parametrize("method", ["integrated_gradients", "kernel_shap"])
def test_linear_model_with_mean_baseline(linear, method):
    net, X = linear
    exp = tabular.explain(net, X, method=method, seed=0)
    x = torch.tensor(X.to_numpy())
    expected = (x - x.mean(0)) * net.weight[0].detach()
    assert torch.allclose(exp.attributions, expected, atol=1e-4)
    assert torch.allclose(exp.attributions.sum(1), exp.scores - exp.baseline_scores, atol=1e-4)


def test_ignored_feature_gets_nothing_and_ranks_last(linear):
    _, X = linear
    net = nn.Linear(5, 1)
    with torch.no_grad():
        net.weight[0, 2] = 0.0
    result = tabular.global_importance(net, X, method="kernel_shap", seed=0, show_progress=False)
    assert result.attributions[:, 2].abs().max() < 1e-4
    assert result.global_importance().index[-1] == "c"


def test_groups_equal_ablating_their_columns_together():
    rng = np.random.default_rng(1)
    sex = rng.integers(0, 2, 30)
    X = pd.DataFrame(
        {"age": rng.normal(size=30), "sex_f": sex, "sex_m": 1 - sex, "bmi": rng.normal(size=30)}
    )
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    exp = tabular.explain(net, X, method="feature_ablation")  # one-hot prefix detected
    assert exp.features == ["age", "sex", "bmi"]
    x = torch.tensor(X.to_numpy(), dtype=torch.float32)
    base = x.mean(0, keepdim=True)
    ablated = torch.cat([x[:, :1], base[:, 1:3].expand(30, 2), x[:, 3:]], 1)
    with torch.no_grad():
        expected = (net(x) - net(ablated)).squeeze(1)
    assert torch.allclose(exp.attributions[:, 1], expected, atol=1e-5)
    explicit = tabular.explain(
        net, X, method="feature_ablation", groups={"sex": ["sex_f", "sex_m"]}
    )
    assert torch.allclose(explicit.attributions, exp.attributions)
    with pytest.raises(ValueError, match="unknown columns"):
        tabular.explain(net, X, groups={"sex": ["sex_x"]})


def test_scikit_learn_classifier_and_the_gradient_error():
    from perspicio.tabular.demo import gradient_boosting

    clf, X, _ = gradient_boosting()
    rows = X.iloc[:3]
    exp = tabular.explain(clf.predict_proba, rows, seed=0)
    assert exp.method == "kernel_shap" and exp.attributions.shape == (3, 30)
    assert torch.allclose(exp.attributions.sum(1), exp.scores - exp.baseline_scores, atol=1e-4)
    with pytest.raises(TypeError, match="needs gradients.*kernel_shap"):
        tabular.explain(clf.predict_proba, rows, method="integrated_gradients")


def test_breast_cancer_report_is_one_self_contained_file(tmp_path):
    from perspicio.tabular.demo import breast_cancer_mlp

    model, X, _ = breast_cancer_mlp()
    exp = tabular.explain(model, X.iloc[:5])
    path = exp.save(tmp_path / "report.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "http" not in page
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == 4
    assert "worst radius" in page and f"{float(exp.scores[0]):.4f}" in page
    frame = exp.to_frame()
    assert (
        list(frame.columns) == ["row", "feature", "value", "attribution"] and len(frame) == 5 * 30
    )
    assert len(exp.plot(0).axes) == 1 and len(exp.plot_global().axes) == 2
    assert path.with_suffix(".csv").exists()


def test_bad_input_raises_clear_errors(linear):
    net, X = linear
    with pytest.raises(ValueError, match="has 4 columns but the model takes 5"):
        tabular.explain(net, X.iloc[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        tabular.explain(net, X.assign(a=np.nan))
    with pytest.raises(TypeError, match="not numeric"):
        tabular.explain(net, X.assign(a="x"))
    with pytest.raises(ValueError, match="feature_names"):
        tabular.explain(net, X.to_numpy(), feature_names=["a", "b"])


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
    exp = tabular.explain(net, X.iloc[:6], preprocessor=pre, seed=0)
    assert exp.method == "kernel_shap" and exp.features == ["colour", "size", "weight"]
    assert torch.allclose(exp.attributions.sum(1), exp.scores - exp.baseline_scores, atol=1e-4)
    # the colour's attribution is its one-hot effect against the most frequent colour
    onehot_w = dict(zip(pre.named_transformers_["cat"].categories_[0], net.weight[0, :3].tolist()))
    mode = X["colour"].mode()[0]
    for i in range(6):
        expected = onehot_w[X["colour"].iloc[i]] - onehot_w[mode]
        assert exp.attributions[i, 0].item() == pytest.approx(expected, abs=1e-4)
    assert exp.to_frame()["value"].iloc[0] == X["colour"].iloc[0]
    with pytest.raises(TypeError, match="needs gradients"):
        tabular.explain(net, X.iloc[:2], preprocessor=pre, method="saliency")


def test_regression_demo_and_the_model_named_in_the_report():
    from perspicio.tabular.demo import diabetes_mlp

    model, X, _ = diabetes_mlp()
    exp = tabular.explain(model, X.iloc[:4])
    assert exp.targets == [None] * 4 and exp.attributions.shape == (4, 10)
    gap = exp.scores - exp.baseline_scores  # IG on a ReLU net: a small quadrature error
    assert torch.allclose(exp.attributions.sum(1), gap, rtol=1e-2, atol=1e-2)
    assert "StandardizedMLP" in exp.to_html()
