"""Metrics: analytic cases, sanity checks, agreement with Captum, errors."""

import pytest
import torch
from torch import nn

from perspicio.core import IntegratedGradients, Saliency
from perspicio.core.metrics import (
    REFERENCES,
    compare_methods,
    completeness_gap,
    deletion_curve,
    infidelity,
    infidelity_perturb_func_decorator,
    insertion_curve,
    model_randomization,
    plot_comparison,
    score_attributions,
    sensitivity_max,
    sparseness,
)

from ...conftest import assert_unchanged, make_mlp, model_fingerprint


def gaussian_perturbation(inputs):
    noise = torch.randn(inputs.shape, generator=torch.Generator().manual_seed(0))
    return noise, inputs - noise


def test_infidelity_is_zero_for_the_gradient_of_a_linear_model():
    torch.manual_seed(0)
    net = nn.Linear(5, 3)
    x = torch.randn(4, 5)
    grad = Saliency(net).attribute(x, target=2, abs=False)
    assert (
        infidelity(net, gaussian_perturbation, x, grad, target=2, n_perturb_samples=8).max() < 1e-10
    )
    wrong = infidelity(net, gaussian_perturbation, x, -grad, target=2, n_perturb_samples=8)
    assert (wrong > 0.1).all()
    # normalisation rescales the attribution: a scaled gradient is as good as the gradient
    assert (
        infidelity(net, gaussian_perturbation, x, 3 * grad, target=2, normalize=True).max() < 1e-10
    )


def test_infidelity_batches_give_the_same_numbers():
    net = make_mlp()
    x = torch.randn(3, 6)
    attr = IntegratedGradients(net).attribute(x, target=0)

    def deterministic(inputs):
        return 0.1 * torch.ones_like(inputs), inputs - 0.1

    full = infidelity(net, deterministic, x, attr, target=0, n_perturb_samples=6)
    chunked = infidelity(
        net, deterministic, x, attr, target=0, n_perturb_samples=6, max_examples_per_batch=4
    )
    assert torch.allclose(full, chunked)


def test_perturb_func_decorator():
    @infidelity_perturb_func_decorator(multiply_by_inputs=True)
    def halve(inputs, baselines):
        return (inputs + baselines) / 2

    x, b = torch.tensor([[2.0, 4.0]]), torch.tensor([[0.0, 4.0]])
    perturbations, perturbed = halve(x, b)
    assert perturbed.tolist() == [[1.0, 4.0]] and perturbations.tolist() == [[0.5, 0.0]]


def test_sensitivity_of_saliency():
    torch.manual_seed(0)
    linear = nn.Linear(4, 2)
    x = torch.randn(5, 4)
    assert sensitivity_max(Saliency(linear).attribute, x, target=0, generator=0).max() == 0
    net = make_mlp(in_features=4)
    small = sensitivity_max(
        Saliency(net).attribute, x, perturb_radius=0.01, target=[0, 1, 2, 0, 1], generator=0
    )
    large = sensitivity_max(
        Saliency(net).attribute, x, perturb_radius=0.5, target=[0, 1, 2, 0, 1], generator=0
    )
    assert (large >= small).all() and large.mean() > small.mean()


def test_deletion_and_insertion_on_a_sum_model():
    x = torch.tensor([[4.0, 1.0, 3.0, 2.0], [1.0, 1.0, 1.0, 5.0]])
    total = lambda t: t.sum(1)  # noqa: E731
    deletion = deletion_curve(total, x, x, n_steps=4)
    assert deletion.scores.tolist() == [[10.0, 6.0, 3.0, 1.0, 0.0], [8.0, 3.0, 2.0, 1.0, 0.0]]
    insertion = insertion_curve(total, x, x, n_steps=4)
    assert insertion.scores.tolist() == [[0.0, 4.0, 7.0, 9.0, 10.0], [0.0, 5.0, 6.0, 7.0, 8.0]]
    reverse = deletion_curve(total, x, -x, n_steps=4)
    assert (reverse.auc > deletion.auc).all()
    assert (insertion_curve(total, x, -x, n_steps=4).auc < insertion.auc).all()


def test_deletion_with_feature_groups_and_batched_steps():
    net = make_mlp()
    x = torch.randn(3, 6)
    attr = IntegratedGradients(net).attribute(x, target=1)
    groups = torch.tensor([[0, 0, 1, 1, 2, 2]])
    a = deletion_curve(
        net, x, attr, target=1, feature_mask=groups, n_steps=3, perturbations_per_eval=1
    )
    b = deletion_curve(net, x, attr, target=1, feature_mask=groups, n_steps=3)
    assert torch.allclose(a.scores, b.scores) and a.scores.shape == (3, 4)
    assert torch.allclose(a.scores[:, 0], net(x)[:, 1]) and torch.allclose(
        a.scores[:, -1], net(torch.zeros_like(x))[:, 1]
    )


def test_randomization_check_lowers_correlation_and_leaves_the_model():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2)
    )
    before = model_fingerprint(net)
    report = model_randomization(Saliency, net, torch.randn(8, 10), target=1, generator=0)
    assert report["layer"].tolist() == ["none", "4", "2", "0"]
    assert report["rank_correlation"].iloc[0] > 0.999
    assert report["rank_correlation"].iloc[-1] < 0.6
    assert_unchanged(net, before)
    with pytest.raises(ValueError, match="does not have"):
        model_randomization(Saliency, net, torch.randn(2, 10), target=1, layers=["nope"])


def test_sparseness_and_completeness():
    assert sparseness(torch.tensor([[0.0, 0.0, 2.0]])).item() == pytest.approx(2 / 3)
    net = make_mlp()
    x = torch.randn(4, 6)
    ig = IntegratedGradients(net).attribute(x, target=1, n_steps=200)
    sal = Saliency(net).attribute(x, target=1)
    assert (
        completeness_gap(net, x, ig, target=1).max()
        < 0.05 * completeness_gap(net, x, sal, target=1).max()
    )


def test_compare_methods_table():
    net = make_mlp()
    x = torch.randn(6, 6)
    methods = {"ig": "integrated_gradients", "sal": Saliency(net), "fa": "feature_ablation"}
    table = compare_methods(net, x, methods, target=[0, 1, 2, 0, 1, 2], generator=0)
    assert list(table.index) == ["ig", "sal", "fa", *REFERENCES]
    assert table.attrs["higher_is_better"] == {
        "infidelity": False,
        "sensitivity": False,
        "deletion_auc": False,
        "insertion_auc": True,
        "sparseness": True,
    }
    assert torch.isfinite(torch.tensor(table.to_numpy())).all()
    with pytest.raises(ValueError, match="unknown metric"):
        compare_methods(net, x, ["saliency"], metrics=["speed"], target=0)


def test_references_are_in_every_report_and_a_column_they_win_is_marked():
    """A linear model: Integrated Gradients (its exact contributions) beats both references
    on the deletion and insertion curves and faithfulness correlation; the constant map is
    perfectly stable, so it wins the robustness column, which is marked, and a robustness
    metric asked alone comes with a faithfulness score."""
    torch.manual_seed(0)
    net = torch.nn.Linear(12, 3)
    x = torch.randn(8, 12)
    metrics = ["deletion_auc", "insertion_auc", "faithfulness_correlation", "average_sensitivity"]
    table = compare_methods(
        net, x, ["integrated_gradients"], metrics=metrics, target=1, baselines=0.0, generator=0
    )
    ig = table.loc["integrated_gradients"]
    for ref in REFERENCES:
        assert ig["deletion_auc"] < table.loc[ref, "deletion_auc"]
        assert ig["insertion_auc"] > table.loc[ref, "insertion_auc"]
        ref_fc = table.loc[ref, "faithfulness_correlation"]  # NaN for the constant: no variance
        assert ig["faithfulness_correlation"] > 0.99 and not ref_fc > 0.5
    assert table.loc["constant (reference)", "average_sensitivity"] == 0.0
    assert table.attrs["reference_wins"] == ["average_sensitivity"]
    assert set(table.attrs["spread"]) == set(table.index)
    alone = compare_methods(
        net, x, ["saliency"], metrics=["local_lipschitz_estimate"], target=1, generator=0
    )
    assert list(alone.columns) == ["local_lipschitz_estimate", "deletion_auc"]
    scored = score_attributions(
        net,
        x,
        {"exact": x * net.weight[1].detach()},
        target=1,
        metrics=["deletion_auc"],
        generator=0,
    )
    assert list(scored.index) == ["exact", *REFERENCES] and not scored.attrs["reference_wins"]
    fig = plot_comparison(table)
    assert len([a for a in fig.axes if a.has_data()]) == len(metrics)


def test_bad_input():
    net = make_mlp()
    x = torch.randn(2, 6)
    with pytest.raises(ValueError, match="shapes of `inputs`"):
        infidelity(net, gaussian_perturbation, x, torch.zeros(2, 5), target=0)
    with pytest.raises(ValueError, match="n_perturb_samples"):
        infidelity(net, gaussian_perturbation, x, x, target=0, n_perturb_samples=0)
    with pytest.raises(ValueError, match="max_examples_per_batch"):
        sensitivity_max(Saliency(net).attribute, x, target=0, max_examples_per_batch=0)


@pytest.mark.filterwarnings("ignore")
def test_agrees_with_captum_on_the_same_perturbations():
    captum_metrics = pytest.importorskip("captum.metrics")
    net = make_mlp()
    x = torch.randn(4, 6)
    attr = IntegratedGradients(net).attribute(x, target=1)

    def perturb(inputs):
        shift = 0.05 * (torch.arange(inputs.shape[1], dtype=inputs.dtype) - 2)
        return shift.expand_as(inputs), inputs - shift

    for normalize in (False, True):
        ours = infidelity(net, perturb, x, attr, target=1, n_perturb_samples=3, normalize=normalize)
        theirs = captum_metrics.infidelity(
            net, perturb, x, attr, target=1, n_perturb_samples=3, normalize=normalize
        )
        assert torch.allclose(ours, theirs, atol=1e-6)

    def shift(inputs, perturb_radius=0.02):
        return inputs + perturb_radius

    sal = Saliency(net)
    ours = sensitivity_max(sal.attribute, x, perturb_func=shift, n_perturb_samples=2, target=1)
    theirs = captum_metrics.sensitivity_max(
        sal.attribute, x, perturb_func=shift, n_perturb_samples=2, target=1
    )
    assert torch.allclose(ours, theirs, atol=1e-6)
