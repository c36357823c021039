"""Segmentation models in vision.explain: a class's logits summed over a region (its
predicted pixels, a mask or a box), with an analytic model and torchvision's DeepLabV3 and
FCN (random weights, built offline)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from perspicio import vision

torch.set_num_threads(1)


class RedIsClassOne(nn.Module):
    """Class maps: class 0 scores 0.5 everywhere, class 1 scores the red channel, so class 1
    is predicted where red > 0.5 (a dict with "out", as torchvision's models return)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[1, 0] = 1.0
            self.conv.bias.copy_(torch.tensor([0.5, 0.0]))

    def forward(self, x):
        return {"out": self.conv(x)}


def _image():
    img = torch.full((3, 16, 16), 0.2)
    img[0, 4:10, 6:12] = 0.9  # a red patch: class 1 there
    return img


def test_the_gradient_of_a_class_over_its_predicted_pixels_is_that_region():
    img = _image()
    exp = vision.explain(RedIsClassOne(), img, method="saliency", target=1, abs=False)
    expected = torch.zeros(16, 16)
    expected[4:10, 6:12] = 1.0
    torch.testing.assert_close(exp.attributions[0, 0], expected)
    assert exp.attributions[0, 1:].abs().sum() == 0  # green and blue do not matter
    # the reported score: the class's mean probability over its region
    p = torch.sigmoid(torch.tensor(0.9 - 0.5))
    assert exp.scores[0] == pytest.approx(float(p), rel=1e-5)
    # "predicted": the class most confident over its own region (class 0's mean probability
    # over its pixels is sigmoid(0.3), class 1's sigmoid(0.4))
    assert exp.predicted == 1


def test_a_box_or_a_mask_sets_the_region_for_the_target():
    img = _image()
    box = vision.explain(
        RedIsClassOne(),
        img,
        method="integrated_gradients",
        target=1,
        region=(0, 0, 8, 8),
        n_steps=8,
    )
    expected = torch.zeros(16, 16)
    expected[:8, :8] = img[0, :8, :8]  # linear in red: IG from black is x times the gradient
    torch.testing.assert_close(box.attributions[0, 0], expected, rtol=1e-5, atol=1e-6)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[:8, :8] = True
    same = vision.explain(
        RedIsClassOne(), img, method="integrated_gradients", target=1, region=mask, n_steps=8
    )
    torch.testing.assert_close(same.attributions, box.attributions)


def test_bad_regions_and_absent_classes_are_named():
    img = _image()
    with pytest.raises(ValueError, match="`region` box .* is not inside"):
        vision.explain(RedIsClassOne(), img, method="saliency", target=1, region=(0, 0, 40, 8))
    with pytest.raises(ValueError, match=r"`region` mask has shape \(4, 4\)"):
        vision.explain(
            RedIsClassOne(),
            img,
            method="saliency",
            target=1,
            region=torch.ones(4, 4, dtype=torch.bool),
        )
    with pytest.raises(TypeError, match="`region` must be None"):
        vision.explain(RedIsClassOne(), img, method="saliency", target=1, region="left")
    dark = torch.full((3, 16, 16), 0.2)
    with pytest.raises(ValueError, match="`target` class 1 is predicted at no pixel"):
        vision.explain(RedIsClassOne(), dark, method="saliency", target=1)
    classifier = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(ValueError, match="`region` is for segmentation models .* and detectors"):
        vision.explain(classifier, img, method="saliency", region=(0, 0, 4, 4))


torchvision = pytest.importorskip("torchvision")


@pytest.mark.parametrize("name", ["deeplabv3_mobilenet_v3_large", "fcn_resnet50"])
@pytest.mark.parametrize(
    "method, options",
    [
        ("gradcam", {"relu_attributions": False}),
        ("integrated_gradients", {"n_steps": 4}),
        ("feature_ablation", {}),
    ],
)
def test_torchvision_segmenters_explain_with_a_cam_a_gradient_and_a_perturbation(
    name, method, options
):
    torch.manual_seed(0)
    model = getattr(torchvision.models.segmentation, name)(
        weights=None, weights_backbone=None, num_classes=3, aux_loss=False
    ).eval()
    exp = vision.explain(model, torch.rand(3, 64, 64), method=method, n_segments=8, **options)
    channels = 1 if method == "gradcam" else 3
    assert exp.attributions.shape == (1, channels, 64, 64)
    assert torch.isfinite(exp.attributions).all()
    if method != "feature_ablation":  # a random network may not react to 8 black superpixels
        assert exp.attributions.abs().sum() > 0
    assert not model.training


def test_the_shapes_segmenter_explains_each_class_on_its_own_pixels():
    """Ground truth: the demo segmenter (trained here on generated scenes) explains a
    shape's class over the pixels it predicts as that class; the attribution's peak falls
    on the shape (pointing game, ties shared: a flat map scores the mask's share) and most
    of Integrated Gradients' positive mass too, far above random maps; no map is flat.

    The thresholds sit below the lowest of 3 training seeds x 3 CPU instruction sets,
    measured with ``python -m benchmarks.ground_truth_seeds`` (ATEN_CPU_CAPABILITY
    default / avx2 / avx512; seed 0 is the cached model's):
    """
    from perspicio.vision.demo import shapes_segmenter

    from .ground_truth import segmenter_scores

    # mean over the 20 scenes; each cell: ISA default, avx2, avx512
    #                      seed 0               seed 1               seed 2
    # gradcam              .9500 .9500 .9500    1.0 1.0 1.0          1.0 1.0 1.0
    # feature_ablation     .9682 .9591 .9591    .9854 .9854 .9854    .9806 .9806 .9806
    # IG                   1.0 1.0 1.0          1.0 1.0 1.0          1.0 1.0 1.0
    # IG energy            .8456 .8443 .8443    .7638 .7651 .7651    .8746 .8768 .8768
    # (no map flat; random maps' 95th percentile: 0.20 pointing game, 0.085 energy)
    THRESHOLDS = {
        "gradcam/pointing_game": 0.85,
        "feature_ablation/pointing_game": 0.85,
        "integrated_gradients/pointing_game": 0.9,
        "integrated_gradients/energy_pointing_game": 0.65,
    }

    found = segmenter_scores(shapes_segmenter())
    for key, threshold in THRESHOLDS.items():
        assert found.mean(key) >= threshold, (key, found.scores[key])
        assert found.mean(key) > found.random_p95(key), (key, found.random_p95(key))
    assert not any(found.flat.values()), found.flat


def test_a_hugging_face_segformer_explains_a_class():
    """SegFormer from a config (a ModelOutput whose logits are class maps at 1/4 size)."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.SegformerConfig(
        num_labels=3,
        hidden_sizes=[8, 16, 24, 32],
        depths=[1, 1, 1, 1],
        num_attention_heads=[1, 1, 1, 1],
        decoder_hidden_size=32,
    )
    model = transformers.SegformerForSemanticSegmentation(config).eval()
    img = torch.rand(3, 64, 64)
    for method, options in [
        ("gradcam", {"relu_attributions": False}),
        ("integrated_gradients", {"n_steps": 4}),
        ("feature_ablation", {}),
    ]:
        exp = vision.explain(model, img, method=method, n_segments=8, **options)
        assert torch.isfinite(exp.attributions).all() and exp.attributions.abs().sum() > 0
