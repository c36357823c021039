"""Running statistics (Summarizer family), ProductBaselines and LayerFeaturePermutation."""

import pytest
import torch
from torch import nn

from perspicio.core import (
    MSE,
    ClassSummarizer,
    CommonStats,
    Count,
    LayerFeaturePermutation,
    Max,
    Mean,
    Min,
    Moments,
    ProductBaselines,
    StdDev,
    Sum,
    Summarizer,
    Var,
)


def test_every_statistic_equals_torch_on_the_whole_stream():
    g = torch.Generator().manual_seed(0)
    values = torch.randn(200, 3, dtype=torch.float64, generator=g) * 1e4 + 5e4
    stats = [
        Mean(),
        Var(),
        Var(order=1),
        StdDev(),
        StdDev(order=1),
        Min(),
        Max(),
        Sum(),
        MSE(),
        Count(),
    ]
    summarizer = Summarizer(stats)
    for row in values[:50]:
        summarizer.update(row)  # one at a time...
    summarizer.update_batch(values[50:])  # ...and a batch, merged exactly
    s = summarizer.summary
    expected = {
        "mean": values.mean(0),
        "variance": values.var(0, unbiased=False),
        "sample_variance": values.var(0),
        "std_dev": values.std(0, unbiased=False),
        "sample_std_dev": values.std(0),
        "min": values.min(0).values,
        "max": values.max(0).values,
        "sum": values.sum(0),
        "mse": ((values - values.mean(0)) ** 2).sum(0),
        "count": torch.tensor(200),
    }
    assert set(s) == set(expected)
    for name, value in expected.items():
        assert torch.allclose(s[name].double(), value.double(), rtol=1e-9), name


def test_merging_is_independent_of_how_the_stream_is_split():
    values = torch.randn(30, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    whole = Moments().update_batch(values)
    parts = Moments()
    for chunk in values.split(7):
        parts.merge(Moments().update_batch(chunk))
    assert parts.count == 30
    assert torch.allclose(parts.mean, whole.mean) and torch.allclose(parts.m2, whole.m2)


def test_summaries_before_and_after_updates_and_for_tuples():
    summarizer = Summarizer(CommonStats())
    assert summarizer.summary is None
    summarizer.update((torch.ones(2, 3), torch.zeros(4)))
    first, second = summarizer.summary
    assert set(first) == {"mean", "variance", "std_dev", "min", "max"}
    assert first["mean"].shape == (2, 3) and second["max"].shape == (4,)
    with pytest.raises(ValueError, match="2 tensor"):
        summarizer.update(torch.ones(2, 3))
    assert Summarizer([Mean(), Mean()]).__dict__["_stats"] == [Mean()]  # each stat once


def test_class_summarizer_splits_rows_by_label():
    x = torch.tensor([[1.0], [2.0], [3.0], [10.0]])
    cs = ClassSummarizer([Mean(), Count()])
    cs.update(x, labels=torch.tensor([0, 1, 0, 1]))
    assert cs.summary[0]["mean"].item() == pytest.approx(4.0)
    assert cs.class_summaries[0][0]["mean"].item() == pytest.approx(2.0)
    assert cs.class_summaries[1][0]["count"].item() == 2
    cs.update(x[:1], labels="new")
    assert set(cs.class_summaries) == {0, 1, "new"}
    with pytest.raises(ValueError, match="`labels` has 3 entries for 4 rows"):
        cs.update(x, labels=[0, 1, 0])


def test_product_baselines_draw_from_the_product():
    draw = ProductBaselines([[1, 2], [3, 4, 5]])
    seen = {tuple(draw()) for _ in range(200)}
    assert seen == {(a, b) for a in (1, 2) for b in (3, 4, 5)}
    joint = ProductBaselines({("x", "y"): [(0, 0), (1, 1)], "z": [7]})
    for _ in range(20):
        d = joint()
        assert d["x"] == d["y"] and d["z"] == 7
    with pytest.raises(TypeError, match="`baseline_values`"):
        ProductBaselines(3)


def test_layer_feature_permutation_credits_only_neurons_the_output_uses():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Identity(), nn.Linear(4, 1))
    with torch.no_grad():
        net[2].weight[0, 1] = 0.0  # neuron 1 of the middle layer is ignored
    x = torch.randn(6, 3)
    attr = LayerFeaturePermutation(net, net[1]).attribute(x, generator=0)
    assert attr.shape == (6, 4)
    assert attr[:, 1].abs().max() < 1e-6 and attr[:, 0].abs().max() > 1e-3
    # two examples have one derangement, the swap: neuron j's drop is w_j (a_ij - a_(1-i)j)
    pair = x[:2]
    swap = LayerFeaturePermutation(net, net[1]).attribute(pair, generator=3)
    acts = net[0](pair).detach()
    expected = net[2].weight[0].detach() * (acts - acts.flip(0))
    assert torch.allclose(swap, expected, atol=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        LayerFeaturePermutation(net, net[1]).attribute(x[:1])
