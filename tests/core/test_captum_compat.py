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
    ("Saliency", lambda m: ()),
    ("InputXGradient", lambda m: ()),
    ("IntegratedGradients", lambda m: ()),
    ("GradientShap", lambda m: ()),
    ("DeepLift", lambda m: ()),
    ("DeepLiftShap", lambda m: ()),
    ("GuidedBackprop", lambda m: ()),
    ("Deconvolution", lambda m: ()),
    ("GuidedGradCam", lambda m: (m[0],)),
    ("LRP", lambda m: ()),
    ("FeatureAblation", lambda m: ()),
    ("FeaturePermutation", lambda m: ()),
    ("Occlusion", lambda m: ()),
    ("ShapleyValueSampling", lambda m: ()),
    ("ShapleyValues", lambda m: ()),
    ("Lime", lambda m: ()),
    ("KernelShap", lambda m: ()),
    ("LayerActivation", lambda m: (m[0],)),
    ("LayerConductance", lambda m: (m[0],)),
    ("InternalInfluence", lambda m: (m[0],)),
    ("LayerGradCam", lambda m: (m[0],)),
    ("LayerGradientXActivation", lambda m: (m[0],)),
    ("LayerIntegratedGradients", lambda m: (m[0],)),
    ("LayerDeepLift", lambda m: (m[0],)),
    ("LayerDeepLiftShap", lambda m: (m[0],)),
    ("LayerGradientShap", lambda m: (m[0],)),
    ("LayerFeatureAblation", lambda m: (m[0],)),
    ("LayerLRP", lambda m: (m[0],)),
    ("NeuronGradient", lambda m: (m[0],)),
    ("NeuronIntegratedGradients", lambda m: (m[0],)),
    ("NeuronConductance", lambda m: (m[0],)),
    ("NeuronGuidedBackprop", lambda m: (m[0],)),
    ("NeuronDeconvolution", lambda m: (m[0],)),
    ("NeuronGradientShap", lambda m: (m[0],)),
    ("NeuronDeepLift", lambda m: (m[0],)),
    ("NeuronDeepLiftShap", lambda m: (m[0],)),
    ("NeuronFeatureAblation", lambda m: (m[0],)),
]


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
    "LayerGradCam",
    "InternalInfluence",
    "LayerConductance",
    "LayerDeepLift",
    "LayerDeepLiftShap",
    "LayerGradientShap",
    "LayerGradientXActivation",
    "LayerIntegratedGradients",
    "NeuronConductance",
]


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


# ------------------------------------------------------------- outputs of any form
def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).eval()


@pytest.mark.parametrize(
    "as_output",
    [float, lambda t: t, lambda t: t.reshape(1)],
    ids=["python float", "0-d tensor", "1-element tensor"],
)
@pytest.mark.parametrize("chunk", [1, 3])
def test_a_value_for_the_whole_batch_is_attributed_per_feature(as_output, chunk):
    """Aggregate outputs: feature j is ablated in every row at once and credited with the
    change of the batch's value; the result has one row."""
    net = _mlp()
    x = torch.randn(4, 3)

    def batch_score(t):
        return as_output(
            net(t)[:, 1].sum() if as_output is not float else float(net(t)[:, 1].sum())
        )

    attr = P.FeatureAblation(batch_score).attribute(x, perturbations_per_eval=chunk)
    with torch.no_grad():
        full = net(x)[:, 1].sum()
        expected = torch.stack(
            [full - net(x.index_fill(1, torch.tensor([j]), 0.0))[:, 1].sum() for j in range(3)]
        )
    assert attr.shape == (1, 3)
    assert torch.allclose(attr[0].double(), expected.double(), atol=1e-5)
    svs = P.ShapleyValues(batch_score).attribute(x, perturbations_per_eval=chunk)
    assert svs.shape == (1, 3)
    with torch.no_grad():
        gap = float(full - net(torch.zeros_like(x))[:, 1].sum())
    assert float(svs.sum()) == pytest.approx(gap, abs=1e-4)


def test_several_values_for_the_batch_give_one_row_each():
    net = _mlp()
    x = torch.randn(5, 3)
    attr = P.FeatureAblation(lambda t: net(t).sum(0)).attribute(x)  # two values per batch
    assert attr.shape == (2, 3)
    for o in range(2):
        alone = P.FeatureAblation(lambda t, o=o: net(t)[:, o].sum()).attribute(x)
        assert torch.allclose(attr[o], alone[0], atol=1e-6)


def test_futures_from_the_model_and_attribute_future():
    net = _mlp()
    x = torch.randn(3, 3)

    def later(t):
        result = torch.futures.Future()
        result.set_result(net(t))
        return result

    plain = P.FeatureAblation(net).attribute(x, target=1)
    assert torch.equal(P.FeatureAblation(later).attribute(x, target=1), plain)
    future = P.FeatureAblation(later).attribute_future(x, target=1)
    assert type(future) is torch.Future and torch.equal(future.wait(), plain)  # as Captum's
    for cls in (P.Saliency, P.IntegratedGradients, P.KernelShap, P.Lime):
        with pytest.raises(NotImplementedError, match="attribute_future"):
            cls(net).attribute_future(x, target=1)


def test_occlusion_of_a_batch_value_occludes_every_row():
    net = _mlp()
    x = torch.randn(4, 3)
    attr = P.Occlusion(lambda t: net(t)[:, 0].sum()).attribute(x, sliding_window_shapes=(1,))
    expected = P.FeatureAblation(lambda t: net(t)[:, 0].sum()).attribute(x)
    assert attr.shape == (1, 3) and torch.allclose(attr, expected, atol=1e-6)


def test_attribute_takes_captums_arguments_in_captums_order():
    """Positional calls written for Captum (``Lime(f).attribute(x, baselines)``) mean the
    same here; perspicio's additions come after Captum's arguments."""
    import inspect

    for name in sorted(set(dir(C)) & set(dir(P))):
        ours, theirs = getattr(P, name), getattr(C, name)
        if not (isinstance(theirs, type) and hasattr(theirs, "attribute")):
            continue
        captum_params = [
            p
            for p in inspect.signature(theirs.attribute).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        our_params = list(inspect.signature(ours.attribute).parameters)
        names = [p.name for p in captum_params if p.name != "grad_kwargs"]
        assert our_params[: len(names)] == names, name


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("FeatureAblation", {}),
        ("Occlusion", {"sliding_window_shapes": (1,)}),
        ("ShapleyValueSampling", {"n_samples": 3}),
        ("ShapleyValues", {}),
        ("KernelShap", {"n_samples": 10}),
        ("Lime", {"n_samples": 10}),
        ("IntegratedGradients", {"n_steps": 5}),
    ],
)
def test_progress_bars_are_titled_and_finish_as_captums(name, kwargs, capsys):
    """Captum's progress bars read "<Method name> attribution" and end at 100%."""
    method = getattr(P, name)(_mlp())
    method.attribute(torch.randn(2, 3), target=0, show_progress=True, **kwargs)
    err = capsys.readouterr().err
    assert f"{method.get_name()} attribution: 100%" in err, err[-300:]


def test_no_target_on_a_multi_output_model_attributes_every_output_value():
    """Captum's perturbation methods, given no target for a model with several outputs per
    example, attribute each value of the (flattened) output: one row per value."""
    net = _mlp()
    x = torch.randn(3, 3)
    attr = P.FeatureAblation(net).attribute(x)
    assert attr.shape == (3 * 2, 3)
    per_class = [P.FeatureAblation(net).attribute(x, target=c) for c in range(2)]
    for i in range(3):
        for c in range(2):
            assert torch.allclose(attr[2 * i + c], per_class[c][i], atol=1e-6)
    with pytest.raises(ValueError, match="target"):  # gradient methods still ask for one
        P.Saliency(net).attribute(x)


def test_interpretable_embedding_layer_equals_layer_integrated_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Embedding(20, 4), nn.Flatten(), nn.Linear(12, 2))
    ids, base = torch.randint(1, 20, (3, 3)), torch.zeros(3, 3, dtype=torch.long)
    expected = P.LayerIntegratedGradients(net, net[0]).attribute(
        ids, baselines=base, target=1, n_steps=16
    )
    with pytest.warns(UserWarning, match="passes embedding vectors through"):
        emb = P.configure_interpretable_embedding_layer(net, "0")
    try:
        with pytest.raises(ValueError, match="configured already"):
            P.configure_interpretable_embedding_layer(net, "0")
        vectors, zeros = emb.indices_to_embeddings(ids), emb.indices_to_embeddings(base)
        attr = P.IntegratedGradients(net).attribute(vectors, zeros, target=1, n_steps=16)
    finally:
        P.remove_interpretable_embedding_layer(net, emb)
    assert isinstance(net[0], nn.Embedding)
    assert torch.allclose(attr, expected, atol=1e-5)
    with pytest.raises(ValueError, match="`embedding_layer_name`"):
        P.configure_interpretable_embedding_layer(net, "no.such.layer")


# ------------------------------------------------------------ Lime's Captum callbacks
def _captum_similarity(original_inp, perturbed_inp, perturbed_interpretable_inp, **kwargs):
    return torch.tensor(1.0)


def _captum_perturb(original_inp, **kwargs):
    return torch.bernoulli(torch.full((1, kwargs["num_interp_features"]), 0.5))


def test_lime_with_captum_callbacks_runs_them_and_recovers_a_linear_model():
    torch.manual_seed(0)
    net = nn.Linear(4, 1)
    x = torch.randn(3, 4)
    calls = []

    def perturb(original_inp, **kwargs):
        calls.append(sorted(kwargs))
        return _captum_perturb(original_inp, **kwargs)

    lime = P.Lime(net, similarity_func=_captum_similarity, perturb_func=perturb)
    attr = lime.attribute(x, n_samples=60)
    assert calls[0] == ["baselines", "feature_mask", "num_interp_features"]
    assert len(calls) == 3 * 60  # example by example, as Captum's Lime
    assert torch.allclose(attr, x * net.weight.detach(), atol=1e-4)


def test_lime_with_captum_callbacks_is_the_same_batched_or_one_by_one():
    """Captum's generated tests: with the global random state, a batch with per-example
    targets equals the examples explained one by one after the same manual_seed."""
    net = _mlp()
    x = torch.randn(3, 3)
    lime = P.Lime(net, similarity_func=_captum_similarity)
    torch.manual_seed(5)
    together = lime.attribute(x, target=[0, 1, 1], n_samples=20)
    torch.manual_seed(5)
    alone = [lime.attribute(x[i : i + 1], target=t, n_samples=20) for i, t in enumerate([0, 1, 1])]
    assert torch.allclose(together, torch.cat(alone), atol=1e-6)
    # the batched fast path keeps the same invariant
    fast = P.Lime(net)
    torch.manual_seed(5)
    together = fast.attribute(x, target=[0, 1, 1], n_samples=20)
    torch.manual_seed(5)
    first = fast.attribute(x[:1], target=0, n_samples=20)
    assert torch.allclose(together[:1], first, atol=1e-6)


def test_limebase_samples_in_the_input_space_with_a_generator():
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    x = torch.tensor([[1.0, -2.0, 3.0]])

    def samples(original_inp, **kwargs):
        while True:
            z = torch.bernoulli(torch.full((1, 3), 0.5))
            yield original_inp * z

    def to_interp(sample, original_inp, **kwargs):
        return (sample != 0).float()

    lime = P.LimeBase(net, None, _captum_similarity, samples, False, None, to_interp)
    coef = lime.attribute(x, n_samples=50)
    assert coef.shape == (1, 3)
    assert torch.allclose(coef, x * net.weight.detach(), atol=1e-4)
    with pytest.raises(ValueError, match="`to_interp_rep_transform`"):
        P.LimeBase(net, None, _captum_similarity, samples, False, None, None)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: P.Saliency(m).attribute(x, target=7),  # target out of range
        lambda m, x: P.IntegratedGradients(m).attribute(x, target=0, n_steps=0),
        lambda m, x: P.Occlusion(m).attribute(x, target=0, sliding_window_shapes=(1, 2)),
        lambda m, x: P.FeatureAblation(m).attribute(x, target=0, feature_mask=torch.arange(4)),
    ],
)
def test_bad_input_is_a_value_or_type_error_and_an_assertion_error(call):
    # Captum asserts where perspicio checks: migrated `except AssertionError` still catches
    model = nn.Linear(3, 2)
    with pytest.raises(AssertionError) as caught:
        call(model, torch.rand(2, 3))
    assert isinstance(caught.value, (ValueError, TypeError))
    assert isinstance(caught.value, (P.errors.AttributionValueError, P.errors.AttributionTypeError))


def test_attribute_keeps_its_signature_and_leaves_the_model_as_found():
    import inspect

    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    model.train()
    model[0].weight.requires_grad_(False)
    ig = P.IntegratedGradients(model)
    args = inspect.getfullargspec(ig.attribute.__wrapped__).args
    assert args[:4] == ["self", "inputs", "baselines", "target"]
    assert list(inspect.signature(ig.attribute).parameters)[:2] == ["inputs", "baselines"]

    class Failing(P.Saliency):
        def attribute(self, inputs, target=None):
            self.forward_func.eval()
            for p in self.forward_func.parameters():
                p.requires_grad_(True)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Failing(model).attribute(torch.rand(2, 3))
    assert all(m.training for m in model.modules())
    assert not model[0].weight.requires_grad and model[2].weight.requires_grad


def test_masks_and_baselines_broadcast_as_torch_broadcasts():
    def total(x):
        return x.reshape(x.shape[0], -1).sum(1)

    x = torch.arange(16.0).view(1, 1, 4, 4)
    # a 0-d mask: the whole input is one feature
    whole = P.FeatureAblation(total).attribute(x, feature_mask=torch.tensor(0))
    assert torch.allclose(whole, torch.full_like(x, x.sum().item()))
    # a baseline of shape (n, 1) gives each row its own value
    rows = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    attr = P.FeatureAblation(total).attribute(rows, baselines=torch.tensor([[1.0], [4.0]]))
    assert torch.allclose(attr, rows - torch.tensor([[1.0], [4.0]]))
    # an integer input keeps a fractional baseline: replacing 0 by 0.25 lowers the sum
    ints = torch.tensor([[0, 1]])
    attr = P.FeatureAblation(lambda t: t.sum(1)).attribute(ints, baselines=0.25)
    assert torch.allclose(attr, torch.tensor([[-0.25, 0.75]], dtype=attr.dtype))


def test_noise_tunnel_gives_each_example_its_own_feature_mask():
    model = nn.Linear(3, 1)
    x = torch.randn(2, 3)
    masks = torch.tensor([[0, 0, 0], [0, 1, 2]])
    nt = P.NoiseTunnel(P.FeatureAblation(model))
    attr = nt.attribute(x, target=0, feature_mask=masks, nt_samples=4, stdevs=1e-9)
    plain = P.FeatureAblation(model).attribute(x, target=0, feature_mask=masks)
    assert torch.allclose(attr, plain, atol=1e-5)


def test_feature_permutation_of_a_loss_over_the_batch():
    # the model is a loss against fixed labels: it only runs on its own batch
    torch.manual_seed(0)
    x = torch.randn(20, 3)
    labels = 2 * x[:, 0]

    def loss(t):
        return ((2 * t[:, 0] + 0 * t[:, 2] - labels) ** 2).mean()

    attr = P.FeaturePermutation(loss).attribute(x, generator=0)
    assert attr.shape == (1, 3)
    assert attr[0, 0] < 0  # shuffling the used column raises the loss
    assert torch.equal(attr[0, 1:], torch.zeros(2))
    with pytest.raises(ValueError, match="target"):
        P.FeaturePermutation(loss).attribute(x, target=0)


@pytest.mark.parametrize("cls", [P.ShapleyValues, P.ShapleyValueSampling])
def test_shapley_without_target_attributes_every_output_of_each_example(cls):
    model = nn.Linear(3, 4)
    x = torch.randn(2, 3)
    attr = cls(model).attribute(x)
    assert attr.shape == (2, 4, 3)
    # a linear model's Shapley values: w_oj * (x_j - 0), for each output o
    expected = model.weight.detach().unsqueeze(0) * x.unsqueeze(1)
    assert torch.allclose(attr, expected, atol=1e-5)


def test_guided_gradcam_skips_an_input_that_is_not_an_image():
    class ImageAndVector(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.head = nn.Linear(2 * 2 * 2 + 1, 3)

        def forward(self, img, vec):
            return self.head(torch.cat([self.conv(img).flatten(1), vec], 1))

    torch.manual_seed(0)
    model = ImageAndVector()
    img, vec = torch.rand(2, 1, 4, 4), torch.rand(2, 1)
    alone = P.GuidedGradCam(model, model.conv).attribute((img, vec), target=0)
    with pytest.warns(UserWarning, match=r"inputs\[1\]"):
        a_img, a_vec = P.GuidedGradCam(model, model.conv).attribute((img, vec), target=1)
    assert a_img.shape == img.shape and a_vec.numel() == 0 and alone[1].numel() == 0
    with pytest.raises(ValueError, match="interpolate_mode"):
        P.GuidedGradCam(model, model.conv).attribute((img, vec), target=0, interpolate_mode="x")


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (P.FeatureAblation, {}),
        (P.ShapleyValues, {}),
        (P.ShapleyValueSampling, {"n_samples": 3}),
        (P.KernelShap, {"n_samples": 300, "generator": 0}),
    ],
)
def test_an_input_with_no_features_gets_an_empty_attribution(cls, kwargs):
    w = torch.tensor([1.0, -2.0, 3.0])

    def model(x, extra):  # `extra` has no features (an empty list of sparse ids, say)
        return x @ w + extra.sum(1)

    x, extra = torch.tensor([[1.0, 2.0, 3.0]]), torch.zeros(1, 0)
    a_x, a_extra = cls(model).attribute((x, extra), **kwargs)
    assert a_extra.shape == (1, 0)
    assert torch.allclose(a_x, x * w, atol=1e-3)  # a linear model: w * (x - 0)


def test_layer_feature_permutation_of_a_loss_over_the_batch():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, 0.0, 2.0]]))  # neuron 1 unused
    x = torch.randn(10, 3)
    labels = torch.randn(10)

    def loss(t):
        return ((net(t)[:, 0] - labels) ** 2).mean()

    attr = P.LayerFeaturePermutation(loss, net[0]).attribute(x, generator=0)
    assert attr.shape == (1, 3)
    assert attr[0, 1] == 0 and attr[0, 0] != 0 and attr[0, 2] != 0
    with pytest.raises(ValueError, match="target"):
        P.LayerFeatureAblation(loss, net[0]).attribute(x)
