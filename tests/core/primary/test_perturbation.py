"""FeatureAblation, FeaturePermutation, Occlusion, Shapley values, Lime and KernelShap."""

import itertools
import math

import pytest
import torch
from torch import nn

from perspicio.core import (
    FeatureAblation,
    FeaturePermutation,
    KernelShap,
    Lime,
    Occlusion,
    ShapleyValues,
    ShapleyValueSampling,
)
from perspicio.core._engine.perturbation import resolve_chunk

from ...conftest import make_cnn

PER_EVAL = [1, 3, 1000, "auto"]


def smooth_net(n_features=8, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(n_features, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    return lambda t: net(t).squeeze(1)


def brute_force_shapley(f, x, b):
    """The definition: a weighted sum over every subset, one example at a time."""
    n_features = x.shape[0]
    phi = torch.zeros(n_features, dtype=x.dtype)
    for i in range(n_features):
        others = [j for j in range(n_features) if j != i]
        for r in range(n_features):
            w = math.factorial(r) * math.factorial(n_features - r - 1) / math.factorial(n_features)
            for subset in itertools.combinations(others, r):
                z = b.clone()
                z[list(subset)] = x[list(subset)]
                with_i = z.clone()
                with_i[i] = x[i]
                phi[i] += w * (f(with_i[None]) - f(z[None])).item()
    return phi


@pytest.fixture(scope="module")
def shapley_case():
    f = smooth_net()
    torch.manual_seed(1)
    x, b = torch.randn(3, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    exact = torch.stack([brute_force_shapley(f, x[i], b[i]) for i in range(3)])
    return f, x, b, exact


def corr(a, b):
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


def test_exact_shapley_values_equal_brute_force(shapley_case):
    f, x, b, exact = shapley_case
    for per_eval in PER_EVAL:
        phi = ShapleyValues(f).attribute(x, b, perturbations_per_eval=per_eval)
        assert torch.allclose(phi, exact, atol=1e-10)


def test_sampling_estimators_converge_to_shapley_values(shapley_case):
    f, x, b, exact = shapley_case
    svs = ShapleyValueSampling(f).attribute(x, b, n_samples=200, generator=0)
    assert corr(svs, exact) >= 0.99
    # every ordering sums to F(x) - F(b) exactly
    assert torch.allclose(svs.sum(1), f(x) - f(b), atol=1e-10)
    ks = KernelShap(f).attribute(x, baselines=b, n_samples=400, generator=0)
    assert corr(ks, exact) >= 0.99
    assert torch.allclose(ks.sum(1), f(x) - f(b), atol=1e-8)
    more = KernelShap(f).attribute(x, baselines=b, n_samples=4000, generator=0)
    assert (more - exact).abs().max() < (ks - exact).abs().max()


def test_kernel_shap_is_exact_on_an_additive_model():
    torch.manual_seed(0)
    net = nn.Linear(6, 1)
    x, b = torch.randn(4, 6), torch.randn(4, 6)
    phi = KernelShap(net).attribute(x, baselines=b, n_samples=30, generator=0)
    assert torch.allclose(phi, (x - b) * net.weight, atol=1e-4)


def reference_ablation(f, x, baseline, groups):
    """One perturbation at a time: the definition of feature ablation."""
    out = torch.zeros_like(x)
    for g in groups.unique():
        xp = torch.where(groups == g, baseline, x)
        out += (f(x) - f(xp)).view(-1, *[1] * (x.dim() - 1)) * (groups == g)
    return out


def reference_occlusion(f, x, baseline, window, stride):
    total, count = torch.zeros_like(x), torch.zeros_like(x)
    ranges = [range(0, s - w + st, st) for s, w, st in zip(x.shape[1:], window, stride)]
    for start in itertools.product(*ranges):
        region = (slice(None),) + tuple(slice(a, a + w) for a, w in zip(start, window))
        xp = x.clone()
        xp[region] = baseline
        hit = torch.zeros_like(x)
        hit[region] = 1
        total += (f(x) - f(xp)).view(-1, *[1] * (x.dim() - 1)) * hit
        count += hit
    return total / count.clamp(min=1)


@pytest.mark.parametrize("per_eval", PER_EVAL)
def test_ablation_and_occlusion_equal_reference_loops(per_eval):
    cnn = make_cnn(pool=False)
    f = lambda t: cnn(t)[:, 1]  # noqa: E731
    x = torch.randn(2, 3, 8, 8)
    groups = (torch.arange(64).view(1, 1, 8, 8) // 10).expand(1, 3, 8, 8)
    fa = FeatureAblation(f).attribute(
        x, baselines=0.3, feature_mask=groups, perturbations_per_eval=per_eval
    )
    assert torch.allclose(fa, reference_ablation(f, x, 0.3, groups), atol=1e-6)
    occ = Occlusion(f).attribute(
        x, (3, 3, 2), strides=(3, 2, 1), baselines=0.3, perturbations_per_eval=per_eval
    )
    assert torch.allclose(occ, reference_occlusion(f, x, 0.3, (3, 3, 2), (3, 2, 1)), atol=1e-6)


def test_multiple_inputs_share_feature_ids(two_input_net):
    x1, x2 = torch.randn(3, 4), torch.randn(3, 3)
    masks = (torch.tensor([[0, 0, 1, 1]]), torch.tensor([[1, 2, 2]]))
    a1, a2 = FeatureAblation(two_input_net).attribute((x1, x2), target=0, feature_mask=masks)
    f = lambda u, v: two_input_net(u, v)[:, 0]  # noqa: E731
    drop_1 = f(x1, x2) - f(
        torch.cat([x1[:, :2], torch.zeros(3, 2)], 1), torch.cat([torch.zeros(3, 1), x2[:, 1:]], 1)
    )
    assert torch.allclose(a1[:, 2], drop_1, atol=1e-6) and torch.allclose(
        a2[:, 0], drop_1, atol=1e-6
    )


def test_feature_permutation_gives_unused_features_zero():
    torch.manual_seed(0)
    x = torch.randn(10, 4)
    attr = FeaturePermutation(lambda t: 2 * t[:, 0] - t[:, 2] ** 2).attribute(x, generator=0)
    assert (attr[:, [1, 3]] == 0).all() and (attr[:, [0, 2]] != 0).any()
    swap = FeaturePermutation(
        lambda t: t.sum(1), perm_func=lambda t, m: torch.where(m, t.flip(0), t)
    )
    expected = x - x.flip(0)
    assert torch.allclose(swap.attribute(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 examples"):
        FeaturePermutation(lambda t: t.sum(1)).attribute(x[:1])


def test_lime_recovers_the_weights_of_a_linear_model():
    torch.manual_seed(0)
    net = nn.Linear(6, 1)
    x = torch.ones(3, 6)
    attr = Lime(net).attribute(x, n_samples=80, generator=0)
    assert torch.allclose(attr, net.weight.expand(3, 6), atol=1e-4)
    coef = Lime(net).attribute(x, n_samples=80, generator=0, return_input_shape=False)
    assert coef.shape == (3, 6)


@pytest.mark.parametrize("cls", [Lime, KernelShap])
def test_batched_equals_one_at_a_time(cls):
    f = smooth_net(seed=2)
    x = torch.randn(5, 8, dtype=torch.float64)
    together = cls(f).attribute(x, n_samples=64, generator=11)
    alone = torch.cat(
        [cls(f).attribute(x[i : i + 1], n_samples=64, generator=11) for i in range(5)]
    )
    assert torch.allclose(together, alone, atol=1e-10)


def test_scikit_learn_regressor_is_accepted():
    sklearn = pytest.importorskip("sklearn.linear_model")
    torch.manual_seed(0)
    net = nn.Linear(5, 1)
    x, b = torch.randn(2, 5), torch.randn(1, 5)
    ours = Lime(net, interpretable_model=sklearn.LinearRegression()).attribute(
        x, baselines=b, generator=0
    )
    assert torch.allclose(ours, (x - b) * net.weight, atol=1e-4)
    with pytest.raises(TypeError, match="interpretable_model"):
        Lime(net, interpretable_model=object()).attribute(x, generator=0)


def test_auto_chunking_follows_the_memory_budget(mlp):
    x = torch.randn(4, 6)
    assert resolve_chunk("auto", mlp, (x,), (), 100, max_memory=1) == 1
    assert resolve_chunk("auto", mlp, (x,), (), 100, max_memory=1 << 30) == 100
    small = FeatureAblation(mlp).attribute(x, target=0, max_memory=1)
    assert torch.allclose(small, FeatureAblation(mlp).attribute(x, target=0), atol=1e-6)


def test_progress_bar(capsys, mlp):
    FeatureAblation(mlp).attribute(
        torch.randn(2, 6), target=0, perturbations_per_eval=2, show_progress=True
    )
    assert "Feature Ablation attribution: 100%" in capsys.readouterr().err


def test_bad_input_raises_clear_errors(mlp):
    x = torch.randn(2, 6)
    with pytest.raises(ValueError, match="does not broadcast"):
        FeatureAblation(mlp).attribute(
            x, target=0, feature_mask=torch.zeros(1, 5, dtype=torch.long)
        )
    with pytest.raises(ValueError, match="negative feature ids"):
        FeatureAblation(mlp).attribute(
            x, target=0, feature_mask=-torch.ones(1, 6, dtype=torch.long)
        )
    with pytest.raises(TypeError, match="integer feature ids"):
        FeatureAblation(mlp).attribute(x, target=0, feature_mask=torch.full((1, 6), 0.5))
    # whole numbers in a float tensor (e.g. zeros_like of the input) are ids all the same
    ids = torch.tensor([[0, 0, 1, 1, 2, 2]])
    assert torch.equal(
        FeatureAblation(mlp).attribute(x, target=0, feature_mask=ids.float()),
        FeatureAblation(mlp).attribute(x, target=0, feature_mask=ids),
    )
    with pytest.raises(ValueError, match="must be positive and fit"):
        Occlusion(mlp).attribute(x, target=0, sliding_window_shapes=(7,))
    with pytest.raises(ValueError, match="would never be occluded"):
        Occlusion(mlp).attribute(x, target=0, sliding_window_shapes=(2,), strides=(3,))
    with pytest.raises(ValueError, match="`strides` must be positive"):
        Occlusion(mlp).attribute(x, target=0, sliding_window_shapes=(2,), strides=(0,))
    with pytest.raises(ValueError, match="must each give 1 number"):
        Occlusion(mlp).attribute(x, target=0, sliding_window_shapes=(2, 2))
    for cls in (ShapleyValueSampling, Lime, KernelShap):
        with pytest.raises(ValueError, match="n_samples"):
            cls(mlp).attribute(x, target=0, n_samples=0)
    for bad in (0, -2, 1.5, "fast", True):
        with pytest.raises(ValueError, match="perturbations_per_eval"):
            FeatureAblation(mlp).attribute(x, target=0, perturbations_per_eval=bad)
    with pytest.raises(ValueError, match="one output per example.*target=0"):
        FeatureAblation(lambda t: t.sum()).attribute(x, target=0)  # a batch value has no class
    with pytest.raises(ValueError, match="at most 20"):
        ShapleyValues(lambda t: t.sum(1)).attribute(torch.randn(1, 21))


# --------------------------------------------------------------- agreement with Captum
def test_agrees_with_captum():
    from tests.oracle import captum_attr as C

    cnn = make_cnn()
    x = torch.randn(2, 3, 8, 8)
    mask = torch.arange(64).view(1, 1, 8, 8) // 9
    for ppe in (1, 4, "auto"):
        ours = FeatureAblation(cnn).attribute(
            x, target=2, feature_mask=mask, perturbations_per_eval=ppe
        )
        theirs = C.FeatureAblation(cnn).attribute(x, target=2, feature_mask=mask)
        assert torch.allclose(ours, theirs, atol=1e-6)
        ours = Occlusion(cnn).attribute(
            x, (3, 3, 3), strides=(1, 2, 2), target=2, perturbations_per_eval=ppe
        )
        theirs = C.Occlusion(cnn).attribute(x, (3, 3, 3), strides=(1, 2, 2), target=2)
        assert torch.allclose(ours, theirs, atol=1e-6)
    small = torch.arange(64).view(1, 1, 8, 8) // 16
    ours = ShapleyValues(cnn).attribute(x, target=2, feature_mask=small)
    theirs = C.ShapleyValues(cnn).attribute(x, target=2, feature_mask=small)
    assert torch.allclose(ours, theirs, atol=1e-5)
    # on a model linear in its features every correct surrogate is exact
    torch.manual_seed(0)
    net = nn.Linear(5, 1)
    row = torch.randn(1, 5)
    theirs = C.KernelShap(net).attribute(row, n_samples=200)
    assert torch.allclose(
        KernelShap(net).attribute(row, n_samples=200, generator=0), theirs, atol=1e-4
    )
    flip = lambda t, m: torch.where(m, t.flip(0), t)  # noqa: E731
    xs = torch.randn(4, 5)
    theirs = C.FeaturePermutation(net, perm_func=flip).attribute(xs)
    assert torch.allclose(FeaturePermutation(net, perm_func=flip).attribute(xs), theirs, atol=1e-6)


def test_auto_sizing_measures_plain_functions_like_modules():
    from perspicio.core._engine.batching import bytes_per_row

    net = make_cnn()
    x = torch.randn(3, 3, 8, 8)
    as_module = bytes_per_row(net, (x,), ())
    as_function = bytes_per_row(lambda t: net(t) * 1.0, (x,), ())
    assert 0.5 * as_module <= as_function <= 2 * as_module
    assert not torch.overrides._get_current_function_mode_stack()


def test_the_memory_probe_runs_once_per_model_and_input_signature():
    from perspicio.core._engine.batching import auto_rows

    net = make_cnn()
    calls = []
    handle = net.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    try:
        x = torch.randn(3, 3, 8, 8)
        first = auto_rows(net, (x,), ())
        assert calls == [1]  # one probe row
        assert auto_rows(net, (torch.randn(5, 3, 8, 8),), ()) == first  # same row shape
        assert calls == [1]
        auto_rows(net, (torch.randn(2, 3, 12, 12),), ())  # another image size: measured anew
        assert calls == [1, 1]
        net[1] = nn.Tanh()  # another structure: measured anew
        auto_rows(net, (x,), ())
        assert calls == [1, 1, 1]
    finally:
        handle.remove()


def test_ablation_evaluates_the_unperturbed_input_with_the_first_chunk():
    net = make_cnn()
    x = torch.randn(2, 3, 8, 8)
    mask = torch.arange(4).view(1, 1, 2, 2).repeat_interleave(4, 2).repeat_interleave(4, 3)
    rows = []
    handle = net.register_forward_pre_hook(lambda m, a: rows.append(a[0].shape[0]))
    try:
        attr = FeatureAblation(net).attribute(
            x, target=0, feature_mask=mask, perturbations_per_eval=4
        )
    finally:
        handle.remove()
    assert rows == [2 * 5]  # one call: the input and its 4 ablations
    with torch.no_grad():
        full = net(x)[:, 0]
        for k in range(4):
            ablated = net(torch.where(mask == k, 0.0, x))[:, 0]
            assert torch.allclose(
                attr[mask.expand_as(x) == k].view(2, -1)[:, 0], full - ablated, atol=1e-6
            )
