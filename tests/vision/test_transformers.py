"""Vision transformers and other backbones in vision.explain: torchvision's ViT and Swin,
Hugging Face's ViT (a ModelOutput with logits), each with a CAM, a gradient and a
perturbation method; the CAM layer and the token grid found automatically. Tiny configs of
the same classes (random weights, built offline) keep the tests fast."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from perspicio import core, vision
from perspicio.vision.cam import TokenGrid, find_cam_layer

torchvision = pytest.importorskip("torchvision")
torch.set_num_threads(1)


def tv_vit():
    torch.manual_seed(0)
    vit = torchvision.models.VisionTransformer(
        image_size=64,
        patch_size=16,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        mlp_dim=64,
        num_classes=5,
    )
    nn.init.normal_(vit.heads.head.weight, std=0.5)  # torchvision starts it at zero
    return vit.eval()


def tv_swin():
    torch.manual_seed(0)
    return torchvision.models.SwinTransformer(
        patch_size=[4, 4],
        embed_dim=16,
        depths=[1, 1],
        num_heads=[2, 2],
        window_size=[4, 4],
        num_classes=5,
    ).eval()


def hf_vit():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=64,
        patch_size=16,
        num_hidden_layers=2,
        hidden_size=32,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=5,
    )
    return transformers.ViTForImageClassification(config).eval()


def test_the_cam_layer_of_each_backbone():
    vit = tv_vit()
    layer, grid = find_cam_layer(vit, (64, 64))
    assert layer is vit.encoder.layers[-1].ln_1
    assert (grid.height, grid.width, grid.prefix) == (4, 4, 1)
    hf = hf_vit()
    layer, grid = find_cam_layer(hf, (64, 64))
    name = next(n for n, m in hf.named_modules() if m is layer)  # the path differs by version
    assert name.endswith("1.layernorm_before")  # the last of the two blocks
    assert (grid.height, grid.width, grid.prefix) == (4, 4, 1)
    swin = tv_swin()
    layer, grid = find_cam_layer(swin, (64, 64))
    assert layer is swin.permute and grid is None  # channel-first maps already
    resnet = torchvision.models.resnet18(num_classes=5).eval()
    assert find_cam_layer(resnet, (64, 64)) == (resnet.layer4, None)


@pytest.mark.parametrize("build", [tv_vit, tv_swin, hf_vit], ids=["tv-vit", "tv-swin", "hf-vit"])
@pytest.mark.parametrize(
    "method, options",
    [
        ("gradcam", {"relu_attributions": False}),
        ("integrated_gradients", {"n_steps": 4}),
        ("feature_ablation", {}),
        ("eigencam", {}),
        ("lrp", {}),  # AttnLRP: the attention-aware rules
    ],
)
def test_every_backbone_explains_with_a_cam_a_gradient_and_a_perturbation(build, method, options):
    model = build()
    img = torch.rand(3, 64, 64)
    exp = vision.explain(model, img, method=method, n_segments=16, **options)
    channels = 1 if method in ("gradcam", "eigencam") else 3
    assert exp.attributions.shape == (1, channels, 64, 64)
    assert torch.isfinite(exp.attributions).all() and exp.attributions.abs().sum() > 0
    assert not model.training
    with torch.no_grad():
        out = model(img.unsqueeze(0))
    logits = out if isinstance(out, torch.Tensor) else out.logits
    assert exp.predicted == int(logits.argmax())


def test_the_front_end_grad_cam_is_the_core_one_on_the_token_grid():
    vit = tv_vit()
    img = torch.rand(3, 64, 64)
    exp = vision.explain(vit, img, method="gradcam", target=2)
    layer = vit.encoder.layers[-1].ln_1
    cam = core.LayerGradCam(vit, layer).attribute(
        img.unsqueeze(0), target=2, relu_attributions=True, reshape_transform=TokenGrid(4, 4)
    )
    expected = core.LayerAttribution.interpolate(cam, (64, 64), "bilinear")
    torch.testing.assert_close(exp.attributions, expected)


def test_a_given_reshape_transform_wins_and_an_output_without_logits_is_named():
    vit = tv_vit()
    img = torch.rand(3, 64, 64)
    calls = []

    def reshape(tokens):
        calls.append(tokens.shape)
        return TokenGrid(4, 4)(tokens)

    vision.explain(vit, img, method="gradcam", reshape_transform=reshape)
    assert calls  # the user's transform, not the found one

    class Boxes(nn.Module):
        def forward(self, x):
            return {"boxes": torch.zeros(1, 4)}

    boxes = Boxes()
    boxes.conv = nn.Conv2d(3, 1, 1)  # a parameter and channels to check
    with pytest.raises(TypeError, match="needs logits .* got dict|returned dict"):
        vision.explain(boxes, img, method="saliency")


@pytest.mark.parametrize(
    "name, prefix",
    [("vit_tiny_patch16_224", 1), ("deit_tiny_distilled_patch16_224", 2), ("convnext_atto", None)],
)
def test_timm_models_find_their_layer_and_explain(name, prefix):
    """timm's ViT (class token), DeiT (class and distillation tokens) and a ConvNeXt."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    options = {} if prefix is None else {"img_size": 64}
    model = timm.create_model(name, pretrained=False, num_classes=5, **options).eval()
    layer, grid = find_cam_layer(model, (64, 64))
    if prefix is None:
        assert grid is None
    else:
        assert layer is model.blocks[-1].norm1
        assert (grid.height, grid.width, grid.prefix) == (4, 4, prefix)
    img = torch.rand(3, 64, 64)
    for method, options in [
        ("gradcam", {"relu_attributions": False}),
        ("integrated_gradients", {"n_steps": 4}),
        ("feature_ablation", {}),
        ("lrp", {}),
    ]:
        exp = vision.explain(model, img, method=method, n_segments=8, **options)
        assert torch.isfinite(exp.attributions).all() and exp.attributions.abs().sum() > 0
