"""The incremental evaluator behind exact incremental occlusion (#19, not yet wired into
Occlusion): occluded copies evaluated on changed patches equal the full evaluation."""

import pytest
import torch
from torch import nn

from perspicio.core._incremental import Patch, Plan, PlanError


def _windows(size, window, stride, every=1):
    starts = list(range(0, size - window + 1, stride))
    rows = torch.tensor([r for r in starts for _ in starts])[::every]
    cols = torch.tensor([c for _ in starts for c in starts])[::every]
    return rows, cols


def _check(model, size=32, window=7, stride=5, channels=3, every=1, atol=1e-5):
    torch.manual_seed(0)
    model = model.eval()
    x = torch.randn(1, channels, size, size)
    rows, cols = _windows(size, window, stride, every)
    fill = torch.randn(rows.numel(), channels, window, window)
    with torch.no_grad():
        out = Plan(model, x).evaluate(Patch(rows, cols, fill))
        full = x.repeat(rows.numel(), 1, 1, 1)
        for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
            full[i, :, r : r + window, c : c + window] = fill[i]
        ref = model(full)
    scale = ref.abs().max().clamp(min=1)
    assert torch.allclose(out, ref, atol=atol * scale), (out - ref).abs().max()


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2)

    def forward(self, x):
        return torch.relu(self.a(x)) + self.b(x) * 0.5


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 3, 1)
        self.b = nn.Conv2d(4, 5, 5, padding=2)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], 1)


@pytest.mark.parametrize(
    "body",
    [
        nn.Conv2d(3, 4, 3, padding=1),
        nn.Conv2d(3, 4, 5, stride=2, padding=2),
        nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=3, dilation=3), nn.BatchNorm2d(4)),
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.MaxPool2d(3, stride=2, padding=1)),
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU(), nn.AvgPool2d(2)),
        nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Residual()),
        nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Concat()),
    ],
    ids=["conv", "strided", "dilated+bn", "gelu+maxpool", "silu+avgpool", "residual", "cat"],
)
def test_each_layer_type_equals_the_full_evaluation(body):
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in body.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.LazyLinear(3))
    model = nn.Sequential(body, head)
    model(torch.zeros(1, 3, 32, 32))  # materialise the lazy layer
    _check(model)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["resnet18", "resnet50", "vgg11", "mobilenet_v3_small", "densenet121"]
)
def test_torchvision_models_equal_the_full_evaluation(name):
    tvm = pytest.importorskip("torchvision.models")
    torch.set_num_threads(1)
    _check(getattr(tvm, name)(weights=None), size=64, window=15, stride=8, every=3, atol=1e-4)


def test_an_unsupported_operation_is_evaluated_in_full_and_still_exact():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            y = torch.roll(y, 1, dims=3)  # not a local operation: everything after is full
            return y.mean((2, 3))

    _check(Odd())


def test_models_it_cannot_trace_are_refused_with_the_reason():
    class Branchy(nn.Module):
        def forward(self, x):
            return x.sum() if x.sum() > 0 else x.mean()  # data-dependent control flow

    with pytest.raises(PlanError, match="torch.fx"):
        Plan(Branchy(), torch.randn(1, 3, 8, 8))
    with pytest.raises(PlanError, match="one image"):
        Plan(nn.Conv2d(3, 3, 1), torch.randn(2, 3, 8, 8))
