"""Bad input to the vision front end: a TypeError/ValueError that names the argument."""

import numpy as np
import pytest
import torch

pytest.importorskip("torchvision")
from torchvision import transforms  # noqa: E402

from perspicio import vision  # noqa: E402

from ..conftest import assert_unchanged, make_cnn, model_fingerprint  # noqa: E402

NORMALISE = transforms.Compose(
    [transforms.Resize((8, 8)), transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]
)
IMG = torch.rand(3, 8, 8)

# (case, explain keyword arguments, error type, the argument the message must name)
CASES = [
    ("img None", dict(img=None), TypeError, "img"),
    ("img int", dict(img=42), TypeError, "img"),
    ("img missing file", dict(img="/no/such/image.png"), ValueError, "img"),
    (
        "img 7 channels + transform",
        dict(img=np.zeros((8, 8, 7)), transform=NORMALISE),
        ValueError,
        "img",
    ),
    ("img 7 channels", dict(img=np.zeros((8, 8, 7), np.float32)), ValueError, "img"),
    ("img grey for an RGB model", dict(img=torch.rand(1, 8, 8)), ValueError, "img"),
    ("img channels first array", dict(img=np.zeros((3, 8, 8), np.float32)), ValueError, "img"),
    ("img NaN", dict(img=torch.full((3, 8, 8), float("nan"))), ValueError, "img"),
    ("img empty", dict(img=np.zeros((0, 0, 3), np.uint8)), ValueError, "img"),
    ("img 5-d", dict(img=torch.rand(1, 1, 3, 8, 8)), ValueError, "img"),
    ("img 1-d", dict(img=np.zeros(5)), ValueError, "img"),
    ("img batch of two", dict(img=torch.rand(2, 3, 8, 8)), ValueError, "img"),
    ("img int64 tensor", dict(img=torch.ones(3, 8, 8, dtype=torch.long)), TypeError, "img"),
    ("img strings", dict(img=np.array([["a"]])), TypeError, "img"),
    (
        "target unknown label",
        dict(img=IMG, target="dog", labels=list("abcd")),
        ValueError,
        "target",
    ),
    ("target out of range", dict(img=IMG, target=99), ValueError, "target"),
    ("target negative", dict(img=IMG, target=-1), ValueError, "target"),
    ("target float", dict(img=IMG, target=1.5), ValueError, "target"),
    ("target bad topk", dict(img=IMG, target="topk:x"), ValueError, "target"),
    ("method unknown", dict(img=IMG, method="nope"), ValueError, "method"),
    ("method int", dict(img=IMG, method=42), TypeError, "method"),
    ("baseline unknown", dict(img=IMG, baseline="purple"), ValueError, "baseline"),
    ("baseline wrong shape", dict(img=IMG, baseline=torch.zeros(3, 5, 5)), ValueError, "baseline"),
    (
        "n_segments zero",
        dict(img=IMG, method="kernel_shap", n_segments=0),
        ValueError,
        "n_segments",
    ),
    (
        "n_segments str",
        dict(img=IMG, method="kernel_shap", n_segments="many"),
        TypeError,
        "n_segments",
    ),
    ("seed str", dict(img=IMG, method="kernel_shap", seed="x"), TypeError, "seed"),
    ("labels too few", dict(img=IMG, labels=["a"]), ValueError, "labels"),
    (
        "labels too few, single-pass method",
        dict(img=IMG, labels=["a"], method="saliency"),
        ValueError,
        "labels",
    ),
    ("labels a string", dict(img=IMG, labels="abcd"), TypeError, "labels"),
    (
        "layer not in the model",
        dict(img=IMG, method="gradcam", layer=torch.nn.Conv2d(3, 3, 1)),
        ValueError,
        "layer",
    ),
    ("layer a name", dict(img=IMG, method="gradcam", layer="features"), TypeError, "layer"),
    ("model None", dict(model=None, img=IMG), TypeError, "model"),
    ("model a function", dict(model=lambda x: x, img=IMG), TypeError, "model"),
    ("transform not callable", dict(img=IMG, transform=42), TypeError, "transform"),
]


@pytest.mark.parametrize(("case", "kwargs", "error", "argument"), CASES, ids=[c[0] for c in CASES])
def test_explain_names_the_bad_argument(case, kwargs, error, argument):
    net = make_cnn(pool=False)  # takes 3x8x8 images, 4 classes
    kwargs = {"model": net, **kwargs}
    before = model_fingerprint(net)
    with pytest.raises(error, match=f"`{argument}`"):
        vision.explain(**kwargs)
    assert_unchanged(net, before)


def test_tensor_images_go_through_a_transform_without_its_to_tensor_step():
    """A float array or tensor with a PIL-style transform is transformed as a tensor."""
    net = make_cnn(pool=False)
    from_array = vision.explain(
        net, np.full((8, 8, 3), 0.25, np.float32), transform=NORMALISE, method="saliency"
    )
    from_pil = vision.explain(
        net, np.full((8, 8, 3), 64, np.uint8), transform=NORMALISE, method="saliency"
    )
    assert torch.allclose(from_array.attributions, from_pil.attributions, atol=1e-2)


def test_explain_dataset_and_compare_name_the_bad_argument(tmp_path):
    net = make_cnn(pool=False)
    with pytest.raises(TypeError, match="`model`"):
        vision.compare(None, IMG, methods=["saliency"])
    with pytest.raises(ValueError, match="`img`"):
        vision.compare(net, torch.rand(2, 8, 8), methods=["saliency"])
    with pytest.raises((TypeError, ValueError), match="`method`"):
        vision.explain_dataset(net, torch.rand(4, 3, 8, 8), method="nope")
    with pytest.raises(ValueError, match="`name`"):
        vision.load_model("no_such_architecture")
    missing = tmp_path / "missing.pt"
    with pytest.raises(ValueError, match="`weights_path`"):
        vision.load_model("resnet18", weights_path=missing)
