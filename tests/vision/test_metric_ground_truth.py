"""Metrics must recover what is known. On the trained shapes CNN, Integrated Gradients (and,
for localisation, the true mask) beats the 95th percentile of 100 random maps on faithfulness
correlation, region perturbation, ROAD (by |IG|) and the localisation metrics, example by
example. Pixel flipping and selectivity do not rank it (nor the true mask) above the random
maps on every held-out image of that CNN: they are checked where the answer is exact, a
linear image model, whose exact contributions (Integrated Gradients from zero) must win."""

from __future__ import annotations

import pytest
import torch

from perspicio.core import IntegratedGradients
from perspicio.core import metrics as M

torch.set_num_threads(1)
N_RANDOM = 100


@pytest.fixture(scope="module")
def shapes():
    from perspicio.vision.demo import shapes_dataset, shapes_model

    model = shapes_model().eval()
    x, labels, masks = shapes_dataset(4, seed=77)  # held out
    ig = IntegratedGradients(model).attribute(x, target=labels, n_steps=32)
    gen = torch.Generator().manual_seed(0)
    randoms = [torch.randn(x.shape, generator=gen) for _ in range(N_RANDOM)]
    return model, x, labels, masks, ig, randoms


FAITHFULNESS = {
    # name: (score of (model, x, labels, attributions), higher is better)
    "faithfulness_correlation": (
        lambda m, x, y, a: M.faithfulness_correlation(
            m, x, a, y, n_runs=40, subset_size=128, baseline=0.0, generator=1
        ),
        True,
    ),
    "region_perturbation": (
        lambda m, x, y, a: (
            M.region_perturbation(m, x, a, y, patch_size=4, regions=16, baseline=0.0).aopc
        ),
        True,
    ),
}
ON_A_LINEAR_MODEL = {
    "pixel_flipping": (
        lambda m, x, y, a: M.pixel_flipping(m, x, a, y, features_in_step=96, baseline=0.0).auc,
        False,
    ),
    "selectivity": (
        lambda m, x, y, a: M.selectivity(m, x, a, y, patch_size=4, baseline=0.0),
        False,
    ),
    **FAITHFULNESS,
}


def _beats(good, rand, higher):
    if higher:
        assert (good > rand.quantile(0.95, dim=0)).all(), (good, rand.quantile(0.95, dim=0))
    else:
        assert (good < rand.quantile(0.05, dim=0)).all(), (good, rand.quantile(0.05, dim=0))


@pytest.mark.parametrize("name", sorted(ON_A_LINEAR_MODEL))
def test_exact_contributions_of_a_linear_image_model_beat_random_maps(name):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 4)).eval()
    x = torch.rand(4, 3, 32, 32)
    labels = torch.tensor([0, 1, 2, 3])
    exact = (x * model[1].weight[labels].view(4, 3, 32, 32)).detach()
    gen = torch.Generator().manual_seed(0)
    score, higher = ON_A_LINEAR_MODEL[name]
    with torch.no_grad():
        good = score(model, x, labels, exact)
        rand = torch.stack(
            [score(model, x, labels, torch.randn(x.shape, generator=gen)) for _ in range(N_RANDOM)]
        )
    _beats(good, rand, higher)


@pytest.mark.parametrize("name", sorted(FAITHFULNESS))
def test_integrated_gradients_beats_random_maps(shapes, name):
    model, x, labels, _, ig, randoms = shapes
    score, higher = FAITHFULNESS[name]
    good = score(model, x, labels, ig)
    rand = torch.stack([score(model, x, labels, r) for r in randoms])
    _beats(good, rand, higher)


@pytest.mark.parametrize("name", ["top_k_intersection", "roc_auc", "relevance_rank"])
def test_the_true_mask_and_integrated_gradients_beat_random_maps_at_localising(shapes, name):
    _, _, _, masks, ig, randoms = shapes
    mask = masks.unsqueeze(1).bool() if masks.dim() == 3 else masks.bool()
    kwargs = {"k": 40} if name == "top_k_intersection" else {}
    score = getattr(M, name)
    truth = score(
        mask.float() + 0.01 * torch.rand(mask.shape, generator=torch.Generator().manual_seed(3)),
        mask,
        **kwargs,
    )
    ig_map = ig.abs().sum(1, keepdim=True)
    good = score(ig_map, mask, **kwargs)
    rand = torch.stack([score(r.abs().sum(1, keepdim=True), mask, **kwargs) for r in randoms])
    assert (truth == 1).all()
    assert (good > rand.quantile(0.95, dim=0)).all(), (good, rand.quantile(0.95, dim=0))


def test_road_ranks_the_true_mask_and_integrated_gradients_magnitude_above_random_maps(shapes):
    """ROAD removes information by imputation, whichever way it points: the pixels with the
    largest |IG| (and the shape itself) carry it; a signed ranking keeps the evidence
    against the class for last and is not what ROAD asks."""
    model, x, labels, masks, ig, randoms = shapes

    def score(a):
        gen = torch.Generator().manual_seed(0)
        curve = M.road(model, x, a, labels, percentages=(10, 30, 50, 70, 90), generator=gen)
        return curve.auc

    rand = torch.stack([score(r) for r in randoms])
    truth = masks.unsqueeze(1).float() + 0.01 * torch.rand(
        4, 1, 32, 32, generator=torch.Generator().manual_seed(3)
    )
    _beats(score(ig.abs()), rand, higher=False)
    _beats(score(truth), rand, higher=False)


def test_randomisation_metrics_move_as_the_papers_say_on_the_shapes_cnn(shapes):
    """Adebayo et al.: Integrated Gradients depends on the weights, so its maps decorrelate
    as the layers are re-initialised from the top (the cascade), on a copy; the trained
    model is left as it was. Sixt et al.: its map of the true class differs from a random
    other class's, while a class-blind map (the input's own edges) is the same for both."""
    from perspicio.core.metrics import model_randomization, random_logit

    model, x, labels, _, ig, _ = shapes
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = model_randomization(
        IntegratedGradients, model, x, target=labels, generator=0, n_steps=16
    )
    correlation = report["rank_correlation"].tolist()
    assert correlation[0] == pytest.approx(1.0)
    assert correlation[-1] < 0.5 * correlation[0], report
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())

    method = IntegratedGradients(model)

    def explain(inputs, target):
        return method.attribute(inputs, target=target, n_steps=16)

    off = (labels + 1) % 4
    faithful = random_logit(explain, x, ig, labels, n_classes=4, off_targets=off)

    def edges(inputs, target):  # the same map whatever the class
        return (inputs - inputs.roll(1, dims=-1)).abs()

    blind = random_logit(edges, x, edges(x, labels), labels, n_classes=4, off_targets=off)
    assert (blind == 1).all()
    assert (faithful < 0.9).all(), faithful
