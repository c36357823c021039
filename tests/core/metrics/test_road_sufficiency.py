"""ROAD and its noisy linear imputation, and Dasgupta's sufficiency: analytic cases, Quantus
0.6 with the same draws, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from perspicio.core.metrics import dasgupta_sufficiency, noisy_linear_imputation, road

torch.set_num_threads(1)


def _gray_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12 * 12, 3)
    ).eval()


def test_imputation_reproduces_a_linear_ramp_and_keeps_the_known_pixels():
    ramp = (torch.arange(9.0)[None, :] + 2 * torch.arange(9.0)[:, None]).expand(2, 3, 9, 9)
    removed = torch.rand(2, 9, 9, generator=torch.Generator().manual_seed(0)) < 0.6
    removed[:, [0, -1], :] = False  # at the border a pixel's neighbours lie on one side:
    removed[:, :, [0, -1]] = False  # their mean is not the ramp's value there
    filled = noisy_linear_imputation(ramp.double(), removed, noise=0.0)
    torch.testing.assert_close(filled, ramp.double(), rtol=0, atol=1e-12)
    x = torch.rand(2, 3, 9, 9, dtype=torch.float64)
    out = noisy_linear_imputation(x, removed, noise=0.0)
    kept = ~removed.unsqueeze(1).expand_as(x)
    assert torch.equal(out[kept], x[kept])
    assert out.dtype == x.dtype and not torch.equal(out, x)


def test_each_imputed_pixel_is_the_weighted_mean_of_its_neighbours():
    x = torch.rand(1, 1, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    removed = torch.zeros(1, 7, 7, dtype=torch.bool)
    removed[0, 2:5, 1:6] = True
    out = noisy_linear_imputation(x, removed, noise=0.0)[0, 0]
    weights = torch.tensor(
        [[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]], dtype=torch.float64
    )
    for i, j in removed[0].nonzero().tolist():
        mean = (out[i - 1 : i + 2, j - 1 : j + 2] * weights).sum()
        assert out[i, j].item() == pytest.approx(mean.item(), abs=1e-12)


def test_imputation_rejects_bad_masks():
    x = torch.rand(1, 1, 4, 4)
    with pytest.raises(TypeError, match="`removed` must be a bool tensor"):
        noisy_linear_imputation(x, torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"`removed` must have shape \(N, H, W\)"):
        noisy_linear_imputation(x, torch.zeros(1, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="every pixel removed"):
        noisy_linear_imputation(x, torch.ones(1, 4, 4, dtype=torch.bool))


def test_road_rejects_bad_arguments():
    model, x = _gray_cnn(), torch.rand(2, 1, 12, 12)
    with pytest.raises(ValueError, match=r"`percentages` must lie in \[0, 100\)"):
        road(model, x, torch.rand(2, 1, 12, 12), percentages=[50, 100])
    with pytest.raises(ValueError, match="`order` must be"):
        road(model, x, torch.rand(2, 1, 12, 12), order="random")
    with pytest.raises(ValueError, match="`attributions` must be"):
        road(model, x, torch.rand(2, 1, 11, 12))
    with pytest.raises(ValueError, match="`inputs` must be images"):
        road(model, torch.rand(2, 144), torch.rand(2, 144))


def test_road_morf_falls_faster_than_lerf_for_a_linear_model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(100, 2)).double()
    x = torch.rand(6, 1, 10, 10, dtype=torch.float64)
    # contribution of each pixel relative to its imputation (about the image's local mean)
    contribution = (net[1].weight[1] - net[1].weight[0]).reshape(1, 1, 10, 10) * (x - 0.5)
    kw = dict(percentages=[10, 30, 50, 70], noise=0.0)
    morf = road(lambda z: net(z)[:, 1:] - net(z)[:, :1], x, contribution, 0, **kw)
    lerf = road(lambda z: net(z)[:, 1:] - net(z)[:, :1], x, contribution, 0, order="lerf", **kw)
    assert (morf.auc < lerf.auc).all()
    assert morf.correct.shape == (6, 4) and morf.accuracy.shape == (4,)


def test_road_is_reproducible_and_a_row_does_not_depend_on_the_others():
    model, x = _gray_cnn(), torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    a = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(4))
    draws = torch.randn(3, 4, 1, 12, 12, dtype=torch.float64)
    kw = dict(percentages=[5, 25, 45, 65], noise_draws=draws)
    both = road(model, x, a, [0, 1, 2], **kw)
    one = road(model, x[1:2], a[1:2], [1], percentages=kw["percentages"], noise_draws=draws[1:2])
    torch.testing.assert_close(both.scores[1:2], one.scores)
    seeded = [road(model, x, a, generator=torch.Generator().manual_seed(0)).scores for _ in "ab"]
    assert torch.equal(*seeded)


quantus = pytest.importorskip("quantus")


def test_imputation_equals_quantus_with_its_noise(monkeypatch):
    from quantus.functions.perturb_func import noisy_linear_imputation as theirs

    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 16))
    for fraction in (0.1, 0.5, 0.9):
        idx = np.argsort(-rng.random(256))[: int(256 * fraction)]
        drawn, randn = [], np.random.randn

        def recorded(*shape, _randn=randn, _drawn=drawn):
            _drawn.append(_randn(*shape))
            return _drawn[-1]

        monkeypatch.setattr(np.random, "randn", recorded)
        expected = theirs(x, idx, noise=0.01)
        monkeypatch.setattr(np.random, "randn", randn)
        draws = np.zeros((3, 256))
        draws[:, idx] = drawn[0]
        removed = torch.zeros(1, 256, dtype=torch.bool)
        removed[0, idx] = True
        ours = noisy_linear_imputation(
            torch.from_numpy(x)[None],
            removed.reshape(1, 16, 16),
            noise=0.01,
            noise_draws=torch.from_numpy(draws).reshape(1, 3, 16, 16),
        )
        np.testing.assert_allclose(ours[0].numpy(), expected, rtol=0, atol=1e-12)


def test_road_equals_quantus_on_grey_images_with_its_noise(monkeypatch):
    model = _gray_cnn()
    rng = np.random.default_rng(1)
    x = rng.random((4, 1, 12, 12)).astype(np.float32)
    a = rng.normal(size=(4, 1, 12, 12)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    y[0] = (y[0] + 1) % 3  # one example explained for a class it does not predict
    percentages = [1, 20, 40, 60, 80, 99]
    drawn, randn = [], np.random.randn

    def recorded(*shape):
        drawn.append(randn(*shape))
        return drawn[-1]

    monkeypatch.setattr(np.random, "randn", recorded)
    metric = quantus.ROAD(percentages=percentages, disable_warnings=True, display_progressbar=False)
    theirs = metric(model=model, x_batch=x, y_batch=y, a_batch=a, device="cpu")
    monkeypatch.setattr(np.random, "randn", randn)
    order = np.argsort(-a.reshape(4, -1), axis=1)
    draws = np.zeros((4, len(percentages), 1, 144))
    for p_i, p in enumerate(percentages):  # Quantus draws percentage by percentage, image by image
        for n in range(4):
            draws[n, p_i][:, order[n, : int(144 * p / 100)]] = drawn[p_i * 4 + n]
    ours = road(
        model,
        torch.from_numpy(x),
        torch.from_numpy(a),
        torch.from_numpy(y),
        percentages=percentages,
        noise_draws=torch.from_numpy(draws).reshape(4, len(percentages), 1, 12, 12),
    )
    np.testing.assert_array_equal(ours.accuracy.numpy(), [theirs[p] for p in percentages])


def test_dasgupta_sufficiency_equals_quantus():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    rng = np.random.default_rng(5)
    x = rng.random((20, 1, 3, 4)).astype(np.float32)
    a = rng.random((20, 1, 3, 4)).astype(np.float32)
    a[10:] = a[:10] + 0.05 * rng.random((10, 1, 3, 4)).astype(np.float32)  # some close pairs
    for threshold in (0.1, 0.3, 0.6):
        metric = quantus.Sufficiency(
            threshold=threshold,
            abs=False,
            normalise=False,
            disable_warnings=True,
            display_progressbar=False,
        )
        theirs = metric(model=model, x_batch=x, y_batch=np.zeros(20, int), a_batch=a, device="cpu")
        ours = dasgupta_sufficiency(
            model, torch.from_numpy(x), torch.from_numpy(a), threshold=threshold
        )
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, atol=1e-12)
        assert 0 < ours.mean() < 1  # neither everything nor nothing shares an explanation
    # Quantus' defaults (abs=True, normalise=True): the absolute values, scale irrelevant
    signed = a - 0.5
    defaults = quantus.Sufficiency(disable_warnings=True, display_progressbar=False)
    theirs = defaults(
        model=model, x_batch=x, y_batch=np.zeros(20, int), a_batch=signed, device="cpu"
    )
    ours = dasgupta_sufficiency(model, torch.from_numpy(x), torch.from_numpy(signed).abs())
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-6, atol=1e-12)


def test_dasgupta_sufficiency_rewards_explanations_that_name_the_class_and_errs():
    torch.manual_seed(1)
    net = nn.Linear(4, 2)
    x = torch.randn(40, 4)
    predicted = net(x).argmax(1)
    naming = nn.functional.one_hot(predicted, 2).double() + 0.01 * torch.randn(40, 2).double()
    blind = torch.randn(40, 2).double()
    good = dasgupta_sufficiency(net, x, naming, threshold=0.5, distance="euclidean", relative=False)
    bad = dasgupta_sufficiency(net, x, blind, threshold=0.5, distance="euclidean", relative=False)
    assert good.mean() == 1.0 and bad.mean() < 0.8
    with pytest.raises(ValueError, match="at least 2"):
        dasgupta_sufficiency(net, x[:1], naming[:1])
    with pytest.raises(ValueError, match="`distance` must be"):
        dasgupta_sufficiency(net, x, naming, distance="cosine")
    with pytest.raises(ValueError, match="`threshold` must be"):
        dasgupta_sufficiency(net, x, naming, threshold=-1)
