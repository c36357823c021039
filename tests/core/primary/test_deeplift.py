"""DeepLift and DeepLiftShap: exactness, per-call rules, agreement with Captum."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from perspicio.core import DeepLift, DeepLiftShap

from ...conftest import make_cnn


def test_linear_model_is_exact():
    torch.manual_seed(0)
    net = nn.Linear(5, 3)
    x, b = torch.randn(4, 5), torch.randn(4, 5)
    assert torch.allclose(
        DeepLift(net).attribute(x, b, target=1), (x - b) * net.weight[1], atol=1e-6
    )


@pytest.mark.parametrize(
    "act",
    [
        nn.ReLU(),
        nn.ELU(),
        nn.LeakyReLU(0.1),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.Softplus(),
        nn.GELU(),
        nn.SiLU(),
    ],
)
def test_summation_to_delta_for_each_nonlinearity(act):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), act, nn.Linear(16, 16), act, nn.Linear(16, 2)).double()
    x, b = torch.randn(5, 6, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64)
    attr, delta = DeepLift(net).attribute(x, b, target=0, return_convergence_delta=True)
    assert delta.abs().max() < 1e-10
    assert torch.allclose(attr.sum(1), net(x)[:, 0] - net(b)[:, 0], atol=1e-10)


@pytest.mark.parametrize("pool", [nn.MaxPool1d(2), nn.MaxPool2d(3, 2, padding=1), nn.MaxPool3d(2)])
def test_summation_to_delta_through_max_pooling(pool):
    torch.manual_seed(0)
    dims = {nn.MaxPool1d: (3, 8), nn.MaxPool2d: (3, 8, 8), nn.MaxPool3d: (3, 4, 4, 4)}[type(pool)]
    net = nn.Sequential(nn.ReLU(), pool, nn.Flatten(), nn.LazyLinear(2)).double()
    x, b = torch.randn(4, *dims, dtype=torch.float64), torch.randn(4, *dims, dtype=torch.float64)
    net(x)
    _, delta = DeepLift(net).attribute(x, b, target=1, return_convergence_delta=True)
    assert delta.abs().max() < 1e-10


def test_softmax_keeps_summation_to_delta():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Softmax(dim=1))
    x, b = torch.randn(6, 5), torch.randn(6, 5)
    _, delta = DeepLift(net).attribute(x, b, target=2, return_convergence_delta=True)
    gap = (net(x)[:, 2] - net(b)[:, 2]).abs()
    assert (delta.abs() <= 1e-4 * gap.clamp(min=1e-3)).all()


class FunctionalNet(nn.Module):
    """relu, sigmoid and max-pooling written as functions inside forward."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 2)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(torch.sigmoid(h).flatten(1))


class ReusedReluNet(nn.Module):
    """One in-place ReLU module called three times, as in torchvision's ResNet blocks."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.l1, self.l2, self.l3 = nn.Linear(5, 8), nn.Linear(8, 8), nn.Linear(8, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.relu(self.l1(x))
        h = self.relu(self.l2(h)) + h
        return self.l3(self.relu(h))


@pytest.mark.parametrize("net", [FunctionalNet(), ReusedReluNet()])
def test_functional_reused_and_inplace_activations(net):
    shape = (3, 3, 8, 8) if isinstance(net, FunctionalNet) else (3, 5)
    x, b = torch.randn(*shape), torch.randn(*shape) * 0.3
    target = 0 if isinstance(net, FunctionalNet) else None
    _, delta = DeepLift(net).attribute(x, b, target=target, return_convergence_delta=True)
    assert delta.abs().max() < 1e-5


def test_equals_a_literal_rescale_computation():
    """A slow re-implementation from the paper on a 1-hidden-layer ReLU net."""
    torch.manual_seed(0)
    l1, l2 = nn.Linear(3, 4).double(), nn.Linear(4, 1).double()
    net = nn.Sequential(l1, nn.ReLU(), l2)
    x, b = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    z, z0 = l1(x), l1(b)
    m_relu = (z.relu() - z0.relu()) / (z - z0)  # Rescale multiplier of each hidden unit
    expected = ((m_relu * l2.weight[0]) @ l1.weight) * (x - b)
    assert torch.allclose(DeepLift(net).attribute(x, b), expected, atol=1e-12)


def test_torchvision_resnet_with_reused_relu():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.rand(2, 3, 64, 64)
    b = torch.zeros_like(x)
    attr, delta = DeepLift(net).attribute(x, b, target=3, return_convergence_delta=True)
    gap = net(x)[:, 3] - net(b)[:, 3]
    assert attr.shape == x.shape
    assert ((attr.flatten(1).sum(1) - gap).abs() <= 1e-3 * gap.abs().clamp(min=1e-2)).all()
    assert delta.abs().max() <= 1e-3 * gap.abs().max().clamp(min=1e-2)


def test_custom_attribution_func_and_local_form(mlp):
    x, b = torch.randn(3, 6), torch.randn(3, 6)
    m = DeepLift(mlp, multiply_by_inputs=False).attribute(x, b, target=0)
    full = DeepLift(mlp).attribute(x, b, target=0)
    assert torch.allclose(m * (x - b), full, atol=1e-6)
    custom = DeepLift(mlp).attribute(
        x, b, target=0, custom_attribution_func=lambda mm, xx, bb: (mm[0] * 2,)
    )
    assert torch.allclose(custom, 2 * m)
    with pytest.raises(ValueError, match="1 to 3 arguments"):
        DeepLift(mlp).attribute(x, b, target=0, custom_attribution_func=lambda a, b, c, d: a)


def test_refuses_torchscript(mlp):
    with pytest.raises(TypeError, match="TorchScript"):
        DeepLift(torch.jit.script(mlp))


def test_deeplift_shap_is_mean_of_deeplift_over_baselines(mlp):
    x, background = torch.randn(4, 6), torch.randn(5, 6)
    attr, delta = DeepLiftShap(mlp).attribute(
        x, background, target=1, return_convergence_delta=True
    )
    expected = torch.stack(
        [DeepLift(mlp).attribute(x, bg.expand(4, 6), target=1) for bg in background]
    ).mean(0)
    assert torch.allclose(attr, expected, atol=1e-6)
    assert delta.shape == (4 * 5,) and delta.abs().max() < 1e-5
    assert torch.allclose(attr.sum(1), mlp(x)[:, 1] - mlp(background)[:, 1].mean(), atol=1e-5)


# --------------------------------------------------------------- agreement with Captum
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_agrees_with_captum(mlp):
    from tests.oracle import captum_attr as C

    x, b = torch.randn(5, 6), torch.randn(5, 6) * 0.2
    assert torch.allclose(
        DeepLift(mlp).attribute(x, b, target=2),
        C.DeepLift(mlp).attribute(x, b, target=2),
        atol=1e-6,
    )
    # a convnet with average pooling (Captum's max-pooling rule does not sum to delta)
    cnn = make_cnn(pool=False)
    xi, bi = torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8) * 0.2
    ours, d_ours = DeepLift(cnn).attribute(xi, bi, target=1, return_convergence_delta=True)
    theirs, d_theirs = C.DeepLift(cnn).attribute(xi, bi, target=1, return_convergence_delta=True)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert torch.allclose(d_ours, d_theirs, atol=1e-5)
    background = torch.randn(4, 6)
    ours = DeepLiftShap(mlp).attribute(x, background, target=0)
    theirs = C.DeepLiftShap(mlp).attribute(x, background, target=0)
    assert torch.allclose(ours, theirs, atol=1e-5)
