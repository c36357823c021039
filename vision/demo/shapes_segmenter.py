"""The shapes segmenter: a small fully convolutional model of the shapes scenes' pixel
classes, trained on first use and cached."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from perspicio._cache import cached_artifact
from perspicio._training import adam_epochs

from .shapes import SHAPES, _shape_mask, add_clutter, shapes_dataset, shapes_pixel_labels


class ShapesSegmenter(nn.Module):
    """A small fully convolutional segmenter of the shapes scenes: background and the four
    shapes, one class map per class at the input's resolution (a dict with ``"out"``, as
    torchvision's segmentation models return)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=2, dilation=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=4, dilation=4),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=8, dilation=8),
            nn.ReLU(),
        )
        self.classifier = nn.Conv2d(32, 1 + len(SHAPES), 1)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"out": self.classifier(self.features(x))}


@cached_artifact(
    "shapes_segmenter_v1",
    depends=(
        ShapesSegmenter,
        shapes_dataset,
        _shape_mask,
        add_clutter,
        shapes_pixel_labels,
        adam_epochs,
    ),
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
    adam_epochs(
        net,
        len(x),
        lambda idx: nn.functional.cross_entropy(net(x[idx])["out"], y[idx]),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
    )
    return net.state_dict()


def shapes_segmenter(retrain: bool = False) -> ShapesSegmenter:
    """The shapes segmenter (background + four shapes), trained on 2000 scenes on first use
    and cached like the other demo models."""
    net = ShapesSegmenter()
    net.load_state_dict(_trained_shapes_segmenter(retrain=retrain))
    return net.eval()
