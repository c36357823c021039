"""Exact incremental evaluation, behind Occlusion and FeatureAblation: occluded copies
evaluated on changed patches equal the full evaluation, and both evaluations share one
ablation loop that validates its arguments once."""

import pytest
import torch
from torch import nn

from perspicio.core._engine.incremental import Patch, Plan, PlanError


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


def _residual_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Sequential(Residual_8()),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()


class Residual_8(nn.Module):  # noqa: N801
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x)) + x


@pytest.mark.parametrize(
    "window, strides, baselines, target",
    [
        ((3, 5, 5), (3, 3, 3), 0.0, 2),
        ((1, 6, 4), (1, 4, 2), "tensor", [0, 3]),  # per-channel windows, per-example targets
    ],
)
def test_occlusion_incremental_equals_batched(window, strides, baselines, target):
    import perspicio.core as P

    from ...conftest import assert_unchanged, model_fingerprint

    model = _residual_cnn()
    x = torch.randn(2, 3, 20, 20)
    if baselines == "tensor":
        baselines = torch.rand(1, 3, 20, 20)
    before = model_fingerprint(model)
    occ = P.Occlusion(model)
    kwargs = dict(strides=strides, baselines=baselines, target=target)
    fast = occ.attribute(x, window, incremental=True, perturbations_per_eval=7, **kwargs)
    assert occ.incremental_reason is None
    slow = occ.attribute(x, window, incremental=False, **kwargs)
    assert occ.incremental_reason == "incremental=False"
    assert torch.allclose(fast, slow, atol=1e-5)
    assert_unchanged(model, before)


def test_occlusion_says_why_it_is_not_incremental():
    import perspicio.core as P

    model, x = _residual_cnn(), torch.randn(1, 3, 20, 20)
    occ = P.Occlusion(model)
    occ.attribute(x, (3, 5, 5), target=0)  # a small image: batching wins
    assert "the image is small" in occ.incremental_reason
    big = torch.randn(1, 3, 40, 40)
    occ.attribute(big, (3, 5, 5), strides=(3, 5, 5), target=0)  # a tiny model
    assert "the model is small" in occ.incremental_reason
    model.train()
    with pytest.raises(ValueError, match="training mode"):
        occ.attribute(x, (3, 5, 5), target=0, incremental=True)
    model.eval()
    with pytest.raises(ValueError, match="not a torch.nn.Module"):
        P.Occlusion(lambda t: model(t)).attribute(x, (3, 5, 5), target=0, incremental=True)
    with pytest.raises(ValueError, match="one floating-point input"):
        P.Occlusion(model).attribute((x, x), ((3, 5, 5), (3, 5, 5)), target=0, incremental=True)
    with pytest.raises(ValueError, match="`incremental`"):
        occ.attribute(x, (3, 5, 5), target=0, incremental="yes")


@pytest.mark.parametrize("per_example", [False, True])
def test_feature_ablation_over_superpixels_incremental_equals_batched(per_example):
    import perspicio.core as P

    model = _residual_cnn()
    x = torch.randn(2, 3, 20, 20)
    blocks = (torch.arange(20)[:, None] // 5 * 4 + torch.arange(20)[None, :] // 5).view(
        1, 1, 20, 20
    )
    mask = torch.cat([blocks, blocks.flip(-1)]) if per_example else blocks
    fa = P.FeatureAblation(model)
    fast = fa.attribute(x, target=1, feature_mask=mask, incremental=True, perturbations_per_eval=5)
    assert fa.incremental_reason is None
    slow = fa.attribute(x, target=1, feature_mask=mask, incremental=False)
    assert torch.allclose(fast, slow, atol=1e-5)


@pytest.mark.slow
def test_auto_chooses_incremental_for_a_large_cnn_and_not_for_a_large_window():
    tvm = pytest.importorskip("torchvision.models")
    import perspicio.core as P

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = tvm.vgg11(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    occ = P.Occlusion(model)
    auto = occ.attribute(x, (3, 7, 7), strides=(3, 6, 6), target=1)
    assert occ.incremental_reason is None
    batched = occ.attribute(x, (3, 7, 7), strides=(3, 6, 6), target=1, incremental=False)
    assert torch.allclose(auto, batched, atol=1e-4 * batched.abs().max())
    occ.attribute(x, (3, 48, 48), strides=(3, 16, 16), target=1)
    assert "skip too little" in occ.incremental_reason


@pytest.mark.parametrize("per_eval", [-1, 0, 1.5, True, "all"])
@pytest.mark.parametrize("method", ["occlusion", "feature_ablation"])
def test_incremental_and_batched_refuse_the_same_arguments_the_same_way(per_eval, method):
    from perspicio.core import FeatureAblation, Occlusion
    from perspicio.core.errors import AttributionValueError

    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    ).eval()
    x = torch.randn(1, 3, 32, 32)
    if method == "occlusion":
        run = lambda inc: Occlusion(cnn).attribute(  # noqa: E731
            x,
            sliding_window_shapes=(3, 8, 8),
            strides=(3, 4, 4),
            target=0,
            perturbations_per_eval=per_eval,
            incremental=inc,
        )
    else:
        mask = (torch.arange(32 * 32).view(1, 1, 32, 32) // 128) % 8
        run = lambda inc: FeatureAblation(cnn).attribute(  # noqa: E731
            x, feature_mask=mask, target=0, perturbations_per_eval=per_eval, incremental=inc
        )
    messages = []
    for incremental in (True, False):
        with pytest.raises(AttributionValueError, match="perturbations_per_eval") as info:
            run(incremental)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
