"""What ``vision.explain`` explains on an image, in one place: a class of a classifier, a
detected object, a segmentation class over a region.

The class targets are core's (:class:`~perspicio.core.targets.ClassTarget`,
:class:`~perspicio.core.targets.PredictedClass`); a detector's object and a segmentation
region make the model a scorer of their own (:class:`DetectionScore`, :class:`RegionScores`),
and :func:`scoring_model` picks which wraps a given model, from its output on the image.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from perspicio.core.frontend import CallHooks
from perspicio.core.targets import ClassTarget, PredictedClass

from .cam import Logits
from .detection_target import DetectionScore, detections_of
from .segmentation_target import RegionScores, class_map


def parse_box(text: str) -> tuple[int, int, int, int] | None:
    """A box typed by a person (a form, the command line), ``x0,y0,x1,y1`` in whole pixels
    (none negative); empty is None.

    Examples
    --------
    >>> parse_box(" 4, 8,20,30"), parse_box("")
    ((4, 8, 20, 30), None)
    >>> parse_box("-1,0,5,5")
    Traceback (most recent call last):
    ...
    ValueError: the box must be four whole numbers x0,y0,x1,y1, got '-1,0,5,5'
    """
    text = text.strip()
    if not text:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"the box must be four whole numbers x0,y0,x1,y1, got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def is_topk(target: Any) -> bool:
    """Whether ``target`` asks for the K classes of highest score (``"topk:K"``)."""
    return isinstance(target, str) and target.startswith("topk:")


def as_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """A classifier's logits ``(N, classes)`` as probabilities (refusing any other shape)."""
    if logits.dim() != 2:
        raise ValueError(
            f"the model must return logits (N, classes), got shape {tuple(logits.shape)}"
        )
    return logits.detach().float().softmax(1)


def is_detector(model: nn.Module) -> bool:
    """torchvision's detectors take a list of images (they resize each one)."""
    return hasattr(model, "transform") and hasattr(model.transform, "batch_images")


def probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The scored model's probabilities on ``x`` (a detection's or a region's own scores)."""
    if hasattr(model, "probabilities"):
        return model.probabilities(x)  # a detection's, a region's or a caption's own scores
    with torch.no_grad():
        return as_probabilities(model(x))


def scoring_model(model: nn.Module, x: torch.Tensor, region: Any, target: Any) -> nn.Module:
    """What the methods explain: a detector's score for one object (:class:`DetectionScore`),
    a segmentation model's class scores over their regions (:class:`RegionScores`), or a
    classifier's logits (:class:`~perspicio.vision.cam.Logits`)."""
    with torch.no_grad():
        out = model(list(x)) if is_detector(model) else model(x)
    if detections_of(out) is not None:
        if region is not None:  # the object's box, its class the target
            if not (isinstance(region, (tuple, list)) and len(region) == 4):
                raise ValueError("`region` of a detector is the object's box (x0, y0, x1, y1)")
            if isinstance(target, bool) or not isinstance(target, int):
                raise ValueError(
                    "with a detector's `region` (the object's box), `target` is "
                    f"the object's class index, got {target!r}"
                )
            target = {"box": tuple(region), "label": target}
        return DetectionScore(model, x, target)
    if class_map(out) is not None:
        return RegionScores(model, x, region)
    if region is not None:
        raise ValueError(
            "`region` is for segmentation models (where a class is scored) and detectors (the "
            "object's box); this model returns one score per class"
        )
    return Logits(model)


@contextlib.contextmanager
def first_output(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record the output of the model's first forward pass inside the block."""
    seen: list[torch.Tensor] = []

    def hook(module, args, out):
        if not seen and isinstance(out, torch.Tensor):
            seen.append(out.detach())

    with CallHooks() as hooks:  # this call's passes only
        hooks.forward(model, hook)
        yield seen


__all__ = [
    "ClassTarget",
    "DetectionScore",
    "PredictedClass",
    "RegionScores",
    "as_probabilities",
    "first_output",
    "is_detector",
    "is_topk",
    "parse_box",
    "probabilities",
    "scoring_model",
]
