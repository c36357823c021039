"""Users' callbacks in every form Captum accepts, and the dtype rule on devices without float64."""

import pytest
import torch
from torch import nn

import perspicio.core as P
from perspicio.core._engine import precision as _precision
from perspicio.core._engine.callbacks import call_leading, positional_arity
from perspicio.core.metrics import infidelity, sensitivity_max


def _quadratic():
    """f(x) = sum(x^2): its gradient 2x changes under a shift, unlike a linear model's."""

    class Square(nn.Module):
        def forward(self, x):
            return (x * x).sum(1, keepdim=True)

    return Square()


@pytest.mark.parametrize(
    "perturb",
    [
        lambda inputs: inputs + 0.1,  # Captum's one-argument form
        lambda inputs, perturb_radius: inputs + perturb_radius,
        lambda inputs, perturb_radius=0.5: inputs + perturb_radius,
    ],
)
def test_sensitivity_max_takes_a_one_or_two_argument_perturb_func(perturb):
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])
    sens = sensitivity_max(
        P.Saliency(_quadratic()).attribute,
        x,
        perturb_func=perturb,
        perturb_radius=0.1,
        target=0,
        abs=False,
        n_perturb_samples=2,
    )
    # gradient 2x moves by 2 * 0.1 per feature: relative change = |0.2 * 1| / |2x|
    expected = 0.2 * 2**0.5 / (2 * x.norm(dim=1))
    assert torch.allclose(sens, expected, atol=1e-6)


def test_sensitivity_max_names_a_perturb_func_it_cannot_call():
    x = torch.randn(2, 3)
    with pytest.raises(TypeError, match="`perturb_func` must take 1 to 2 arguments"):
        sensitivity_max(P.Saliency(nn.Linear(3, 1)).attribute, x, perturb_func=lambda: x)
    with pytest.raises(TypeError, match="needs 3"):
        sensitivity_max(P.Saliency(nn.Linear(3, 1)).attribute, x, perturb_func=lambda a, b, c: a)


def test_infidelity_passes_baselines_to_a_two_argument_perturb_func():
    torch.manual_seed(0)
    net = nn.Linear(4, 1)
    x, base = torch.randn(3, 4), torch.randn(3, 4)
    seen = []

    def perturb(inputs, baselines):
        seen.append(baselines.shape)
        return inputs - baselines, baselines

    grad = P.Saliency(net).attribute(x, abs=False)
    # the perturbation x - b times the gradient of a linear model is the drop f(x) - f(b)
    assert infidelity(net, perturb, x, grad, baselines=base, n_perturb_samples=2).max() < 1e-10
    assert seen == [torch.Size([6, 4])]


@pytest.mark.parametrize(
    "baselines",
    [
        lambda: torch.zeros(2, 4),
        lambda inputs: torch.zeros(2, *inputs.shape[1:]),
        lambda inputs, *rest: torch.zeros(2, *inputs.shape[1:]),
    ],
)
def test_baselines_may_be_a_function_of_nothing_or_of_the_inputs(baselines):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    x = torch.randn(3, 4)
    from_tensor = P.DeepLiftShap(net).attribute(x, torch.zeros(2, 4), target=1)
    assert torch.allclose(P.DeepLiftShap(net).attribute(x, baselines, target=1), from_tensor)


def test_a_baselines_function_that_needs_two_arguments_is_named():
    with pytest.raises(TypeError, match="`baselines` must take 0 to 1 arguments"):
        P.GradientShap(nn.Linear(4, 1)).attribute(torch.randn(2, 4), lambda a, b: a)


def test_call_leading_gives_each_function_what_it_takes():
    assert positional_arity(lambda x, y=1, *a, k=2: x) == (1, float("inf"))
    assert positional_arity(print)[1] == float("inf")  # no readable signature: all arguments
    assert call_leading(lambda: 7, 1, 2, name="f") == 7
    assert call_leading(lambda a, b, c: a + b + c, 1, 2, 3, name="f") == 6
    assert call_leading(lambda *a: len(a), 1, 2, 3, name="f") == 3


# --- the dtype rule: no float64 on a device without it --------------------------------------


class _NoFloat64(torch.utils._python_dispatch.TorchDispatchMode):
    """Fails any operation that makes a float64 tensor, as Apple's MPS does."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float64:
                raise RuntimeError(f"{func} made a float64 tensor")
        return out


@pytest.fixture
def cpu_without_float64(monkeypatch):
    monkeypatch.setattr(_precision, "NO_FLOAT64", {"cpu"})


def _captum_form_lime(net):
    def similarity(original_inp, perturbed_inp, interpretable_inp, **kwargs):
        return 1.0

    def to_interp(sample, original_inp, **kwargs):
        return (sample != 0).float()

    def perturb(original_inp, **kwargs):
        return original_inp * torch.randint(0, 2, original_inp.shape).float()

    return P.LimeBase(net, None, similarity, perturb, False, None, to_interp)


@pytest.mark.parametrize(
    "run",
    [
        lambda net, x: P.Lime(net).attribute(x, target=0, n_samples=40),
        lambda net, x: P.KernelShap(net).attribute(x, target=0, n_samples=40),
        lambda net, x: P.Lime(net).attribute(x, target=0, n_samples=40, perturbations_per_eval=1),
        lambda net, x: _captum_form_lime(net).attribute(x[:1], target=0, n_samples=40),
    ],
    ids=["lime", "kernel_shap", "lime_one_by_one", "limebase_captum_form"],
)
def test_sampling_surrogates_make_no_float64_where_the_device_has_none(cpu_without_float64, run):
    torch.manual_seed(0)
    net = nn.Linear(4, 1)
    x = torch.randn(2, 4)
    with _NoFloat64():
        attr = run(net, x)
    assert attr.dtype == torch.float32 and torch.isfinite(attr).all()
    # a linear model is recovered exactly, in float32 too
    expected = (x * net.weight.detach())[: attr.shape[0]]
    assert torch.allclose(attr, expected, atol=1e-4)


def test_the_dtype_rule_is_float64_where_the_device_has_it():
    assert _precision.widen(torch.arange(3)).dtype == torch.float64
    assert _precision.wide_dtype("mps") == torch.float32
