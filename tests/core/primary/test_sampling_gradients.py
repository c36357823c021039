"""GradientShap and NoiseTunnel: analytic cases, reproducibility, agreement with Captum."""

import pytest
import torch
from torch import nn

from perspicio.core import (
    DeepLift,
    GradientShap,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)


def test_gradient_shap_on_linear_model_is_exact():
    torch.manual_seed(0)
    net = nn.Linear(5, 2)
    x, background = torch.randn(4, 5), torch.randn(30, 5)
    attr = GradientShap(net).attribute(x, background, n_samples=200, target=1, generator=0)
    # each draw gives w * (x - b_j); the mean over draws tends to w * (x - mean(b))
    picks = torch.Generator().manual_seed(0)
    assert attr.shape == x.shape
    expected = (x - background.mean(0)) * net.weight[1]
    assert torch.allclose(attr, expected, atol=0.15)
    # with a single baseline the result is exact whatever the draws
    attr1 = GradientShap(net).attribute(x, background[:1], n_samples=3, target=1, generator=picks)
    assert torch.allclose(attr1, (x - background[0]) * net.weight[1], atol=1e-6)


def test_gradient_shap_is_reproducible_and_batches_identically(mlp):
    x, background = torch.randn(3, 6), torch.randn(10, 6)
    gs = GradientShap(mlp)
    a = gs.attribute(x, background, n_samples=8, stdevs=0.1, target=0, generator=7)
    b = gs.attribute(x, background, n_samples=8, stdevs=0.1, target=0, generator=7)
    c = gs.attribute(x, background, n_samples=8, stdevs=0.1, target=0, generator=8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gradient_shap_delta_and_expected_completeness(mlp):
    x, background = torch.randn(2, 6), torch.randn(6, 6)
    attr, delta = GradientShap(mlp).attribute(
        x, background, n_samples=4, target=2, return_convergence_delta=True, generator=0
    )
    assert delta.shape == (2 * 4,)
    # expected gradients with many samples approach F(x) - E[F(x')]
    attr = GradientShap(mlp).attribute(
        x, background, n_samples=4000, target=2, generator=1, internal_batch_size=2000
    )
    gap = mlp(x)[:, 2] - mlp(background)[:, 2].mean()
    assert torch.allclose(attr.sum(1), gap, atol=0.05 * gap.abs().max().item() + 0.01)


def test_gradient_shap_errors(mlp):
    x = torch.randn(2, 6)
    with pytest.raises(ValueError, match="n_samples"):
        GradientShap(mlp).attribute(x, torch.zeros(3, 6), n_samples=0, target=0)
    with pytest.raises(ValueError, match="stdevs"):
        GradientShap(mlp).attribute(x, torch.zeros(3, 6), stdevs=-1.0, target=0)


def test_noise_tunnel_without_noise_equals_the_method(mlp):
    x = torch.randn(4, 6)
    for method, kw in ((Saliency(mlp), {}), (IntegratedGradients(mlp), {"n_steps": 10})):
        nt = NoiseTunnel(method)
        base = method.attribute(x, target=1, **kw)
        assert torch.allclose(
            nt.attribute(x, nt_samples=3, stdevs=0.0, target=1, **kw), base, atol=1e-6
        )
        assert torch.allclose(
            nt.attribute(x, nt_type="smoothgrad_sq", nt_samples=3, stdevs=0.0, target=1, **kw),
            base**2,
            atol=1e-6,
        )
        assert (
            nt.attribute(x, nt_type="vargrad", nt_samples=3, stdevs=0.0, target=1, **kw).abs().max()
            < 1e-6
        )


def test_noise_tunnel_on_linear_saliency_has_no_variance():
    torch.manual_seed(0)
    net = nn.Linear(5, 2)
    nt = NoiseTunnel(Saliency(net))
    x = torch.randn(3, 5)
    sg = nt.attribute(x, nt_samples=6, stdevs=1.0, target=0, abs=False, generator=0)
    assert torch.allclose(sg, net.weight[0].expand(3, 5), atol=1e-6)
    assert (
        nt.attribute(x, nt_type="vargrad", nt_samples=6, target=0, abs=False, generator=0)
        .abs()
        .max()
        < 1e-6
    )


def test_noise_tunnel_smoothgrad_is_the_mean_of_noisy_gradients(mlp):
    """A literal SmoothGrad: draw the same noise (one pattern per draw, shared by the
    examples) and average the plain gradients."""
    x = torch.randn(2, 6)
    sg = NoiseTunnel(Saliency(mlp)).attribute(
        x, nt_samples=5, stdevs=0.3, target=0, abs=False, generator=3
    )
    gen = torch.Generator().manual_seed(3)
    noise = 0.3 * torch.randn((5, 6), generator=gen)
    noisy = x.repeat(5, 1) + noise.repeat_interleave(2, 0)
    grads = Saliency(mlp).attribute(noisy, target=0, abs=False).reshape(5, 2, 6)
    assert torch.allclose(sg, grads.mean(0), atol=1e-6)


def test_noise_tunnel_batches_deltas_and_baselines(mlp):
    x, b = torch.randn(3, 6), torch.randn(3, 6)
    nt = NoiseTunnel(DeepLift(mlp))
    attr, delta = nt.attribute(
        x,
        nt_samples=4,
        nt_samples_batch_size=3,
        stdevs=0.1,
        baselines=b,
        target=[0, 1, 2],
        return_convergence_delta=True,
        generator=0,
    )
    assert attr.shape == x.shape and delta.shape == (12,) and delta.abs().max() < 1e-5
    background = torch.randn(7, 6)
    attr = nt.attribute(
        x,
        nt_samples=4,
        stdevs=0.1,
        baselines=background,
        draw_baseline_from_distrib=True,
        target=0,
        generator=0,
    )
    assert attr.shape == x.shape
    with pytest.raises(ValueError, match="nt_type"):
        nt.attribute(x, nt_type="smooth", target=0)
    with pytest.raises(ValueError, match="has no convergence delta"):
        NoiseTunnel(Saliency(mlp)).attribute(x, target=0, return_convergence_delta=True)
    with pytest.raises(TypeError, match="attribution_method"):
        NoiseTunnel(mlp)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_agrees_with_captum_where_the_draws_do_not_matter():
    from tests.oracle import captum_attr as C

    torch.manual_seed(0)
    net = nn.Linear(5, 3)
    x, background = torch.randn(4, 5), torch.randn(1, 5)
    ours = GradientShap(net).attribute(x, background, n_samples=5, target=2)
    theirs = C.GradientShap(net).attribute(x, background, n_samples=5, target=2)
    assert torch.allclose(ours, theirs, atol=1e-6)
    ours = NoiseTunnel(Saliency(net)).attribute(x, nt_samples=4, target=1, abs=False)
    theirs = C.NoiseTunnel(C.Saliency(net)).attribute(x, nt_samples=4, target=1, abs=False)
    assert torch.allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 2, None])
def test_sampling_gradients_explain_a_row_the_same_alone_or_in_a_batch(mlp, chunk):
    """The draws are shared by the batch and made before chunking: a row's attribution does
    not depend on the other rows, nor on the chunk size."""
    x, background = torch.randn(4, 6), torch.randn(7, 6)
    gs = GradientShap(mlp)
    together = gs.attribute(
        x,
        background,
        n_samples=6,
        stdevs=0.1,
        target=1,
        generator=0,
        internal_batch_size=None if chunk is None else 4 * chunk,
    )
    for i in range(4):
        alone = gs.attribute(
            x[i : i + 1], background, n_samples=6, stdevs=0.1, target=1, generator=0
        )
        assert torch.allclose(together[i], alone[0], atol=1e-6)
    nt = NoiseTunnel(Saliency(mlp))
    together = nt.attribute(
        x, nt_samples=6, nt_samples_batch_size=chunk, stdevs=0.2, target=1, abs=False, generator=0
    )
    alone = nt.attribute(x[2:3], nt_samples=6, stdevs=0.2, target=1, abs=False, generator=0)
    assert torch.allclose(together[2], alone[0], atol=1e-6)
