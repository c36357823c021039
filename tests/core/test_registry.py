"""The registry turns a front end's facts into a method's arguments, in one place."""

from __future__ import annotations

import pytest
import torch

from perspicio.core import FeatureAblation, IntegratedGradients, KernelShap, Occlusion
from perspicio.core._facts import Facts
from perspicio.core.registry import METHODS, get_spec, names, prepare

from ..conftest import make_cnn, make_mlp


def test_a_one_baseline_method_against_a_population_is_the_mean_over_its_rows():
    net = make_mlp()
    x, refs = torch.randn(3, 6), torch.randn(4, 6)
    run = prepare("integrated_gradients", net, Facts(x, target=1, population=refs))
    expected = torch.stack(
        [IntegratedGradients(net).attribute(x, baselines=r.expand_as(x), target=1) for r in refs]
    ).mean(0)
    assert torch.allclose(run.attribute(), expected, atol=1e-5)


def test_a_distribution_method_gets_the_population_or_the_baseline_as_one_row():
    net = make_mlp()
    x, refs = torch.randn(2, 6), torch.randn(5, 6)
    assert prepare("gradient_shap", net, Facts(x, population=refs)).kwargs["baselines"] is refs
    one = prepare("deeplift_shap", net, Facts(x, baseline=torch.ones(6))).kwargs["baselines"]
    assert torch.equal(one, torch.ones(1, 6))
    zeros = prepare("layer_gradient_shap", net, Facts(x, layer=net[0])).kwargs["baselines"]
    assert torch.equal(zeros, torch.zeros(1, 6))


def test_occlusion_of_feature_groups_is_their_ablation():
    net = make_mlp()
    x = torch.randn(2, 6)
    groups = torch.tensor([[0, 0, 1, 1, 2, 2]])
    run = prepare("occlusion", net, Facts(x, target=0, feature_mask=groups))
    assert isinstance(run.method, FeatureAblation) and run.grouped
    expected = FeatureAblation(net).attribute(x, target=0, feature_mask=groups)
    assert torch.allclose(run.attribute(), expected)
    windowed = prepare("occlusion", net, Facts(x, target=0, window=2, feature_mask=groups))
    assert isinstance(windowed.method, Occlusion)
    assert windowed.kwargs["sliding_window_shapes"] == (2,)


def test_settings_apply_where_accepted_and_lazy_facts_are_computed_only_when_used():
    calls = []

    def expensive_mask(max_groups):
        calls.append(max_groups)
        return torch.zeros(1, 6, dtype=torch.long)

    facts = Facts(torch.randn(2, 6), feature_mask=expensive_mask, generator=0,
                  options={"n_steps": 7, "n_samples": 9})  # fmt: skip
    ig = prepare("integrated_gradients", make_mlp(), facts)
    assert ig.kwargs["n_steps"] == 7 and "n_samples" not in ig.kwargs and not calls
    ks = prepare("kernel_shap", make_mlp(), facts)
    assert ks.kwargs["n_samples"] == 9 and ks.kwargs["generator"] == 0 and calls == [None]
    prepare("shapley_values", make_mlp(), facts)
    assert calls[-1] == get_spec("shapley_values").max_features


def test_an_instance_keeps_its_own_defaults():
    net = make_mlp()
    run = prepare(KernelShap(net), None, Facts(torch.randn(1, 6), target=0, generator=3))
    assert "n_samples" not in run.kwargs and run.kwargs["generator"] == 3


def test_missing_facts_are_clear_errors():
    net = make_cnn()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="`layer`: method 'gradcam'"):
        prepare("gradcam", net, Facts(x))
    with pytest.raises(ValueError, match="`window`: method 'occlusion'"):
        prepare("occlusion", net, Facts(x))
    with pytest.raises(ValueError, match="`neuron`: method 'neuron_gradient'"):
        prepare("neuron_gradient", net, Facts(x, layer=net[0]))
    with pytest.raises(ValueError, match="integer ids"):
        prepare("saliency", net, Facts(x.long()))
    with pytest.raises(ValueError, match="`method` 'nope' is not a known method"):
        prepare("nope", net, Facts(x))
    with pytest.raises(TypeError, match="`method` must be"):
        prepare(3, net, Facts(x))


def test_property_queries():
    assert "gradcam" in names(layer_map=True)
    assert set(names(family="neuron")) == {n for n in METHODS if n.startswith("neuron_")}
    assert all(get_spec(n).sampling for n in ("lime", "kernel_shap", "gradient_shap"))
    assert not get_spec("saliency").sampling
