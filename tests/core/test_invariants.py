"""Invariants every algorithm in the registry must keep (scikit-learn style common tests)."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from perspicio.core import IdentityRule
from perspicio.core.registry import METHODS, create

from ..conftest import TwoInputNet, assert_unchanged, make_cnn, model_fingerprint

INPUT_SHAPED = [n for n, spec in METHODS.items() if spec.family in ("gradient", "perturbation")]
NAMES = sorted(INPUT_SHAPED) + ["noise_tunnel:saliency", "noise_tunnel:integrated_gradients"]


def call(name: str, model, inputs, target=0, **extra):
    """Run a method with the baselines its kind expects and small, fast settings."""
    spec = METHODS[name.split(":")[-1]]
    xs = inputs if isinstance(inputs, tuple) else (inputs,)
    kwargs = dict(target=target, **extra)
    if spec.baselines == "distribution":
        gen = torch.Generator().manual_seed(0)
        dist = tuple(
            torch.randn((3,) + x.shape[1:], generator=gen, dtype=x.dtype).to(x.device) for x in xs
        )
        kwargs["baselines"] = dist if isinstance(inputs, tuple) else dist[0]
    if spec.sampling:
        kwargs["generator"] = 0
    if spec.name == "integrated_gradients":
        kwargs["n_steps"] = 8
    if spec.family == "perturbation" and spec.name != "occlusion":
        # a handful of feature groups, shared by the input tensors
        kwargs["feature_mask"] = tuple(
            (torch.arange(math.prod(x.shape[1:])) % 5).view((1,) + x.shape[1:]) for x in xs
        )
        if not isinstance(inputs, tuple):
            kwargs["feature_mask"] = kwargs["feature_mask"][0]
    if spec.name == "occlusion":
        windows = tuple(tuple(min(2, s) for s in x.shape[1:]) for x in xs)
        kwargs["sliding_window_shapes"] = windows if isinstance(inputs, tuple) else windows[0]
    if spec.needs_layer:
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        layer = convs[-1] if convs and all(x.dim() == 4 for x in xs) else None
        if layer is None:
            pytest.skip("this method needs a convolution layer")
        extra = {}
        if spec.name == "layer_lrp":  # the test CNN's Sigmoid has no default LRP rule
            extra["rules"] = {
                m: IdentityRule() for m in model.modules() if isinstance(m, nn.Sigmoid)
            }
        method = create(name, model, layer=layer, **extra)
    elif spec.name == "lrp":  # the test CNN's Sigmoid has no default LRP rule
        sigmoids = [m for m in model.modules() if isinstance(m, nn.Sigmoid)]
        method = create(name, model, rules={m: IdentityRule() for m in sigmoids})
    else:
        method = create(name, model)
    if name.startswith("noise_tunnel:"):
        kwargs.update(nt_samples=2, stdevs=0.1, generator=0)
    params = inspect.signature(method.attribute).parameters
    if "target" not in params and "kwargs" not in params:  # LayerActivation takes no target
        kwargs.pop("target")
    return method.attribute(inputs, **kwargs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch", [1, 4])
def test_shape_dtype_and_model_untouched(name, batch):
    if name == "feature_permutation" and batch == 1:
        pytest.skip("FeaturePermutation needs a batch of at least two")
    model = make_cnn()
    model.train()  # the mode the user left it in must survive
    model.eval()
    model[0].train()
    before = model_fingerprint(model)
    x = torch.randn(batch, 3, 8, 8)
    x_copy = x.clone()
    attr = call(name, model, x)
    assert isinstance(attr, torch.Tensor)
    assert attr.shape == x.shape and attr.dtype == x.dtype and attr.device == x.device
    assert torch.isfinite(attr).all()
    assert torch.equal(x, x_copy), "inputs were mutated"
    assert not x.requires_grad
    assert_unchanged(model, before)


@pytest.mark.parametrize("name", NAMES)
def test_tuple_in_tuple_out_and_float64(name):
    model = TwoInputNet().double().eval()
    xs = (torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64))
    attr = call(name, model, xs, target=1)
    assert isinstance(attr, tuple) and len(attr) == 2
    for a, x in zip(attr, xs):
        assert a.shape == x.shape and a.dtype == torch.float64


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_callers_no_grad_block_changes_nothing(name):
    """Explaining inside ``with torch.no_grad():`` (an evaluation loop) gives the same
    result: the gradient methods switch gradients on for their own work."""
    model = make_cnn()
    x = torch.randn(2, 3, 8, 8)
    expected = call(name, model, x)
    with torch.no_grad():
        inside = call(name, model, x)
    for a, b in zip(expected if isinstance(expected, list) else [expected],
                    inside if isinstance(inside, list) else [inside]):  # fmt: skip
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_many_equals_batch_of_one(name):
    if name == "feature_permutation":
        pytest.skip("permutations mix the rows of the batch (by design)")
    model = make_cnn(pool=False)
    x = torch.randn(3, 3, 8, 8)
    together = call(name, model, x, target=[0, 1, 2])
    alone = torch.cat([call(name, model, x[i : i + 1], target=i) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in NAMES if METHODS[n.split(":")[-1]].sampling])
def test_sampling_methods_are_reproducible(name):
    model = make_cnn()
    x = torch.randn(3, 3, 8, 8)
    assert torch.equal(call(name, model, x), call(name, model, x))


@pytest.mark.parametrize("name", sorted(METHODS) + ["noise_tunnel:saliency"])
def test_empty_batch_is_one_clear_error(name):
    """Every method answers a batch of zero examples the same way: a ValueError that names
    `inputs` and its shape (never an empty result from some and a reshape error from others)."""
    model = make_cnn()
    before = model_fingerprint(model)
    with pytest.raises(ValueError, match=r"`inputs` is an empty batch \(shape \(0, 3, 8, 8\)\)"):
        call(name, model, torch.randn(0, 3, 8, 8))
    assert_unchanged(model, before)


def test_noise_tunnel_on_integer_inputs_names_the_input():
    from perspicio.core import NoiseTunnel, Saliency

    nt = NoiseTunnel(Saliency(make_cnn()))
    with pytest.raises(TypeError, match=r"inputs\[0\].*torch.int64.*floating point"):
        nt.attribute(torch.ones(2, 3, 8, 8, dtype=torch.long), target=0, nt_samples=2)


class Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = make_cnn()

    def forward(self, x):
        self.net(x)
        raise RuntimeError("boom")


@pytest.mark.parametrize("name", NAMES)
def test_error_inside_model_leaves_nothing_behind(name):
    model = Exploding().eval()
    before = model_fingerprint(model)
    with pytest.raises(RuntimeError, match="boom"):
        call(name, model, torch.randn(2, 3, 8, 8))
    assert_unchanged(model, before)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    model = make_cnn(pool=False)
    x = torch.randn(2, 3, 8, 8)
    cpu = call(name, model, x)
    gpu = call(name, model.cuda(), x.cuda())
    assert gpu.device.type == "cuda"
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-4, rtol=1e-3)
