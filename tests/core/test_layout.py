"""Images go to the model channels-last when it accepts them, with the same numbers."""

import pytest
import torch
from torch import nn

import perspicio.core as core
from perspicio.core import FeatureAblation, IntegratedGradients, Saliency

from ..conftest import make_cnn


class ViewNet(nn.Module):
    """A CNN written with ``.view``, which rejects channels-last activations."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).view(x.shape[0], -1))


def run_all(model, x):
    return (
        Saliency(model).attribute(x, target=1),
        IntegratedGradients(model).attribute(x, target=1, n_steps=8, internal_batch_size=5),
        FeatureAblation(model).attribute(
            x, target=1, feature_mask=torch.arange(64).view(1, 1, 8, 8) // 8
        ),
    )


@pytest.mark.parametrize("model", [make_cnn(), ViewNet().eval()])
def test_same_numbers_in_both_layouts(model):
    x = torch.randn(5, 3, 8, 8)  # at least CHANNELS_LAST_MIN_ROWS rows
    fast = run_all(model, x)
    core.options.channels_last = False
    try:
        plain = run_all(model, x)
    finally:
        core.options.channels_last = True
    for a, b in zip(fast, plain):
        assert a.is_contiguous() and torch.allclose(a, b, atol=1e-5)


def test_channels_last_reaches_the_model_only_for_large_forward_only_batches():
    """Perturbation methods (forward passes) use channels-last for 4 rows or more; gradient
    methods keep the default layout unless `channels_last_gradients` is switched on."""
    seen = []
    model = make_cnn()
    model[0].register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    mask = torch.arange(64).view(1, 1, 8, 8) // 16
    FeatureAblation(model).attribute(
        torch.randn(1, 3, 8, 8), target=0, feature_mask=mask, perturbations_per_eval=1
    )
    assert not any(seen)
    seen.clear()
    FeatureAblation(model).attribute(
        torch.randn(6, 3, 8, 8), target=0, feature_mask=mask, perturbations_per_eval=2
    )
    assert seen and all(seen)
    seen.clear()
    Saliency(model).attribute(torch.randn(6, 3, 8, 8), target=0)
    assert seen == [False]
    core.options.channels_last_gradients = True
    try:
        seen.clear()
        Saliency(model).attribute(torch.randn(6, 3, 8, 8), target=0)
        assert seen == [True]
    finally:
        core.options.channels_last_gradients = False


def test_gradients_are_as_accurate_as_captums():
    """IntegratedGradients on a torchvision ResNet in float32 is no further from a float64
    reference than Captum's."""
    torchvision = pytest.importorskip("torchvision")
    C = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=4).eval()
    x = torch.rand(4, 3, 64, 64)
    reference = IntegratedGradients(net.double()).attribute(x.double(), target=1, n_steps=8)
    net.float()

    def error(a):
        return float((a.double() - reference).abs().sum() / reference.abs().sum())

    ours = error(IntegratedGradients(net).attribute(x, target=1, n_steps=8))
    theirs = error(C.IntegratedGradients(net).attribute(x, target=1, n_steps=8))
    assert ours <= theirs * 1.05, (ours, theirs)


def test_view_model_rejects_channels_last_so_fallback_is_exercised():
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match="view"):
        ViewNet()(x)


def test_pooling_channels_last_keeps_the_output_and_removes_its_hooks():
    from perspicio.core._engine.batching import pooling_channels_last

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(6 * 5 * 5, 3),
    )
    x = torch.randn(16, 1, 28, 28)
    with torch.no_grad():
        expected = net(x)
        seen = []
        net[3].register_forward_pre_hook(
            lambda m, a: seen.append(a[0].is_contiguous(memory_format=torch.channels_last))
        )
        with pooling_channels_last(net):
            got = net(x)
        with pytest.raises(RuntimeError), pooling_channels_last(net):
            net(torch.randn(2, 1, 2, 2))  # too small to pool: the hooks still go
    torch.testing.assert_close(got, expected)
    assert seen == [True]  # the conv after the pool ran channels-last
    assert all(not m._forward_pre_hooks for m in (net[2], net[4]))
