"""Invariants every algorithm in the registry must keep (scikit-learn style common tests)."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from perspicio.core import IdentityRule
from perspicio.core._facts import Facts
from perspicio.core.registry import METHODS, get_spec, prepare

from ..conftest import TwoInputNet, assert_unchanged, make_cnn, model_fingerprint

#: every registered method of every family, and two noise tunnels
NAMES = sorted(METHODS) + ["noise_tunnel:saliency", "noise_tunnel:integrated_gradients"]


def spec_of(name: str):
    return get_spec(name.split(":")[-1])


def _layer(spec, model):
    """The layer the method works at: the last convolution of the CNN, the first linear
    layer of the two-input net (the CAM methods need a spatial grid)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        return convs[-1]
    if spec.test.get("layer") == "spatial":
        pytest.skip(f"{spec.name} needs a convolution layer")
    return next(m for m in model.modules() if isinstance(m, nn.Linear))


def call(name: str, model, inputs, target=0):
    """Run a method through its spec, on the facts every test shares, with the spec's small
    test settings."""
    spec = spec_of(name)
    xs = inputs if isinstance(inputs, tuple) else (inputs,)
    gen = torch.Generator().manual_seed(0)
    population = tuple(
        torch.randn((3,) + x.shape[1:], generator=gen, dtype=x.dtype).to(x.device) for x in xs
    )
    # a handful of feature groups, shared by the input tensors
    masks = tuple((torch.arange(math.prod(x.shape[1:])) % 5).view((1,) + x.shape[1:]) for x in xs)
    layer = _layer(spec, model) if spec.needs_layer else None
    one = not isinstance(inputs, tuple)
    facts = Facts(
        inputs,
        target=target if spec.accepts("target") or name.startswith("noise_tunnel:") else None,
        population=population[0] if one else population,
        feature_mask=masks[0] if one else masks,
        window=2,
        generator=0,
        layer=layer,
        neuron=(0, 1, 1) if isinstance(layer, nn.Conv2d) else 0,
        options={k: v for k, v in spec.test.items() if spec.accepts(k)},
    )
    init = {}
    if "rules" in inspect.signature(spec.cls.__init__).parameters:
        # the test CNN's Sigmoid has no default LRP rule
        init["rules"] = {m: IdentityRule() for m in model.modules() if isinstance(m, nn.Sigmoid)}
    run = prepare(name, model, facts, **init)
    if name.startswith("noise_tunnel:"):
        return run.attribute(nt_samples=2, stdevs=0.1)
    return run.attribute()


def check_shape(name, attr, inputs):
    """Attributions to the inputs are shaped like them; a layer's have the batch first."""
    xs = inputs if isinstance(inputs, tuple) else (inputs,)
    attrs = attr if isinstance(attr, tuple) else (attr,)
    if spec_of(name).attributes_inputs:
        assert len(attrs) == len(xs)
        for a, x in zip(attrs, xs):
            assert a.shape == x.shape, (a.shape, x.shape)
    for a, x in zip(attrs, xs):
        assert a.shape[0] == x.shape[0] and a.dtype == x.dtype and a.device == x.device
        assert torch.isfinite(a).all()


def test_every_public_attribution_class_is_registered_or_excluded_on_purpose():
    import perspicio.core as core
    from perspicio.core.attribution import Attribution
    from perspicio.core.registry import EXCLUDED

    registered = {spec.cls for spec in METHODS.values()}
    public = {
        name: obj
        for name in core.__all__
        if isinstance(obj := getattr(core, name), type) and issubclass(obj, Attribution)
    }
    missing = sorted(n for n, c in public.items() if c not in registered and n not in EXCLUDED)
    assert not missing, f"register these in core/registry.py or add them to EXCLUDED: {missing}"
    stale = sorted(n for n in EXCLUDED if n not in public)
    assert not stale, f"EXCLUDED names that perspicio.core no longer exports: {stale}"
    assert not (set(EXCLUDED) & {c.__name__ for c in registered})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch", [1, 4])
def test_shape_dtype_and_model_untouched(name, batch):
    if batch < spec_of(name).min_batch:
        pytest.skip(f"{name} permutes the rows of a batch: it needs at least two")
    model = make_cnn()
    model.train()  # the mode the user left it in must survive
    model.eval()
    model[0].train()
    before = model_fingerprint(model)
    x = torch.randn(batch, 3, 8, 8)
    x_copy = x.clone()
    attr = call(name, model, x)
    assert isinstance(attr, torch.Tensor)
    check_shape(name, attr, x)
    assert torch.equal(x, x_copy), "inputs were mutated"
    assert not x.requires_grad
    assert_unchanged(model, before)


@pytest.mark.parametrize("name", NAMES)
def test_tuple_in_tuple_out_and_float64(name):
    model = TwoInputNet().double().eval()
    xs = (torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64))
    attr = call(name, model, xs, target=1)
    if spec_of(name).attributes_inputs:
        assert isinstance(attr, tuple) and len(attr) == 2
    check_shape(name, attr, xs)


@pytest.mark.parametrize("name", NAMES)
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
    if spec_of(name).test.get("rows_interact"):
        pytest.skip("permutations mix the rows of the batch (by design)")
    model = make_cnn(pool=False)
    x = torch.randn(3, 3, 8, 8)
    together = call(name, model, x, target=[0, 1, 2])
    alone = torch.cat([call(name, model, x[i : i + 1], target=i) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in NAMES if spec_of(n).sampling or "noise" in n])
def test_sampling_methods_are_reproducible(name):
    model = make_cnn()
    x = torch.randn(3, 3, 8, 8)
    assert torch.equal(call(name, model, x), call(name, model, x))


@pytest.mark.parametrize("name", NAMES)
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
    """Raises half-way, before the layer the layer and neuron methods hook (which stop the
    forward pass at their layer, so a later error would never be reached)."""

    def __init__(self):
        super().__init__()
        self.net = make_cnn()

    def forward(self, x):
        self.net[:3](x)
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
