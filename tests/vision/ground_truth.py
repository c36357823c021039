"""Ground-truth scores of the trained demo models, shared by their tests and by
``benchmarks/ground_truth_seeds.py`` (which measures them over training seeds and CPU
instruction sets to set the tests' thresholds).

Each score is the mean over held-out scenes of a localisation metric, beside the 95th
percentile of the same mean for 100 random maps of the same shape scored against the same
masks (uniform noise, seeded): an explanation must beat that, not only a fixed threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from perspicio import vision
from perspicio.core.metrics import energy_pointing_game, pointing_game
from perspicio.vision.demo import shapes_boxes, shapes_dataset
from perspicio.vision.detection_target import box_iou

METRICS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "pointing_game": pointing_game,
    "energy_pointing_game": energy_pointing_game,
}


def random_percentile(
    metric: Callable[[Tensor, Tensor], Tensor],
    masks: Tensor,
    n_maps: int = 100,
    q: float = 0.95,
    seed: int = 0,
) -> float:
    """The ``q`` quantile, over ``n_maps`` draws, of the metric's mean over the examples
    when every map is uniform noise shaped like ``masks`` ``(N, ...)``."""
    generator = torch.Generator().manual_seed(seed)
    maps = torch.rand((n_maps, *masks.shape), generator=generator)
    scores = metric(maps.flatten(0, 1), masks.repeat((n_maps,) + (1,) * (masks.dim() - 1)))
    return float(scores.view(n_maps, -1).mean(1).quantile(q))


def is_flat(a: Tensor) -> bool:
    """Every value of the map the same (no information about where the object is)."""
    return bool(a.amax() == a.amin())


@dataclass
class Scores:
    """Per-scene scores by ``"method/metric"``, the maps' masks, and how many maps were flat."""

    scores: dict[str, list[float]] = field(default_factory=dict)
    masks: list[Tensor] = field(default_factory=list)
    flat: dict[str, int] = field(default_factory=dict)
    detected: float | None = None

    def add(self, method: str, a: Tensor, mask: Tensor, metrics: tuple[str, ...]) -> None:
        self.flat[method] = self.flat.get(method, 0) + is_flat(a)
        for name in metrics:
            key = f"{method}/{name}"
            self.scores.setdefault(key, []).append(float(METRICS[name](a, mask)))

    def mean(self, key: str) -> float:
        return sum(self.scores[key]) / len(self.scores[key])

    def random_p95(self, key: str) -> float:
        """The 95th percentile of the mean of 100 random maps (same shape, same masks)."""
        masks = torch.cat(self.masks)
        return random_percentile(METRICS[key.split("/")[1]], masks)

    def summary(self) -> dict:
        out: dict = {
            key: {
                "mean": round(self.mean(key), 4),
                "min": round(min(v), 4),
                "random_p95": round(self.random_p95(key), 4),
            }
            for key, v in self.scores.items()
        }
        out["flat_maps"] = self.flat
        if self.detected is not None:
            out["detected"] = self.detected
        return out


def classifier_scores(
    net: torch.nn.Module, x: Tensor, y: Tensor, masks: Tensor, method: str, **options
) -> Scores:
    """The demo classifier's explanations of the true class of each scene: the pointing game
    of the map (summed over the colour channels) against the shape's mask."""
    out = Scores()
    for i in range(len(x)):
        exp = vision.explain(net, x[i], target=int(y[i]), method=method, **options)
        mask = masks[i][None, None]
        out.masks.append(mask)
        out.add(method, exp.attributions.sum(1, keepdim=True), mask, ("pointing_game",))
    return out


def detector_scores(net: torch.nn.Module, n_explained: int = 20) -> Scores:
    """The demo detector on 40 held-out scenes (seed 98): the share whose top detection
    overlaps the shape's box (IoU > 0.5), and the pointing game of Grad-CAM and feature
    ablation maps of the top detection against the shape's box on the first 20."""
    x, _, masks = shapes_dataset(40, seed=98)  # held out: trained on seed 5
    truth = shapes_boxes(masks)
    with torch.no_grad():
        found = net(x)
    iou = torch.stack([box_iou(d["boxes"][:1], t)[0] for d, t in zip(found, truth)])
    out = Scores(detected=float((iou > 0.5).float().mean()))
    for i in range(n_explained):
        box = torch.zeros(1, 1, 32, 32, dtype=torch.bool)
        x0, y0, x1, y1 = truth[i].long().tolist()
        box[..., y0:y1, x0:x1] = True
        out.masks.append(box)
        for method in ("gradcam", "feature_ablation"):
            exp = vision.explain(net, x[i], method=method, n_segments=30)
            out.add(method, exp.attributions.sum(1, keepdim=True), box, ("pointing_game",))
    return out


def segmenter_scores(net: torch.nn.Module) -> Scores:
    """The demo segmenter on 20 held-out scenes (seed 99), each shape's class explained over
    the pixels predicted as that class: the pointing game of Grad-CAM, feature ablation and
    Integrated Gradients maps against the shape's mask, and the energy pointing game of
    Integrated Gradients."""
    x, labels, masks = shapes_dataset(20, seed=99)  # held out: trained on seed 3
    out = Scores()
    for i in range(len(x)):
        mask = masks[i][None, None]
        out.masks.append(mask)
        for method in ("gradcam", "feature_ablation", "integrated_gradients"):
            options = {"n_steps": 16} if method == "integrated_gradients" else {}
            exp = vision.explain(
                net, x[i], method=method, target=int(labels[i]) + 1, n_segments=30, **options
            )
            metrics = ("pointing_game",)
            if method == "integrated_gradients":
                metrics += ("energy_pointing_game",)
            out.add(method, exp.attributions.sum(1, keepdim=True), mask, metrics)
    return out
