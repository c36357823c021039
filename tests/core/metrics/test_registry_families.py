"""The metric families in the registry: compare_methods computes each on a small CNN, the
metrics that rebuild the method need it by name, the references are scored too."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from perspicio.core import Saliency
from perspicio.core.metrics import compare_methods
from perspicio.core.registry import METRICS

torch.set_num_threads(1)

FAMILIES = {
    "road": "faithfulness",
    "dasgupta_sufficiency": "faithfulness",
    "model_randomization": "randomisation",
    "input_invariance": "axiomatic",
    "relative_representation_stability": "robustness",
}


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_the_new_families_are_registered_with_their_direction():
    for name, family in FAMILIES.items():
        assert METRICS[name].family == family
        assert not METRICS[name].default  # costly: asked for by name
    assert not METRICS["road"].higher_is_better
    assert METRICS["input_invariance"].higher_is_better
    assert METRICS["road"].modalities == {"images"}


def test_compare_methods_scores_them_with_the_references():
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    table = compare_methods(
        _cnn(), x, ["saliency", "integrated_gradients"], metrics=list(FAMILIES), target=0
    )
    assert list(table.columns) == list(FAMILIES)
    assert "random (reference)" in table.index and "constant (reference)" in table.index
    # the gradient ignores an input shift the first layer absorbs; IG from a zero baseline
    # does not (Kindermans et al., 2019)
    assert table.loc["saliency", "input_invariance"] == 1.0
    assert table.loc["integrated_gradients", "input_invariance"] == 0.0
    # randomising the weights changes the gradient: correlation well below 1
    assert table.loc["saliency", "model_randomization"] < 0.5
    # a random map is "perfectly sensitive" to randomisation: the column is marked
    assert "model_randomization" in table.attrs["reference_wins"]


def test_rebuilding_metrics_need_a_method_name_and_text_metrics_a_tokenizer():
    net, x = _cnn(), torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="by its registry name"):
        compare_methods(net, x, [Saliency(net)], metrics=["model_randomization"], target=0)
    with pytest.raises(ValueError, match="unpadded first convolution"):
        padded = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(128, 3))
        compare_methods(padded, x, ["saliency"], metrics=["input_invariance"], target=0)
