"""The vision front end: real models and photos, ground-truth localisation, inputs, pictures."""

import json

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("torchvision")
pytest.importorskip("skimage")

from perspicio import vision  # noqa: E402
from perspicio.core.metrics import chance_level, pointing_game  # noqa: E402
from perspicio.vision.demo import shapes_dataset, shapes_model  # noqa: E402
from perspicio.vision.visualize import figure_to_array  # noqa: E402

from ..conftest import make_cnn, model_fingerprint  # noqa: E402
from .ground_truth import classifier_scores, random_percentile  # noqa: E402


@pytest.fixture(scope="module")
def shapes():
    net = shapes_model()
    x, y, masks = shapes_dataset(100, seed=123)
    return net, x, y, masks


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, kwargs",
    [
        ("integrated_gradients", {"n_steps": 32}),
        ("gradcam", {}),
        ("occlusion", {"sliding_window_shapes": (3, 3, 3), "strides": (3, 1, 1)}),
        ("gradcam_plus_plus", {}),
    ],
)
def test_pointing_game_on_shapes(shapes, method, kwargs):
    """The demo classifier's maps peak on the shape (pointing game, ties shared: a flat map
    scores the mask's share), far above random maps; no map is flat. Measured on the cached
    model (torch's own AVX-512 kernels): Integrated Gradients 0.98, Grad-CAM 0.99,
    occlusion 1.0, Grad-CAM++ 0.98, no flat map; random maps' 95th percentile 0.15."""
    net, x, y, masks = shapes
    assert (net(x).argmax(1) == y).float().mean() > 0.9
    found = classifier_scores(net, x, y, masks, method, **kwargs)
    key = f"{method}/pointing_game"
    assert found.mean(key) >= 0.9, found.scores[key]
    assert found.mean(key) > found.random_p95(key), found.random_p95(key)
    assert found.flat[method] == 0


def test_random_attribution_fails_the_pointing_game(shapes):
    _, x, _, masks = shapes
    random = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)).sum(1)
    assert pointing_game(random, masks).mean() < 0.3
    # 100 random maps per scene: their mean score is the masks' mean share, the chance level
    p95 = random_percentile(pointing_game, masks[:, None])
    assert chance_level("pointing_game", masks).mean() < p95 < 0.3


@pytest.fixture(scope="module")
def lite0():
    pytest.importorskip("efficientnet_lite_pytorch")
    from perspicio.vision.demo import efficientnet_lite0

    return efficientnet_lite0()


# coarse boxes (y0, y1, x0, x1) on the photos resized to 224x224: the cat's face, the cup
BOXES = {"chelsea": (70, 210, 40, 190), "coffee": (5, 150, 60, 180)}


def box_ratio(exp, box):
    y0, y1, x0, x1 = box
    positive = exp.attributions[0].sum(0).clamp(min=0)
    share = (y1 - y0) * (x1 - x0) / positive.numel()
    return float(positive[y0:y1, x0:x1].sum() / positive.sum()) / share


@pytest.mark.slow
def test_efficientnet_recognises_the_photos_and_looks_at_the_object(lite0):
    from perspicio.vision.demo import sample_image

    cat = vision.explain(
        lite0.model,
        sample_image("chelsea"),
        method="gradcam",
        transform=lite0.transform,
        labels=lite0.labels,
    )
    assert cat.predicted_label in ("tabby", "tiger cat", "Egyptian cat")
    coffee = vision.explain(
        lite0.model,
        sample_image("coffee"),
        method="gradcam",
        transform=lite0.transform,
        labels=lite0.labels,
    )
    assert coffee.predicted_label in ("espresso", "cup", "coffee mug")
    assert box_ratio(cat, BOXES["chelsea"]) >= 1.3
    assert box_ratio(coffee, BOXES["coffee"]) >= 1.3
    ig_coffee = vision.explain(lite0.model, sample_image("coffee"), transform=lite0.transform)
    assert box_ratio(ig_coffee, BOXES["coffee"]) >= 1.3
    # the cat fills the frame: Integrated Gradients credits the fur everywhere, so its
    # mass is only somewhat concentrated on the face (1.12 measured), above random (1.0)
    ig_cat = vision.explain(lite0.model, sample_image("chelsea"), transform=lite0.transform)
    assert box_ratio(ig_cat, BOXES["chelsea"]) > 1.05


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "classes", "corner"),
    [
        ("chelsea", ("tabby", "tiger cat", "Egyptian cat"), (60, 20)),
        ("coffee", ("espresso", "cup", "coffee mug"), (20, 70)),
    ],
)
def test_attributions_find_the_object_on_a_neutral_canvas(lite0, name, classes, corner):
    """Where the object does not fill the frame, the box around it is a real question: the
    photo is pasted at 140x140 onto a mid-grey 224x224 canvas (39% of the area)."""
    from PIL import Image

    from perspicio.vision.demo import sample_image

    top, left = corner
    canvas = Image.new("RGB", (224, 224), (128, 128, 128))
    canvas.paste(sample_image(name).resize((140, 140)), (left, top))
    box = (top, top + 140, left, left + 140)
    for method in ("integrated_gradients", "gradcam"):
        exp = vision.explain(
            lite0.model, canvas, method=method, transform=lite0.transform, labels=lite0.labels
        )
        assert exp.predicted_label in classes
        assert box_ratio(exp, box) >= 1.3, method


ARCHITECTURES = {
    "resnet18": lambda m: m.layer4,
    "vgg11": lambda m: m.features,
    "densenet121": lambda m: m.features,
    "mobilenet_v2": lambda m: m.features,
    "efficientnet_b0": lambda m: m.features,
    "convnext_tiny": lambda m: m.features,
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_find_last_conv_on_torchvision_architectures(name):
    model = vision.load_model(name, num_classes=10)
    model.train()
    assert vision.find_last_conv(model, (64, 64)) is ARCHITECTURES[name](model)
    assert model.training  # left as found


def test_every_image_form_gives_the_same_attribution(shapes, tmp_path):
    from PIL import Image

    net = shapes[0]
    pixels = (shapes[1][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    path = tmp_path / "img.png"
    Image.fromarray(pixels).save(path)
    as_float = pixels.astype(np.float32) / 255
    forms = [
        Image.fromarray(pixels),
        pixels,
        as_float,
        torch.from_numpy(as_float).permute(2, 0, 1),
        torch.from_numpy(as_float).permute(2, 0, 1).unsqueeze(0),
        str(path),
    ]
    results = [vision.explain(net, f, method="saliency", target=1).attributions for f in forms]
    for r in results[1:]:
        assert torch.allclose(r, results[0], atol=1e-6)


def test_bad_images_raise_clear_errors(shapes):
    net = shapes[0]
    with pytest.raises(ValueError, match="grey image"):
        vision.explain(net, torch.rand(1, 32, 32))
    with pytest.raises(ValueError, match="has 4 channel.*first convolution takes 3"):
        vision.explain(net, torch.rand(4, 32, 32))
    with pytest.raises(ValueError, match="does not broadcast"):
        vision.explain(
            net,
            torch.rand(3, 32, 32),
            method="feature_ablation",
            feature_mask=torch.zeros(1, 1, 16, 16, dtype=torch.long),
        )
    with pytest.raises(ValueError, match="not a class name"):
        vision.explain(net, torch.rand(3, 32, 32), target="giraffe", labels=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="does not exist"):
        vision.explain(net, "/no/such/image.png")
    with pytest.raises(TypeError, match="PIL image"):
        vision.explain(net, [[0.0]])


def test_explain_targets_methods_and_model_state(shapes):
    net = shapes[0]
    net.train()
    before = model_fingerprint(net)
    img = shapes[1][3]
    top = vision.explain(net, img, target="topk:3", method="deeplift")
    assert top.attributions.shape == (3, 3, 32, 32) and len(top.targets) == 3
    assert top.scores == sorted(top.scores, reverse=True)
    assert top.convergence_delta is not None and top.convergence_delta.abs().max() < 1e-4
    for method in (
        "kernel_shap",
        "lime",
        "shapley_value_sampling",
        "guided_gradcam",
        "score_cam",
        "noise_tunnel:integrated_gradients",
        "gradient_shap",
    ):
        exp = vision.explain(net, img, method=method, n_segments=12, seed=0)
        assert exp.attributions.shape[-2:] == (32, 32), method
        assert torch.isfinite(exp.attributions).all(), method
    assert net.training
    net.eval()
    assert all(
        torch.equal(a, b) for a, b in zip(net.state_dict().values(), before["state"].values())
    )


def test_baselines_and_superpixels():
    from torchvision import transforms

    x = torch.rand(1, 3, 16, 16)
    norm = transforms.Normalize([0.5, 0.4, 0.3], [0.2, 0.2, 0.2])
    black = vision.image_baseline("black", x, norm)
    assert torch.allclose(black[0, :, 0, 0], torch.tensor([-2.5, -2.0, -1.5]))
    assert vision.image_baseline("mean", x, norm).abs().max() == 0
    blur = vision.image_baseline("blur", x)
    assert blur.shape == x.shape and blur.std() < x.std()
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(
        vision.image_baseline("uniform", x, generator=g1),
        vision.image_baseline("uniform", x, generator=g2),
    )
    assert vision.baseline_distribution(["black", "uniform"], x, n_uniform=3).shape == (
        4,
        3,
        16,
        16,
    )
    with pytest.raises(ValueError, match="baseline"):
        vision.image_baseline("grey", x)
    img = torch.rand(3, 40, 40)
    for method in ("slic", "quickshift", "felzenszwalb", "grid"):
        mask = vision.segment(img, method, n_segments=16)
        ids = mask.unique()
        assert mask.shape == (1, 1, 40, 40) and ids.tolist() == list(range(len(ids)))


def test_slic_keeps_about_the_asked_number_of_regions_on_the_demo_scenes():
    """Plain SLIC merged these scenes (thin lines over a plain background) into 1 to 4
    regions of 30, so feature ablation's maps were flat; SLICO takes over there."""
    x, _, _ = shapes_dataset(20, seed=98)
    counts = [int(vision.segment(img, "slic", n_segments=30).max()) + 1 for img in x]
    assert min(counts) >= 30 // 4, counts


def test_visualisers_render_the_expected_colours():
    attr = torch.zeros(3, 20, 20)
    attr[:, :10] = 1.0  # positive left half
    attr[:, 10:] = -1.0  # negative right half
    image = torch.full((3, 20, 20), 0.5)

    def colours(fig):
        px = figure_to_array(fig)[..., :3].astype(int)
        red = ((px[..., 0] - px[..., 2]) > 60) & ((px[..., 0] - px[..., 1]) > 60)
        green = ((px[..., 1] - px[..., 0]) > 60) & ((px[..., 1] - px[..., 2]) > 30)
        blue = (px[..., 2] - px[..., 0]) > 60
        return red.sum(), green.sum(), blue.sum()

    red, green, _ = colours(vision.heat_map(attr, sign="positive", colorbar=False))
    assert green > 0 and red == 0
    red, green, _ = colours(vision.heat_map(attr, sign="negative", colorbar=False))
    assert red > 0 and green == 0
    red, green, _ = colours(vision.heat_map(attr, sign="all", colorbar=False))
    assert red > 0 and green > 0  # green for, red against, as the single-sign maps
    for fig in (
        vision.blended_heat_map(attr, image),
        vision.masked_image(attr, image),
        vision.alpha_scaling(attr, image),
        vision.original_image(image),
    ):
        assert figure_to_array(fig).shape[-1] == 4
    with pytest.raises(ValueError, match="sign"):
        vision.heat_map(attr, sign="both")


def test_explanation_plot_html_and_save(shapes, tmp_path):
    exp = vision.explain(
        shapes[0], shapes[1][0], labels=["<circle>", "square", "triangle", "cross"], target=[0, 1]
    )
    assert len(exp.plot().axes) == 3
    page = exp.to_html()
    assert "data:image/png;base64," in page and "&lt;circle&gt;" in page and "<circle>" not in page
    png = exp.save(tmp_path / "out" / "cat.png")
    assert png.exists() and png.with_suffix(".pt").exists() and png.with_suffix(".npy").exists()
    manifest = json.loads(png.with_suffix(".json").read_text())
    assert manifest["method"] == "integrated_gradients" and manifest["targets"] == [0, 1]
    assert (
        len(manifest["model_fingerprint"]) == 64 and manifest["torch_version"] == torch.__version__
    )
    assert torch.equal(torch.load(png.with_suffix(".pt")), exp.attributions)


def test_compare_draws_one_panel_per_method(shapes):
    fig = vision.compare(
        shapes[0], shapes[1][0], methods=["saliency", "gradcam", "integrated_gradients"]
    )
    assert len(fig.axes) == 4


def test_load_model_reads_weights_safely(tmp_path):
    model = vision.load_model("resnet18", num_classes=3)
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    again = vision.load_model("resnet18", weights_path=path, num_classes=3)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())
    )
    torch.save(
        {"code": nn.Linear(2, 2)}, tmp_path / "pickle.pt"
    )  # a pickled module, not a state dict
    with pytest.raises(Exception, match="Weights only load failed|weights_only"):
        vision.load_model("resnet18", weights_path=tmp_path / "pickle.pt", num_classes=3)


def test_gradcam_on_a_vision_transformer():
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(
        image_size=32,
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        num_classes=4,
    ).eval()
    exp = vision.explain(
        vit,
        torch.rand(3, 32, 32),
        method="gradcam",
        layer=vit.encoder.layers[-1],
        reshape_transform=vision.vit_reshape_transform,
    )
    assert exp.attributions.shape == (1, 1, 32, 32) and (exp.attributions >= 0).all()
    tokens = torch.randn(2, 1 + 16, 16)
    assert torch.equal(vision.vit_reshape_transform(tokens)[:, :, 1, 2], tokens[:, 1 + 1 * 4 + 2])


@pytest.mark.parametrize("method", ["saliency", "gradcam", "guided_backprop"])
def test_single_pass_methods_read_the_prediction_from_their_own_forward(shapes, method):
    net, x = shapes[0], shapes[1][5]
    implicit = vision.explain(net, x, method=method)
    predicted = int(net(x.unsqueeze(0)).argmax(1))
    explicit = vision.explain(net, x, method=method, target=predicted)
    assert implicit.targets == [predicted] and implicit.predicted == predicted
    assert torch.allclose(implicit.attributions, explicit.attributions)
    assert implicit.scores == pytest.approx(explicit.scores)


@pytest.mark.parametrize("method", ["integrated_gradients", "gradcam", "occlusion"])
def test_explain_dataset_equals_explain_image_by_image(tmp_path, method):
    from PIL import Image

    from perspicio.core.dataset import read_shard

    net = make_cnn()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    result = vision.explain_dataset(
        net, tmp_path, method=method, batch_size=2, output=tmp_path / "out", show_progress=False
    )
    stored = np.concatenate([read_shard(tmp_path / "out" / s) for s in result.shards])
    one_by_one = torch.cat(
        [vision.explain(net, tmp_path / f"{i}.png", method=method).attributions for i in range(5)]
    )
    assert result.n_rows == 5
    assert np.allclose(stored, one_by_one.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="another run"):  # another method, same folder
        vision.explain_dataset(
            net, tmp_path, method="saliency", output=tmp_path / "out", show_progress=False
        )


@pytest.mark.parametrize("target", [None, "topk:2"])
def test_integrated_gradients_delta_and_prediction_from_one_pass(shapes, target):
    """explain reads the prediction and both ends of the delta from one two-row pass; the
    numbers equal the core's own convergence delta and a separate prediction."""
    from perspicio.core import IntegratedGradients

    net, img = shapes[0], shapes[1][5]
    exp = vision.explain(net, img, target=target, n_steps=32)
    x = img.unsqueeze(0)
    probs = net(x).softmax(1)
    assert exp.predicted == int(probs.argmax()) and exp.targets[0] == exp.predicted
    xs = x.expand(len(exp.targets), -1, -1, -1)
    attr, delta = IntegratedGradients(net).attribute(
        xs, torch.zeros_like(xs), target=exp.targets, n_steps=32, return_convergence_delta=True
    )
    assert torch.allclose(exp.attributions, attr, atol=1e-6)
    assert torch.allclose(exp.convergence_delta, delta, atol=1e-5)
