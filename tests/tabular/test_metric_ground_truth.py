"""Metrics must recover what is known, on table rows: on the breast-cancer MLP, Integrated
Gradients from the training mean (complete: it adds up to the output's change from that
reference) beats the 95th percentile of 100 random maps on faithfulness correlation and
pixel flipping over the columns, patient by patient, with the training mean as the removed
value on both sides."""

from __future__ import annotations

import pytest
import torch

from perspicio.core import IntegratedGradients
from perspicio.core import metrics as M

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def patients():
    from perspicio.tabular.demo import breast_cancer_mlp

    model, background, rows = breast_cancer_mlp()
    x = torch.tensor(rows.values[:6], dtype=torch.float32)
    mean = torch.tensor(background.values.mean(0), dtype=torch.float32)
    with torch.no_grad():
        y = model(x).argmax(1)
    ig = IntegratedGradients(model).attribute(x, baselines=mean.expand_as(x), target=y, n_steps=64)
    gen = torch.Generator().manual_seed(0)
    return model, x, y, mean, ig, [torch.randn(x.shape, generator=gen) for _ in range(100)]


METRICS = {
    "faithfulness_correlation": (
        lambda m, x, y, b, a: M.faithfulness_correlation(
            m, x, a, y, n_runs=50, subset_size=5, baseline=b, generator=1
        ),
        True,
    ),
    "pixel_flipping": (
        lambda m, x, y, b, a: M.pixel_flipping(m, x, a, y, features_in_step=1, baseline=b).auc,
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_integrated_gradients_beats_random_maps_on_patients(patients, name):
    model, x, y, mean, ig, randoms = patients
    score, higher = METRICS[name]
    good = score(model, x, y, mean, ig)
    rand = torch.stack([score(model, x, y, mean, r) for r in randoms])
    if higher:
        assert (good > rand.quantile(0.95, dim=0)).all(), (good, rand.quantile(0.95, dim=0))
    else:
        assert (good < rand.quantile(0.05, dim=0)).all(), (good, rand.quantile(0.05, dim=0))
