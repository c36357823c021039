"""Quantus' metric families: perspicio's metrics equal Quantus 0.6 on images, with the same
random draws, where the definitions agree; the differences are deliberate and tested too."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from perspicio.core.metrics import (
    average_sensitivity,
    effective_complexity,
    entropy_complexity,
    faithfulness_correlation,
    input_invariance,
    irof,
    local_lipschitz_estimate,
    monotonicity,
    monotonicity_correlation,
    non_sensitivity,
    pixel_flipping,
    random_logit,
    region_perturbation,
    roc_auc,
    selectivity,
    top_k_intersection,
)

quantus = pytest.importorskip("quantus")
torch.set_num_threads(1)


def _quantus(name: str, a, x=None, s=None, model=None, y=None, **options):
    metric = getattr(quantus, name)(disable_warnings=True, display_progressbar=False, **options)
    x = np.random.default_rng(0).random(a.shape).astype(np.float32) if x is None else x
    y = np.zeros(len(a), dtype=int) if y is None else y
    return np.asarray(
        # softmax=False: the model's logits on both sides (several Quantus metrics default
        # to its probabilities; perspicio explains whatever the model returns)
        metric(
            model=model, x_batch=x, y_batch=y, a_batch=a, s_batch=s, device="cpu", softmax=False
        ),
        dtype=np.float64,
    )


def _maps(seed: int, n: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 1, 10, 10)) + 0.2).astype(np.float32)  # no ties


@pytest.mark.parametrize("seed", [0, 1])
def test_entropy_complexity_equals_quantus(seed):
    a = _maps(seed)
    ours = entropy_complexity(torch.from_numpy(a)).double().numpy()
    # Quantus adds 1e-12 inside the logarithm: float noise on these maps
    np.testing.assert_allclose(ours, _quantus("Complexity", a), rtol=1e-5, atol=1e-6)
    assert entropy_complexity(torch.ones(1, 100)).item() == pytest.approx(np.log(100))


def test_effective_complexity_equals_quantus_example_by_example():
    a = _maps(2)
    a[0, 0, :5] = 1e-7  # below the threshold relative to the maximum
    ours = effective_complexity(torch.from_numpy(a), eps=1e-3).numpy()
    one_by_one = [_quantus("EffectiveComplexity", a[i : i + 1], eps=1e-3)[0] for i in range(5)]
    np.testing.assert_array_equal(ours, one_by_one)
    # Quantus scales by the batch's largest value: a row's count depends on its neighbours
    scaled = a.copy()
    scaled[1] *= 1e4
    batch = _quantus("EffectiveComplexity", scaled, eps=1e-3)
    assert batch[0] < one_by_one[0]
    assert effective_complexity(torch.from_numpy(scaled), eps=1e-3)[0] == ours[0]


@pytest.mark.parametrize("k", [1, 7, 30])
def test_top_k_intersection_and_auc_equal_quantus_on_maps_without_ties(k):
    a = _maps(3)
    rng = np.random.default_rng(k)
    s = np.zeros_like(a)
    for i in range(len(a)):
        top, left = rng.integers(0, 6, 2)
        s[i, :, top : top + 4, left : left + 4] = 1
    ours = top_k_intersection(torch.from_numpy(a), torch.from_numpy(s).bool(), k=k).numpy()
    np.testing.assert_allclose(ours, _quantus("TopKIntersection", a, s=s, k=k), rtol=1e-6)
    ours = roc_auc(torch.from_numpy(a), torch.from_numpy(s).bool()).numpy()
    np.testing.assert_allclose(ours, _quantus("AUC", a, s=s), rtol=1e-6)


def test_localisation_chance_and_bad_k():
    mask = torch.zeros(1, 100, dtype=torch.bool)
    mask[0, :25] = True
    assert top_k_intersection(torch.zeros(1, 100), mask, k=10).item() == 0.25  # flat: chance
    assert roc_auc(torch.zeros(1, 100), mask).item() == 0.5
    with pytest.raises(ValueError, match="`k` must be an int between 1 and the number of"):
        top_k_intersection(torch.rand(1, 100), mask, k=101)


class _CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)
        )

    def forward(self, x):
        return self.net(x)


def test_faithfulness_correlation_equals_quantus_with_the_same_draws():
    model = _CNN().eval()
    x = np.random.default_rng(1).random((4, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    xt = torch.from_numpy(x).requires_grad_(True)
    model(xt)[torch.arange(4), torch.from_numpy(y)].sum().backward()
    a = (xt.grad * xt).detach().numpy()  # input x gradient
    runs, k = 25, 20
    drawn, choice = [], np.random.choice

    def recorded(*args, **kwargs):  # Quantus' own draws, handed to perspicio afterwards
        out = choice(*args, **kwargs)
        drawn.append(out)
        return out

    np.random.seed(7)  # noqa: NPY002 (Quantus draws from numpy's global generator)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np.random, "choice", recorded)
        theirs = _quantus(
            "FaithfulnessCorrelation",
            a,
            x=x,
            y=y,
            model=model,
            nr_runs=runs,
            subset_size=k,
            perturb_baseline="black",
            return_aggregate=False,
        )
    assert len(drawn) == runs * 4  # per run, per example
    subsets = torch.from_numpy(np.asarray(drawn)).reshape(runs, 4, k).permute(1, 0, 2)
    ours = faithfulness_correlation(
        model,
        torch.from_numpy(x),
        torch.from_numpy(a),
        torch.from_numpy(y),
        n_runs=runs,
        subset_size=k,
        subsets=subsets,
    ).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_faithfulness_correlation_ranks_exact_contributions_above_random_maps():
    """A linear model's exact contributions correlate perfectly; random maps score about 0
    and a constant map has no correlation at all (NaN: its sums do not vary with the
    subset... only through the subset's size, which is fixed)."""
    torch.manual_seed(0)
    net = nn.Linear(50, 1)
    x = torch.randn(8, 50)
    exact = x * net.weight
    good = faithfulness_correlation(
        net, x, exact, n_runs=40, subset_size=10, baseline=0.0, generator=0
    )
    assert (good > 0.999).all()
    rand = torch.stack(
        [
            faithfulness_correlation(
                net,
                x,
                torch.randn(8, 50, generator=torch.Generator().manual_seed(s)),
                n_runs=40,
                subset_size=10,
                baseline=0.0,
                generator=0,
            )
            for s in range(20)
        ]
    )
    assert (good > torch.quantile(rand, 0.95, dim=0)).all()
    assert (
        faithfulness_correlation(net, x, torch.ones(8, 50), n_runs=10, subset_size=10, generator=0)
        .isnan()
        .all()
    )
    with pytest.raises(ValueError, match="`subset_size` must be between 1 and the number"):
        faithfulness_correlation(net, x, exact, subset_size=51)
    with pytest.raises(ValueError, match="`subsets` must be a tensor"):
        faithfulness_correlation(
            net, x, exact, n_runs=2, subset_size=3, subsets=torch.zeros(8, 3, 3, dtype=torch.long)
        )


def _explained():
    model = _CNN().eval()
    x = np.random.default_rng(4).random((3, 3, 8, 8)).astype(np.float32)
    y = np.array([2, 0, 1])
    xt = torch.from_numpy(x).requires_grad_(True)
    model(xt)[torch.arange(3), torch.from_numpy(y)].sum().backward()
    return model, x, y, (xt.grad * xt).detach().numpy()


@pytest.mark.parametrize("patch_size", [2, 3])  # 3: the 8-pixel side is padded evenly
def test_region_perturbation_and_selectivity_equal_quantus(patch_size):
    model, x, y, a = _explained()
    xt, at, yt = torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(y)
    n_patches = len(range(0, 8 + (-8) % patch_size, patch_size)) ** 2
    curve = region_perturbation(model, xt, at, yt, patch_size=patch_size, regions=6)
    theirs = _quantus(
        "RegionPerturbation",
        a,
        x=x,
        y=y,
        model=model,
        patch_size=patch_size,
        regions_evaluation=6,
        perturb_baseline="black",
    )
    np.testing.assert_allclose(curve.drops.numpy(), theirs, rtol=1e-4, atol=1e-5)
    ours = selectivity(model, xt, at, yt, patch_size=patch_size)
    theirs = _quantus(
        "Selectivity", a, x=x, y=y, model=model, patch_size=patch_size, perturb_baseline="black"
    )
    assert theirs.shape == (3, n_patches)
    np.testing.assert_allclose(ours.numpy(), np.trapezoid(theirs, dx=1, axis=1), rtol=1e-4)


def test_pixel_flipping_equals_quantus():
    model, x, y, a = _explained()
    curve = pixel_flipping(
        model, torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(y), features_in_step=16
    )
    theirs = _quantus(
        "PixelFlipping", a, x=x, y=y, model=model, features_in_step=16, perturb_baseline="black"
    )
    np.testing.assert_allclose(curve.scores.numpy(), theirs, rtol=1e-4, atol=1e-5)
    # Quantus' return_auc_per_sample calls np.trapz, gone from numpy 2: its curve integrated
    np.testing.assert_allclose(
        curve.auc.numpy(), np.trapezoid(theirs, dx=1, axis=1), rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match="`features_in_step` must be at most"):
        pixel_flipping(model, torch.from_numpy(x), torch.from_numpy(a), features_in_step=1000)


def test_monotonicity_correlation_equals_quantus_with_its_draws():
    model, x, y, a = _explained()
    steps, samples = 192 // 16, 6
    drawn, uniform = [], np.random.uniform

    def recorded(*args, **kwargs):
        out = uniform(*args, **kwargs)
        drawn.append(out)
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np.random, "uniform", recorded)
        theirs = _quantus(
            "MonotonicityCorrelation",
            a,
            x=x,
            y=y,
            model=model,
            nr_samples=samples,
            features_in_step=16,
        )
    assert len(drawn) == steps * samples  # one value per example, per step and sample
    noise = torch.from_numpy(np.stack(drawn)).reshape(steps, samples, 3).permute(2, 0, 1)
    ours = monotonicity_correlation(
        model,
        torch.from_numpy(x),
        torch.from_numpy(a),
        torch.from_numpy(y),
        n_samples=samples,
        features_in_step=16,
        noise=noise,
    )
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-5, atol=1e-6)


def test_monotonicity_follows_the_paper_where_quantus_scores_everything_true():
    """Quantus 0.6 refills its baseline image with the baseline: every map is "monotonic"
    there, whatever the model does. Here the restored features take the input's values: a
    linear model's exact contributions are monotonic when they all support the output, and
    not when some feature, restored, lowers it."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 2)).eval()
    x = torch.rand(4, 3, 4, 4)
    with torch.no_grad():
        net[1].weight.abs_()
    exact = x * net[1].weight[1].view(1, 3, 4, 4)
    assert monotonicity(net, x, exact, target=1, baseline=0.0).tolist() == [1.0] * 4
    with torch.no_grad():
        net[1].weight[1, :24] *= -1  # half the features now lower the output
    exact = (x * net[1].weight[1].view(1, 3, 4, 4)).detach()
    assert monotonicity(net, x, exact, target=1, baseline=0.0).tolist() == [0.0] * 4
    theirs = _quantus(
        "Monotonicity",
        exact.numpy(),
        x=x.numpy(),
        y=np.ones(4, dtype=int),
        model=net,
        perturb_baseline="black",
    )
    assert theirs.tolist() == [1.0] * 4  # its output never changed


def test_random_logit_equals_quantus_on_vectors_with_its_off_classes():
    """Quantus flattens maps and compares them as 1-D signals; on vectors (flat maps) the
    two agree, with the other classes Quantus draws (its fixed seed, replayed here)."""
    from perspicio.core import InputXGradient

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 16), nn.Tanh(), nn.Linear(16, 5)).eval()
    x = np.random.default_rng(5).normal(size=(6, 30)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 4, 0])

    def explain_func(model, inputs, targets, **kwargs):
        xt = torch.as_tensor(inputs)
        return InputXGradient(model).attribute(xt, target=torch.as_tensor(targets)).numpy()

    a = explain_func(model, x, y)
    metric = quantus.RandomLogit(num_classes=5, seed=42, disable_warnings=True, normalise=False)
    theirs = np.asarray(
        metric(
            model=model,
            x_batch=x,
            y_batch=y,
            a_batch=a,
            device="cpu",
            explain_func=explain_func,
            softmax=False,
            channel_first=True,
        ),
        dtype=np.float64,
    )
    rng = np.random.RandomState(42)  # Quantus: np.random.seed(seed), then randint(0, C - 1)
    index = rng.randint(0, 4, 6)
    off = np.stack([np.delete(np.arange(5), t) for t in y])[np.arange(6), index]
    ours = random_logit(
        InputXGradient(model).attribute,
        torch.from_numpy(x),
        torch.from_numpy(a),
        torch.from_numpy(y),
        n_classes=5,
        off_targets=torch.from_numpy(off),
    )
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-5, atol=1e-6)


def test_random_logit_fails_a_class_blind_map():
    """A map that ignores the class (the input itself) is identical for every class: the
    worst score, 1; a linear model's class-specific contributions score lower."""
    torch.manual_seed(0)
    net = nn.Linear(16, 4)
    x = torch.randn(5, 1, 4, 4)
    target = torch.tensor([0, 1, 2, 3, 0])

    def blind(inputs, target):
        return inputs.clone()

    assert torch.allclose(
        random_logit(blind, x, x, target, n_classes=4, generator=0),
        torch.ones(5, dtype=torch.float64),
    )

    def exact(inputs, target):
        return inputs * net.weight[target].view(-1, 1, 4, 4)

    score = random_logit(exact, x, exact(x, target).detach(), target, n_classes=4, generator=0)
    assert (score < 0.9).all()
    with pytest.raises(ValueError, match="`off_targets` must differ"):
        random_logit(exact, x, x, target, n_classes=4, off_targets=target)


def _recording(name: str):
    """np.random.<name>, recording what it returns (Quantus draws from numpy's global
    generator; the recorded draws are handed to perspicio)."""
    drawn, original = [], getattr(np.random, name)

    def recorded(*args, **kwargs):
        out = original(*args, **kwargs)
        drawn.append(out)
        return out

    return drawn, recorded


def _explain_func(model, inputs, targets, **kwargs):
    from perspicio.core import InputXGradient

    xt = torch.as_tensor(inputs)
    return InputXGradient(model).attribute(xt, target=torch.as_tensor(targets)).numpy()


@pytest.mark.parametrize(
    "name, ours, draw, options",
    [
        ("LocalLipschitzEstimate", local_lipschitz_estimate, "normal", {"normalise": False}),
        ("AvgSensitivity", average_sensitivity, "uniform", {}),
    ],
)
def test_local_lipschitz_and_average_sensitivity_equal_quantus_with_its_noise(
    name, ours, draw, options
):
    from perspicio.core import InputXGradient

    model, x, y, a = _explained()
    samples = 5
    drawn, recorded = _recording(draw)
    metric = getattr(quantus, name)(
        nr_samples=samples, disable_warnings=True, display_progressbar=False, **options
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np.random, draw, recorded)
        theirs = np.asarray(
            metric(
                model=model,
                x_batch=x,
                y_batch=y,
                a_batch=a,
                device="cpu",
                softmax=False,
                explain_func=_explain_func,
            ),
            dtype=np.float64,
        )
    noise = torch.from_numpy(np.stack(drawn)).reshape(samples, 3, 3, 8, 8).transpose(0, 1)
    got = ours(
        InputXGradient(model).attribute,
        torch.from_numpy(x),
        torch.from_numpy(a),
        n_samples=samples,
        noise=noise,
        target=torch.from_numpy(y),
    )
    np.testing.assert_allclose(got.numpy(), theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["input", "output", "representation"])
def test_relative_stabilities_equal_quantus_with_its_noise(kind):
    from perspicio.core import InputXGradient
    from perspicio.core import metrics as M

    model, x, y, a = _explained()
    samples = 4
    drawn, recorded = _recording("uniform")
    name = f"Relative{kind.capitalize()}Stability"
    options = {"layer_names": ["net.1"]} if kind == "representation" else {}
    metric = getattr(quantus, name)(
        nr_samples=samples, disable_warnings=True, display_progressbar=False, **options
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np.random, "uniform", recorded)
        theirs = np.asarray(
            metric(
                model=model,
                x_batch=x,
                y_batch=y,
                a_batch=a,
                device="cpu",
                explain_func=_explain_func,
            ),
            dtype=np.float64,
        )
    noise = torch.from_numpy(np.stack(drawn)).reshape(samples, 3, 3, 8, 8).transpose(0, 1)
    ours = getattr(M, f"relative_{kind}_stability")
    extra = {"layer": model.net[1]} if kind == "representation" else {}
    got = ours(
        InputXGradient(model).attribute,
        model,
        torch.from_numpy(x),
        torch.from_numpy(a),
        n_samples=samples,
        noise=noise,
        target=torch.from_numpy(y),
        **extra,
    )
    # where a copy changed the predicted class Quantus' np.max gives NaN; here that copy is
    # left out of the maximum (the paper's definition), so the score stays finite
    changed = np.isnan(theirs)
    assert not got.isnan().any() and (~changed).any()  # something was compared
    np.testing.assert_allclose(got.numpy()[~changed], theirs[~changed], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("order", ["cascading", "independent"])
def test_model_randomisation_moves_a_faithful_method_and_not_a_blind_one(order):
    """Randomising the weights changes gradients (their rank correlation with the trained
    model's falls), while a map that ignores the model (the input itself) keeps a
    correlation of 1, as Adebayo et al. show for edge detectors."""
    from perspicio.core import InputXGradient
    from perspicio.core.metrics import model_randomization

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3)
    )
    x = torch.randn(16, 20)
    report = model_randomization(
        InputXGradient, net, x, target=1, generator=0, order=order, absolute=False
    )
    assert report["rank_correlation"].iloc[0] == pytest.approx(1.0)
    assert (report["rank_correlation"].iloc[1:] < 0.9).all()

    class Blind:
        def __init__(self, model):
            self.model = model

        def attribute(self, inputs, target=None):
            return inputs.clone()

    blind = model_randomization(Blind, net, x, target=1, generator=0, order=order)
    assert np.allclose(blind["rank_correlation"].to_numpy(), 1.0)
    with pytest.raises(ValueError, match="`order` must be 'cascading' or 'independent'"):
        model_randomization(Blind, net, x, order="top_down")


def test_non_sensitivity_equals_quantus_example_by_example():
    """One example per call (Quantus scales by the batch's largest value), one feature per
    step (where Quantus' per-step and per-feature arrays line up)."""
    model, x, y, a = _explained()
    a = a.copy()
    a[:, :, :2] = 0.0  # the explanation ignores the first two rows of every channel
    ours = non_sensitivity(
        model, torch.from_numpy(x), torch.from_numpy(a), torch.from_numpy(y), eps=1e-4
    )
    theirs = [
        _quantus(
            "NonSensitivity",
            a[i : i + 1],
            x=x[i : i + 1],
            y=y[i : i + 1],
            model=model,
            eps=1e-4,
            perturb_baseline="black",
        )[0]
        for i in range(3)
    ]
    np.testing.assert_array_equal(ours.numpy(), theirs)
    assert (ours > 0).all()  # the zeroed rows matter to the model


def test_input_invariance_follows_the_paper_where_quantus_shifts_part_of_the_input():
    """Saliency is input invariant, input x gradient is not (Kindermans et al.). Quantus 0.6's
    shifted input is not ``x - 1`` everywhere (its batch perturbation leaves part of it
    unshifted), so its shifted model sees a different function and even Saliency fails
    there. A padded first convolution is refused: the shift's effect differs at the
    borders."""
    from perspicio.core import InputXGradient, Saliency

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    ).eval()
    x = np.random.default_rng(6).random((3, 3, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    assert input_invariance(Saliency, model, xt, yt).tolist() == [1.0] * 3
    assert input_invariance(InputXGradient, model, xt, yt).tolist() == [0.0] * 3
    seen = []

    def explain_func(model, inputs, targets, **kwargs):
        seen.append(torch.as_tensor(inputs))
        out = Saliency(model).attribute(torch.as_tensor(inputs), target=torch.as_tensor(targets))
        return out.detach().numpy()

    a = explain_func(model, x, y)
    metric = quantus.InputInvariance(disable_warnings=True, normalise=False, abs=False)
    theirs = metric(
        model=model, x_batch=x, y_batch=y, a_batch=a, device="cpu", explain_func=explain_func
    )
    shifted = (seen[1] - xt).flatten()
    assert not torch.allclose(shifted, torch.full_like(shifted, -1.0))  # a partial shift
    assert not all(theirs)
    padded = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(256, 3))
    with pytest.raises(ValueError, match="unpadded first convolution"):
        input_invariance(Saliency, padded, xt, yt)


def test_irof_equals_quantus_image_by_image_on_its_superpixels():
    """Quantus' IROF on one grey image per call (its "mean" baseline is the mean of the
    whole batch; its mask does not broadcast over colour channels, an assertion), its SLIC
    segments handed over; its AOC integrates with np.trapz, gone from numpy 2, so
    np.trapezoid stands in for it during the call."""
    from skimage.segmentation import slic

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16 * 16, 3)
    ).eval()
    x = np.random.default_rng(8).random((3, 1, 16, 16)).astype(np.float32)
    y = np.array([0, 1, 2])
    xt = torch.from_numpy(x).requires_grad_(True)
    model(xt)[torch.arange(3), torch.from_numpy(y)].sum().backward()
    a = (xt.grad * xt).detach().numpy()
    for i in range(3):
        segments = slic(np.moveaxis(x[i], 0, -1).astype("double"), start_label=0)
        ours = irof(
            model,
            torch.from_numpy(x[i : i + 1]),
            torch.from_numpy(a[i : i + 1]),
            torch.from_numpy(segments),
            torch.from_numpy(y[i : i + 1]),
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(np, "trapz", np.trapezoid, raising=False)
            theirs = _quantus(
                "IROF",
                a[i : i + 1],
                x=x[i : i + 1],
                y=y[i : i + 1],
                model=model,
                return_aggregate=False,
            )
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-5)
