"""The shapes detector: a small one-stage detector of the shapes scenes' objects, trained on
first use and cached."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from perspicio._cache import cached_artifact
from perspicio._training import adam_epochs

from .shapes import SHAPES, _shape_mask, add_clutter, shapes_boxes, shapes_dataset


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
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=2, dilation=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=2, dilation=2),
            nn.ReLU(),
        )
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
        boxes = torch.stack(
            [cx - wh[:, 0] / 2, cy - wh[:, 1] / 2, cx + wh[:, 0] / 2, cy + wh[:, 1] / 2], dim=2
        )
        return [{"boxes": boxes[i], "labels": labels[i], "scores": scores[i]} for i in range(n)]


@cached_artifact(
    "shapes_detector_v1",
    depends=(ShapesDetector, shapes_dataset, _shape_mask, add_clutter, shapes_boxes, adam_epochs),
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

    adam_epochs(net, len(x), loss, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    return net.state_dict()


def shapes_detector(retrain: bool = False) -> ShapesDetector:
    """The shapes detector, trained on 3000 scenes on first use and cached like the other
    demo models."""
    net = ShapesDetector()
    net.load_state_dict(_trained_shapes_detector(retrain=retrain))
    return net.eval()
