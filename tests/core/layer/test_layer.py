"""Layer and neuron attribution: completeness, embeddings, Captum agreement, invariants."""

import pytest
import torch
from torch import nn

import perspicio.core as P
from perspicio.core import (
    IntegratedGradients,
    LayerActivation,
    LayerAttribution,
    LayerConductance,
    LayerGradCam,
    LayerIntegratedGradients,
    NeuronConductance,
    NeuronGradient,
)

from ...conftest import assert_unchanged, model_fingerprint


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3),
        nn.Tanh(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, 4),
    ).eval()


def test_layer_conductance_sums_to_the_integrated_gradients_total():
    net = cnn()
    x = torch.randn(3, 3, 8, 8)
    cond, delta = LayerConductance(net, net[3]).attribute(
        x, target=1, n_steps=50, method="gausslegendre", return_convergence_delta=True
    )
    ig = IntegratedGradients(net).attribute(x, target=1, n_steps=50)
    gap = net(x)[:, 1] - net(torch.zeros_like(x))[:, 1]
    assert torch.allclose(
        cond.flatten(1).sum(1), ig.flatten(1).sum(1), atol=1e-3 * gap.abs().max().item() + 1e-4
    )
    assert delta.abs().max() < 1e-2 * gap.abs().max()


def test_neuron_conductance_sums_to_the_layer_conductance_of_that_neuron():
    net = cnn()
    x = torch.randn(2, 3, 8, 8)
    layer = LayerConductance(net, net[3]).attribute(x, target=2, n_steps=100)
    for neuron in [(0, 1, 1), (5, 3, 2)]:
        nc = NeuronConductance(net, net[3]).attribute(
            x, neuron, target=2, n_steps=100, method="gausslegendre"
        )
        assert torch.allclose(nc.flatten(1).sum(1), layer[(slice(None),) + neuron], atol=2e-4)


class EmbeddingModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(30, 6)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(5 * 6, 16), nn.Tanh(), nn.Linear(16, 2))

    def forward(self, ids):
        return self.body(self.embedding(ids))


def test_layer_ig_on_token_ids_equals_ig_on_the_embedded_vectors():
    net = EmbeddingModel()
    ids = torch.randint(1, 30, (4, 5))
    pad = torch.zeros_like(ids)
    lig, delta = LayerIntegratedGradients(net, net.embedding).attribute(
        ids, baselines=pad, target=1, return_convergence_delta=True
    )
    ig = IntegratedGradients(net.body).attribute(net.embedding(ids), net.embedding(pad), target=1)
    assert torch.allclose(lig, ig, atol=1e-6)
    assert delta.abs().max() < 1e-4


def test_layer_ig_shares_the_layers_before_for_one_example():
    net = EmbeddingModel()
    ids = torch.randint(1, 30, (1, 5))
    calls = []
    handle = net.embedding.register_forward_hook(lambda m, a, o: calls.append(o.shape[0]))
    try:
        shared = LayerIntegratedGradients(net, net.embedding).attribute(
            ids, target=0, internal_batch_size=10
        )
    finally:
        handle.remove()
    assert max(calls) == 1  # the embedding never ran on the replicated batch
    expanded = LayerIntegratedGradients(net, net.embedding).attribute(
        ids.repeat(2, 1), target=0, internal_batch_size=10
    )[:1]
    assert torch.allclose(shared, expanded, atol=1e-6)


class BatchSizeFromInput(nn.Module):
    """Reads the batch size from the input: sharing the prefix must fall back."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embedding, self.fc = nn.Embedding(10, 3), nn.Linear(12, 1)

    def forward(self, ids):
        return self.fc(self.embedding(ids).reshape(ids.shape[0], -1))


def test_layer_ig_falls_back_when_the_model_reads_the_batch_size():
    net = BatchSizeFromInput()
    ids = torch.randint(0, 10, (1, 4))
    attr, delta = LayerIntegratedGradients(net, net.embedding).attribute(
        ids, return_convergence_delta=True
    )
    assert attr.shape == (1, 4, 3) and delta.abs().max() < 1e-5


def test_lists_of_layers_and_interpolate():
    net = cnn()
    x = torch.randn(2, 3, 8, 8)
    acts = LayerActivation(net, [net[1], net[3]]).attribute(x)
    assert [a.shape for a in acts] == [(2, 6, 8, 8), (2, 8, 6, 6)]
    lig = LayerIntegratedGradients(net, [net[1], net[3]]).attribute(x, target=0, n_steps=10)
    assert [a.shape for a in lig] == [(2, 6, 8, 8), (2, 8, 6, 6)]
    cam = LayerGradCam(net, net[3]).attribute(x, target=0, relu_attributions=True)
    up = LayerAttribution.interpolate(cam, (8, 8), "bilinear")
    assert up.shape == (2, 1, 8, 8) and (cam >= 0).all()


def test_neuron_selector_forms():
    net = cnn()
    x = torch.randn(2, 3, 8, 8)
    single = NeuronGradient(net, net[3]).attribute(x, (1, 2, 2))
    channel = NeuronGradient(net, net[3]).attribute(x, lambda out: out[:, 1].sum((1, 2)))
    total = sum(
        NeuronGradient(net, net[3]).attribute(x, (1, i, j)) for i in range(6) for j in range(6)
    )
    assert single.shape == x.shape and torch.allclose(channel, total, atol=1e-6)


# ------------------------------------------------------------------------ errors
def test_bad_layers_and_selectors_raise_clear_errors():
    net, other = cnn(), nn.Linear(2, 2)
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match="not a submodule"):
        LayerGradCam(net, other)

    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.spare = net, nn.ReLU()

        def forward(self, t):
            return self.net(t)

    unused = WithSpare()
    with pytest.raises(ValueError, match="never called"):
        LayerActivation(unused, unused.spare).attribute(x)
    with pytest.raises(ValueError, match="does not select a neuron"):
        NeuronGradient(net, net[3]).attribute(x, (9, 0, 0))
    with pytest.raises(ValueError, match="does not select a neuron"):
        NeuronGradient(net, net[3]).attribute(x, 1)  # a whole channel: say so with a slice
    with pytest.raises(TypeError, match="`neuron_selector`"):
        NeuronGradient(net, net[3]).attribute(x, (0, 1.5, 0))
    relu = nn.ReLU()
    reused = nn.Sequential(nn.Linear(3, 3), relu, nn.Linear(3, 3), relu)
    with pytest.raises(ValueError, match="called 2 times"):
        P.LayerGradientXActivation(reused, relu).attribute(torch.randn(2, 3), target=0)


def test_neuron_selectors_with_slices_and_callables_sum_the_selected_neurons():
    """Captum's selector forms: slices sum a region, a callable on the layer's value
    aggregates, trailing size-1 dimensions may be left out; one neuron given by a callable
    gives the same conductance as its index."""
    net = cnn()
    x = torch.randn(2, 3, 8, 8)
    region = NeuronGradient(net, net[3]).attribute(x, (1, slice(0, 2), slice(0, 2)))
    summed = sum(
        NeuronGradient(net, net[3]).attribute(x, (1, i, j)) for i in range(2) for j in range(2)
    )
    assert torch.allclose(region, summed, atol=1e-6)
    by_fn = NeuronGradient(net, net[3]).attribute(x, lambda o: o[:, 1, :2, :2])
    assert torch.allclose(by_fn, summed, atol=1e-6)
    index = NeuronConductance(net, net[3]).attribute(x, (1, 0, 1), target=0, n_steps=8)
    fn = NeuronConductance(net, net[3]).attribute(x, lambda o: o[:, 1, 0, 1], target=0, n_steps=8)
    assert torch.allclose(index, fn, atol=1e-6)
    flat = nn.Sequential(nn.Linear(3, 4), nn.Unflatten(1, (4, 1, 1)))
    assert torch.allclose(  # (4, 1, 1): neuron 2 by its first index alone
        NeuronGradient(flat, flat[1]).attribute(torch.randn(2, 3), 2),
        flat[0].weight[2].detach().expand(2, 3),
    )


# ------------------------------------------------------------- common invariants
LAYER_CASES = {
    "LayerActivation": ({}, {}),
    "LayerGradientXActivation": ({}, {"target": 1}),
    "InternalInfluence": ({}, {"target": 1, "n_steps": 5}),
    "LayerConductance": ({}, {"target": 1, "n_steps": 5}),
    "LayerGradCam": ({}, {"target": 1}),
    "LayerIntegratedGradients": ({}, {"target": 1, "n_steps": 5}),
    "LayerDeepLift": ({}, {"target": 1}),
    "LayerDeepLiftShap": ({}, {"target": 1, "baselines": "dist"}),
    "LayerGradientShap": ({}, {"target": 1, "baselines": "dist", "generator": 0}),
    "LayerFeatureAblation": ({}, {"target": 1}),
    "LayerLRP": ({}, {"target": 1}),
}
NEURON_CASES = {
    "NeuronGradient": {},
    "NeuronIntegratedGradients": {"n_steps": 5},
    "NeuronConductance": {"target": 1, "n_steps": 5},
    "NeuronGuidedBackprop": {},
    "NeuronDeconvolution": {},
    "NeuronGradientShap": {"baselines": "dist", "generator": 0},
    "NeuronDeepLift": {},
    "NeuronDeepLiftShap": {"baselines": "dist"},
    "NeuronFeatureAblation": {},
}


def _kwargs(kw, x):
    kw = dict(kw)
    if kw.get("baselines") == "dist":
        kw["baselines"] = torch.randn(
            (3,) + x.shape[1:], generator=torch.Generator().manual_seed(0)
        )
    return kw


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
@pytest.mark.parametrize("batch", [1, 3])
def test_layer_invariants(name, batch):
    net = cnn()
    before = model_fingerprint(net)
    x = torch.randn(batch, 3, 8, 8)
    x_copy = x.clone()
    _, kw = LAYER_CASES[name]
    if name == "LayerLRP":
        net[3].rule = P.IdentityRule()  # Tanh: identity (the default), set explicitly
        before = model_fingerprint(net)
    attr = getattr(P, name)(net, net[2]).attribute(x, **_kwargs(kw, x))
    expected = (batch, 1, 6, 6) if name == "LayerGradCam" else (batch, 8, 6, 6)
    assert attr.shape == expected and attr.dtype == x.dtype and torch.isfinite(attr).all()
    assert torch.equal(x, x_copy)
    assert_unchanged(net, before)


@pytest.mark.parametrize("name", sorted(NEURON_CASES))
def test_neuron_invariants_and_batch_consistency(name):
    net = cnn()
    before = model_fingerprint(net)
    x = torch.randn(3, 3, 8, 8)
    kw = _kwargs(NEURON_CASES[name], x)
    attr = getattr(P, name)(net, net[3]).attribute(x, (2, 1, 1), **kw)
    assert attr.shape == x.shape and torch.isfinite(attr).all()
    assert_unchanged(net, before)
    if name != "NeuronGradientShap":
        alone = getattr(P, name)(net, net[3]).attribute(x[1:2], (2, 1, 1), **kw)
        assert torch.allclose(attr[1:2], alone, atol=1e-5)


class Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = cnn()

    def forward(self, x):
        self.net(x)
        raise RuntimeError("boom")


@pytest.mark.parametrize("name", sorted(set(LAYER_CASES) - {"LayerActivation"}))
def test_layer_error_inside_model_leaves_nothing_behind(name):
    # (LayerActivation stops the forward pass at the layer, before the error)
    model = Exploding().eval()
    before = model_fingerprint(model)
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(RuntimeError, match="boom"):
        getattr(P, name)(model, model.net[2]).attribute(x, **_kwargs(LAYER_CASES[name][1], x))
    assert_unchanged(model, before)


# --------------------------------------------------------------- agreement with Captum
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("to_input", [False, True])
def test_layer_methods_agree_with_captum(to_input):
    from tests.oracle import captum_attr as C

    net = cnn()
    x, b = torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8) * 0.1
    dist = torch.randn(4, 3, 8, 8)
    cases = {
        "LayerActivation": {},
        "LayerGradientXActivation": {"target": 1},
        "InternalInfluence": {"target": 1, "n_steps": 12, "baselines": b},
        "LayerConductance": {"target": 1, "n_steps": 12, "baselines": b},
        "LayerGradCam": {"target": 1},
        "LayerIntegratedGradients": {"target": 1, "n_steps": 12, "baselines": b},
        "LayerDeepLiftShap": {"target": 1, "baselines": dist},
        "LayerFeatureAblation": {"target": 1},
    }
    if not to_input:
        # Captum's LayerDeepLift on a nonlinearity's input breaks summation-to-delta
        cases["LayerDeepLift"] = {"target": 1, "baselines": b}
    for name, kw in cases.items():
        layer = net[2] if name in ("LayerDeepLift", "LayerDeepLiftShap") and to_input else net[3]
        ours = getattr(P, name)(net, layer).attribute(x, attribute_to_layer_input=to_input, **kw)
        theirs = getattr(C, name)(net, layer).attribute(x, attribute_to_layer_input=to_input, **kw)
        assert torch.allclose(ours, theirs, atol=1e-6), name


@pytest.mark.filterwarnings("ignore")
def test_neuron_methods_agree_with_captum():
    from tests.oracle import captum_attr as C

    net = cnn()
    x, b = torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8) * 0.1
    cases = {
        "NeuronGradient": {},
        "NeuronIntegratedGradients": {"baselines": b, "n_steps": 12},
        "NeuronGuidedBackprop": {},
        "NeuronDeconvolution": {},
        "NeuronDeepLift": {"baselines": b},
        "NeuronDeepLiftShap": {"baselines": torch.randn(4, 3, 8, 8)},
        "NeuronFeatureAblation": {"baselines": b},
        "NeuronConductance": {
            "baselines": b,
            "target": 1,
            "n_steps": 12,
            "method": "gausslegendre",
        },
    }
    for name, kw in cases.items():
        ours = getattr(P, name)(net, net[3]).attribute(x, (2, 3, 1), **kw)
        theirs = getattr(C, name)(net, net[3]).attribute(x, (2, 3, 1), **kw)
        assert torch.allclose(ours, theirs, atol=1e-6), name


def test_a_layer_called_with_keyword_tensors_has_its_input_captured():
    """Hugging Face modules are called with keywords: a layer's input is every tensor it is
    called with, positional or keyword."""

    class KeywordCall(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.inner = nn.Linear(3, 2)

        def forward(self, x):
            return self.inner(input=x * 2.0)

    model = KeywordCall()
    x = torch.randn(4, 3)
    attr = P.LayerGradientXActivation(model, model.inner).attribute(
        x, target=1, attribute_to_layer_input=True
    )
    assert torch.allclose(attr, 2.0 * x * model.inner.weight[1].detach(), atol=1e-6)
    ig = P.LayerIntegratedGradients(model, model.inner).attribute(
        x, target=1, attribute_to_layer_input=True, n_steps=4
    )
    assert torch.allclose(ig, attr, atol=1e-5)  # linear: IG from zero is gradient x input


def test_token_ids_as_a_layers_input_get_a_clear_error():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    model = transformers.BertForSequenceClassification(config).eval()
    ids = torch.randint(5, 50, (2, 7))

    def forward(i):
        return model(input_ids=i).logits

    with pytest.raises(ValueError, match="BertEmbeddings holds integers.*word_embeddings"):
        P.LayerIntegratedGradients(forward, model.bert.embeddings).attribute(
            ids, baselines=torch.zeros_like(ids), target=1, attribute_to_layer_input=True
        )
    out = P.LayerIntegratedGradients(forward, model.bert.embeddings).attribute(
        ids, baselines=torch.zeros_like(ids), target=1, n_steps=8
    )
    assert out.shape == (2, 7, 16)


@pytest.mark.parametrize("to_input", [False, True])
def test_an_in_place_operation_after_the_layer_changes_nothing(to_input):
    # ReLU(inplace=True) rewrites the tensor the layer produced; the layer's value and its
    # gradient are those before the ReLU, as without in-place operations
    def net(inplace):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=inplace), nn.Linear(4, 2))

    x = torch.randn(5, 3)
    layer = 1 if to_input else 0
    results = []
    for inplace in (False, True):
        model = net(inplace)
        kw = {"attribute_to_layer_input": to_input}
        results.append(
            (
                P.InternalInfluence(model, model[layer]).attribute(x, target=0, **kw),
                P.LayerActivation(model, model[layer]).attribute(x, **kw),
                P.LayerGradientXActivation(model, model[layer]).attribute(x, target=0, **kw),
            )
        )
    for plain, inplace in zip(*results):
        assert torch.allclose(plain, inplace, atol=1e-6)
    assert (results[1][1] < 0).any()  # the activation recorded before the ReLU
