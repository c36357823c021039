"""Captum's public contract, checked against Captum itself (the dev extra's oracle)."""

import pytest
import torch
from torch import nn

import perspicio.core as P

C = pytest.importorskip("captum.attr")


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


# (name, constructor arguments given the model)
CLASSES = [
    ("Saliency", lambda m: ()), ("InputXGradient", lambda m: ()),
    ("IntegratedGradients", lambda m: ()), ("GradientShap", lambda m: ()),
    ("DeepLift", lambda m: ()), ("DeepLiftShap", lambda m: ()),
    ("GuidedBackprop", lambda m: ()), ("Deconvolution", lambda m: ()),
    ("GuidedGradCam", lambda m: (m[0],)), ("LRP", lambda m: ()),
    ("FeatureAblation", lambda m: ()), ("FeaturePermutation", lambda m: ()),
    ("Occlusion", lambda m: ()), ("ShapleyValueSampling", lambda m: ()),
    ("ShapleyValues", lambda m: ()), ("Lime", lambda m: ()), ("KernelShap", lambda m: ()),
    ("LayerActivation", lambda m: (m[0],)), ("LayerConductance", lambda m: (m[0],)),
    ("InternalInfluence", lambda m: (m[0],)), ("LayerGradCam", lambda m: (m[0],)),
    ("LayerGradientXActivation", lambda m: (m[0],)),
    ("LayerIntegratedGradients", lambda m: (m[0],)), ("LayerDeepLift", lambda m: (m[0],)),
    ("LayerDeepLiftShap", lambda m: (m[0],)), ("LayerGradientShap", lambda m: (m[0],)),
    ("LayerFeatureAblation", lambda m: (m[0],)), ("LayerLRP", lambda m: (m[0],)),
    ("NeuronGradient", lambda m: (m[0],)), ("NeuronIntegratedGradients", lambda m: (m[0],)),
    ("NeuronConductance", lambda m: (m[0],)), ("NeuronGuidedBackprop", lambda m: (m[0],)),
    ("NeuronDeconvolution", lambda m: (m[0],)), ("NeuronGradientShap", lambda m: (m[0],)),
    ("NeuronDeepLift", lambda m: (m[0],)), ("NeuronDeepLiftShap", lambda m: (m[0],)),
    ("NeuronFeatureAblation", lambda m: (m[0],)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "args"), CLASSES, ids=[c[0] for c in CLASSES])
def test_multiplies_by_inputs_is_captums(name, args):
    """Code that branches on `multiplies_by_inputs` (local vs global attributions) takes
    the same branch after migrating."""
    model = _net()
    ours = getattr(P, name)(model, *args(model))
    theirs = getattr(C, name)(model, *args(model))
    assert ours.multiplies_by_inputs == theirs.multiplies_by_inputs
    if "multiply_by_inputs" in getattr(C, name).__init__.__code__.co_varnames:
        ours = getattr(P, name)(model, *args(model), multiply_by_inputs=False)
        theirs = getattr(C, name)(model, *args(model), multiply_by_inputs=False)
        assert ours.multiplies_by_inputs == theirs.multiplies_by_inputs
    assert P.NoiseTunnel(ours).multiplies_by_inputs == C.NoiseTunnel(theirs).multiplies_by_inputs


GRAD_KWARGS_METHODS = [
    "LayerGradCam", "InternalInfluence", "LayerConductance", "LayerDeepLift",
    "LayerDeepLiftShap", "LayerGradientShap", "LayerGradientXActivation",
    "LayerIntegratedGradients", "NeuronConductance",
]  # fmt: skip


@pytest.mark.parametrize("name", GRAD_KWARGS_METHODS)
def test_grad_kwargs_reach_autograd(name, monkeypatch):
    """Captum's `grad_kwargs` are passed to every torch.autograd.grad call of the method."""
    model = _net()
    seen = []
    real = torch.autograd.grad

    def recording(*args, **kwargs):
        seen.append(kwargs.get("materialize_grads"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", recording)
    x = torch.randn(2, 3, 8, 8)
    method = getattr(P, name)(model, model[0])
    kwargs = {"target": 1, "grad_kwargs": {"materialize_grads": True}}
    if name == "NeuronConductance":
        kwargs["neuron_selector"] = (0, 1, 1)
    if name in ("LayerDeepLiftShap", "LayerGradientShap"):
        kwargs["baselines"] = torch.zeros(3, 3, 8, 8)
    method.attribute(x, **kwargs)
    assert seen and all(s is True for s in seen)
    with pytest.raises(TypeError, match="`grad_kwargs`"):
        method.attribute(x, **{**kwargs, "grad_kwargs": ["materialize_grads"]})


def test_an_unused_layer_gets_zeros_with_materialized_grads():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            self.unused(x)  # computed, but the output does not depend on it
            return self.used(x)

    model = TwoHeads()
    x = torch.randn(2, 3)
    attr = P.LayerGradientXActivation(model, model.unused).attribute(
        x, target=0, grad_kwargs={"materialize_grads": True}
    )
    assert torch.equal(attr, torch.zeros(2, 2))
