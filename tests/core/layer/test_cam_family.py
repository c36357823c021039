"""The CAM family: XGrad-CAM, HiRes-CAM, Layer-CAM, Eigen-CAM and Ablation-CAM.

Analytic checks on a model whose head is a global average pool and a linear layer (where
each map has a closed form), and agreement with pytorch-grad-cam's definitions (its PyPI
package ``grad-cam``, a test oracle of the ``dev`` extra) on torchvision's resnet18 and a
small ViT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from perspicio.core import (
    LayerAblationCam,
    LayerEigenCam,
    LayerGradientXActivation,
    LayerHiResCam,
    LayerLayerCam,
    LayerXGradCam,
)

torch.set_num_threads(1)


class PooledHead(nn.Module):
    """conv -> ReLU -> global average pool -> linear: ``y_k = b_k + sum_c W_kc mean(A_c)``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        return self.head(self.relu(self.conv(x)).mean((2, 3)))


def _acts(model, x):
    with torch.no_grad():
        return model.relu(model.conv(x))


def test_hirescam_of_a_pooled_linear_head_sums_to_the_score_minus_the_bias():
    model = PooledHead().eval()
    x = torch.rand(3, 3, 8, 8)
    cam = LayerHiResCam(model, model.relu).attribute(x, target=2)
    with torch.no_grad():
        score = model(x)[:, 2] - model.head.bias[2]
    torch.testing.assert_close(cam.sum((1, 2, 3)), score)
    gxa = LayerGradientXActivation(model, model.relu).attribute(x, target=2).sum(1, keepdim=True)
    torch.testing.assert_close(cam, gxa)


def test_xgradcam_and_layercam_of_a_pooled_linear_head_have_closed_forms():
    model = PooledHead().eval()
    x = torch.rand(2, 3, 8, 8)
    a = _acts(model, x)
    w = model.head.weight[1].detach().view(1, 6, 1, 1)
    # the gradient of y_1 with respect to A_c,ij is W_1c / (h w) at every position
    g = w / 64
    xgrad = (g * a).sum((2, 3), keepdim=True) / (a.sum((2, 3), keepdim=True) + 1e-7)
    torch.testing.assert_close(
        LayerXGradCam(model, model.relu).attribute(x, target=1), (xgrad * a).sum(1, keepdim=True)
    )
    torch.testing.assert_close(
        LayerLayerCam(model, model.relu).attribute(x, target=1),
        (torch.relu(g) * a).sum(1, keepdim=True),
    )


def test_ablationcam_weights_are_the_relative_score_drops():
    """Zeroing channel c of a pooled linear head lowers y by W_kc mean(A_c), exactly."""
    model = PooledHead().eval()
    x = torch.rand(3, 3, 8, 8)
    a = _acts(model, x)
    with torch.no_grad():
        y = model(x)[:, 3]
    drop = model.head.weight[3].detach() * a.mean((2, 3))  # (N, C)
    expected = ((drop / y[:, None]).view(3, 6, 1, 1) * a).sum(1, keepdim=True)
    for per_eval in (1, 4, "auto"):
        cam = LayerAblationCam(model, model.relu).attribute(
            x, target=3, perturbations_per_eval=per_eval
        )
        torch.testing.assert_close(cam, expected, rtol=1e-4, atol=1e-5)


def test_eigencam_of_rank_one_activations_is_their_spatial_pattern():
    """A layer whose maps are all multiples of one pattern u: the map is u, centred, with
    the sign of the summed activations; the target does not matter."""

    class RankOne(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.loadings = nn.Parameter(torch.tensor([1.0, 2.0, -0.5, 3.0]))
            self.layer = nn.Identity()

        def forward(self, x):
            pattern = x[:, 0]  # (N, H, W)
            maps = self.layer(self.loadings.view(1, 4, 1, 1) * pattern.unsqueeze(1))
            return maps.mean((2, 3))

    model = RankOne()
    x = torch.rand(2, 1, 5, 5)
    cam = LayerEigenCam(model, model.layer).attribute(x, target=0)
    u = x[:, 0] - x[:, 0].mean((1, 2), keepdim=True)
    norm = model.loadings.detach().norm()
    torch.testing.assert_close(cam[:, 0], u * norm, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(LayerEigenCam(model, model.layer).attribute(x, target=3), cam)


def test_a_row_does_not_depend_on_the_rest_of_the_batch():
    model = PooledHead().eval()
    x = torch.rand(4, 3, 8, 8)
    for cls in (LayerXGradCam, LayerHiResCam, LayerLayerCam, LayerEigenCam, LayerAblationCam):
        together = cls(model, model.relu).attribute(x, target=1)
        alone = cls(model, model.relu).attribute(x[2:3], target=1)
        torch.testing.assert_close(together[2:3], alone, rtol=1e-4, atol=1e-6)


def test_layers_without_positions_are_refused_with_the_shape():
    model = PooledHead().eval()
    for cls in (LayerEigenCam, LayerAblationCam):
        with pytest.raises(ValueError, match=r"needs a layer with positions.*\(2, 4\)"):
            cls(model, model.head).attribute(torch.rand(2, 3, 8, 8), target=0)


# ---------------------------------------------------------------------- the oracle
gradcam = pytest.importorskip("pytorch_grad_cam")
torchvision = pytest.importorskip("torchvision")


def _resnet():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=7).eval()
    return model, model.layer4, None, torch.rand(2, 3, 96, 96)


def _vit():
    from perspicio.vision import vit_reshape_transform

    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32,
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=64,
        num_classes=7,
    ).eval()
    nn.init.normal_(model.heads.head.weight, std=0.5)  # torchvision starts it at zero
    return model, model.encoder.layers[-1].ln_1, vit_reshape_transform, torch.rand(2, 3, 32, 32)


def _oracle(cam_class, model, layer, transform, x, targets):
    """pytorch-grad-cam's map before its scaling and resizing (``get_cam_image``)."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam = cam_class(model=model, target_layers=[layer], reshape_transform=transform)
    wanted = [ClassifierOutputTarget(t) for t in targets]
    outputs = cam.activations_and_grads(x)
    if cam.uses_gradients:
        model.zero_grad()
        sum(t(o) for t, o in zip(wanted, outputs)).backward()
    acts = cam.activations_and_grads.activations[0].cpu().numpy()
    grads = cam.activations_and_grads.gradients[0].cpu().numpy() if cam.uses_gradients else None
    raw = cam.get_cam_image(x, layer, wanted, acts, grads, eigen_smooth=False)
    cam.activations_and_grads.release()
    return torch.from_numpy(np.asarray(raw, dtype=np.float32))


@pytest.mark.parametrize("build", [_resnet, _vit], ids=["resnet18", "vit"])
@pytest.mark.parametrize(
    "ours, theirs",
    [
        (LayerXGradCam, "XGradCAM"),
        (LayerHiResCam, "HiResCAM"),
        (LayerLayerCam, "LayerCAM"),
        (LayerEigenCam, "EigenCAM"),
        (LayerAblationCam, "AblationCAM"),
    ],
)
def test_agrees_with_pytorch_grad_cam(build, ours, theirs):
    model, layer, transform, x = build()
    if theirs == "AblationCAM" and transform is not None:
        pytest.skip("pytorch-grad-cam ablates token channels to min - 1e7, not to 0")
    targets = [3, 5]
    expected = _oracle(getattr(gradcam, theirs), model, layer, transform, x, targets)
    kwargs = {"reshape_transform": transform} if transform is not None else {}
    got = ours(model, layer).attribute(x, target=targets, **kwargs)[:, 0].detach()
    if ours is LayerEigenCam:  # a singular vector's sign is arbitrary: compare up to it
        sign = torch.sign((got * expected).sum((1, 2), keepdim=True))
        expected = expected * sign
    scale = expected.abs().amax()
    torch.testing.assert_close(got / scale, expected / scale, rtol=1e-4, atol=1e-4)


class SkipAround(nn.Module):
    """A skip connection around the ablated layer: the batch cannot grow at the layer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        return self.head((self.block(h) + h).mean((2, 3)))


def test_ablationcam_equals_layer_ablation_with_or_without_growing_the_batch():
    """The fast path (the batch grows at the layer) and the fallback (a skip connection
    around the layer needs the examples repeated) both equal the channel drops that
    LayerFeatureAblation measures."""
    from perspicio.core import LayerFeatureAblation

    x = torch.rand(3, 3, 8, 8)
    for model, layer in ((PooledHead().eval(), "relu"), (SkipAround().eval(), "block")):
        layer = getattr(model, layer)
        drops = LayerFeatureAblation(model, layer).attribute(
            x, layer_baselines=0.0, target=2, layer_mask=torch.arange(6).view(1, 6, 1, 1)
        )[:, :, 0, 0]
        with torch.no_grad():
            y = model(x)[:, 2:3]
            a = layer(
                model.relu(model.conv(x))
                if layer is getattr(model, "relu", None)
                else torch.relu(model.stem(x))
            )
        expected = ((drops / y).view(3, 6, 1, 1) * a).sum(1, keepdim=True)
        for per_eval in (1, 5):
            got = LayerAblationCam(model, layer).attribute(
                x, target=2, perturbations_per_eval=per_eval
            )
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        assert "forward" not in layer.__dict__  # the layer computes again


def test_ablationcam_leaves_the_layer_as_found_when_the_model_raises_and_keeps_hooks():
    model = PooledHead().eval()
    seen = []
    model.relu.register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    LayerAblationCam(model, model.relu).attribute(
        torch.rand(2, 3, 8, 8), target=1, perturbations_per_eval=3
    )
    assert 6 in seen  # the user's hook saw the grown batch: 3 channels x 2 examples
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] > 2:  # after the layer's value and the scores are read
            raise RuntimeError("inside the model")
        return model(x)

    with pytest.raises(RuntimeError, match="inside the model"):
        LayerAblationCam(flaky, model.relu).attribute(torch.rand(2, 3, 8, 8), target=1)
    assert "forward" not in model.relu.__dict__
    out = model.relu(torch.tensor([-1.0, 2.0]))
    assert out.tolist() == [0.0, 2.0]


def test_ablationcam_of_a_layers_input_ablates_what_the_layer_receives():
    model = PooledHead().eval()
    x = torch.rand(2, 3, 8, 8)
    cam = LayerAblationCam(model, model.relu).attribute(x, target=0, attribute_to_layer_input=True)
    with torch.no_grad():
        pre = model.conv(x)  # the ReLU's input
        y = model(x)[:, 0:1]
        w = model.head.weight[0]
        # zeroing input channel c zeroes relu(pre_c): the drop is W_0c mean(relu(pre_c))
        drop = w * torch.relu(pre).mean((2, 3))
    expected = ((drop / y).view(2, 6, 1, 1) * pre).sum(1, keepdim=True)
    torch.testing.assert_close(cam, expected, rtol=1e-4, atol=1e-5)
