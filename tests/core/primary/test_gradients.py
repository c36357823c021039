"""Saliency, InputXGradient and IntegratedGradients."""

import pytest
import torch
from torch import nn

from perspicio.core import InputXGradient, IntegratedGradients, Saliency
from perspicio.core._engine.approximation import METHODS


def linear_model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(5, 3).eval()


def test_saliency_is_the_analytic_gradient():
    net = linear_model()
    x = torch.randn(4, 5)
    assert torch.allclose(
        Saliency(net).attribute(x, target=2, abs=False), net.weight[2].expand(4, 5)
    )
    assert torch.allclose(Saliency(net).attribute(x, target=2), net.weight[2].abs().expand(4, 5))
    # a quadratic: d/dx sum(x^2) = 2x
    x = torch.randn(3, 4)
    assert torch.allclose(Saliency(lambda t: (t**2).sum(1)).attribute(x, abs=False), 2 * x)


def test_input_x_gradient_is_x_times_w():
    net = linear_model()
    x = torch.randn(4, 5)
    assert torch.allclose(InputXGradient(net).attribute(x, target=1), x * net.weight[1])


@pytest.mark.parametrize("method", METHODS)
def test_ig_on_linear_model_is_exact(method):
    net = linear_model()
    x, b = torch.randn(4, 5), torch.randn(4, 5)
    attr = IntegratedGradients(net).attribute(x, b, target=0, n_steps=7, method=method)
    assert torch.allclose(attr, (x - b) * net.weight[0], atol=1e-6)


def test_ig_completeness_with_gauss_legendre():
    torch.manual_seed(0)
    smooth = nn.Sequential(
        nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.Softplus(), nn.Linear(32, 3)
    )
    x = torch.randn(8, 6) * 2
    attr, delta = IntegratedGradients(smooth).attribute(
        x, target=1, n_steps=50, method="gausslegendre", return_convergence_delta=True
    )
    gap = smooth(x)[:, 1] - smooth(torch.zeros_like(x))[:, 1]
    assert delta.shape == (8,)
    assert (delta.abs() < 1e-3 * gap.abs().clamp(min=1e-2)).all()
    assert torch.allclose(attr.sum(1) - delta, gap, atol=1e-5)


def test_ig_internal_batch_size_gives_the_same_numbers(mlp):
    x = torch.randn(5, 6)
    full = IntegratedGradients(mlp).attribute(x, target=0, n_steps=20)
    for size in (1, 5, 7, 33):
        chunked = IntegratedGradients(mlp).attribute(
            x, target=0, n_steps=20, internal_batch_size=size
        )
        assert torch.allclose(full, chunked, atol=1e-6)


def test_ig_local_form_and_tuple_inputs(two_input_net):
    x1, x2 = torch.randn(3, 4), torch.randn(3, 3)
    ig = IntegratedGradients(two_input_net, multiply_by_inputs=False)
    assert not ig.multiplies_by_inputs
    g1, g2 = ig.attribute((x1, x2), target=0, additional_forward_args=(2.0,))
    a1, a2 = IntegratedGradients(two_input_net).attribute(
        (x1, x2), target=0, additional_forward_args=(2.0,)
    )
    assert torch.allclose(g1 * x1, a1) and torch.allclose(g2 * x2, a2)


def test_ig_callable_target_and_per_example_targets(mlp):
    x = torch.randn(4, 6)
    ig = IntegratedGradients(mlp)
    per_example = ig.attribute(x, target=[0, 1, 2, 0])
    rows = [ig.attribute(x[i : i + 1], target=t) for i, t in enumerate([0, 1, 2, 0])]
    assert torch.allclose(per_example, torch.cat(rows), atol=1e-6)
    summed = ig.attribute(x, target=lambda out: out[:, 0] + out[:, 1])
    assert torch.allclose(summed, ig.attribute(x, target=0) + ig.attribute(x, target=1), atol=1e-5)


# --------------------------------------------------------------- agreement with Captum
def test_agrees_with_captum(mlp, cnn):
    from tests.oracle import captum_attr as C

    x, b = torch.randn(6, 6), torch.randn(6, 6) * 0.1
    for method in ("riemann_left", "riemann_right", "riemann_middle", "gausslegendre"):
        ours = IntegratedGradients(mlp).attribute(x, b, target=2, n_steps=16, method=method)
        theirs = C.IntegratedGradients(mlp).attribute(x, b, target=2, n_steps=16, method=method)
        assert torch.allclose(ours, theirs, atol=1e-6)
    xi = torch.randn(3, 3, 8, 8)
    for cls in ("Saliency", "InputXGradient", "IntegratedGradients"):
        ours = getattr(__import__("perspicio.core", fromlist=[cls]), cls)(cnn).attribute(
            xi, target=1
        )
        theirs = getattr(C, cls)(cnn).attribute(xi, target=1)
        assert torch.allclose(ours, theirs, atol=1e-6), cls
    _, d_ours = IntegratedGradients(cnn).attribute(xi, target=1, return_convergence_delta=True)
    _, d_theirs = C.IntegratedGradients(cnn).attribute(xi, target=1, return_convergence_delta=True)
    assert torch.allclose(d_ours, d_theirs, atol=1e-5)
