"""Explaining a segmentation model: a class over a region of the image.

A segmentation model returns a map of class logits ``(N, classes, h, w)`` (torchvision's
FCN and DeepLabV3 in a dict under ``"out"``, Hugging Face's models as a ``ModelOutput``
with ``logits``). :class:`RegionScores` turns it into one score per class, the class's
logits summed over a region fixed on the unperturbed image: the pixels the model predicts
as that class (Vinogradova et al., 2020, Seg-Grad-CAM), or a mask or a box the caller
gives for every class. Every method of ``vision.explain`` then explains that score.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def class_map(out: Any) -> Tensor | None:
    """The ``(N, classes, h, w)`` logits of a segmentation model's output, else None."""
    if isinstance(out, dict):
        out = out.get("out", out.get("logits"))
    elif not isinstance(out, Tensor):
        out = getattr(out, "logits", None)
    return out if isinstance(out, Tensor) and out.dim() == 4 else None


def region_mask(region: Any, size: tuple[int, int], device: torch.device) -> Tensor:
    """A caller's region as a boolean ``(H, W)`` mask at the input's size: a mask, or a box
    ``(x0, y0, x1, y1)`` in pixels (right and bottom edges excluded)."""
    h, w = size
    if (
        isinstance(region, (tuple, list))
        and len(region) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in region)
    ):
        x0, y0, x1, y1 = (int(round(v)) for v in region)
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise ValueError(
                f"`region` box {tuple(region)} is not inside the {w}x{h} image as (x0, y0, x1, y1)"
            )
        mask = torch.zeros(h, w, dtype=torch.bool, device=device)
        mask[y0:y1, x0:x1] = True
        return mask
    if isinstance(region, Tensor) or hasattr(region, "__array__"):
        mask = torch.as_tensor(region, device=device).squeeze()
        if mask.shape != (h, w):
            raise ValueError(
                f"`region` mask has shape {tuple(mask.shape)}; expected the image's ({h}, {w})"
            )
        if not mask.bool().any():
            raise ValueError("`region` mask is empty")
        return mask.bool()
    raise TypeError(
        "`region` must be None (the pixels predicted as the target class), a boolean mask "
        f"(H, W) or a box (x0, y0, x1, y1), got {type(region).__name__}"
    )


class RegionScores(nn.Module):
    """A segmentation model as a classifier: column ``k`` of the output is class ``k``'s
    logits summed over its region (fixed once, on the image ``x``).

    Parameters
    ----------
    model : nn.Module
        Returns class logits ``(N, classes, h, w)`` (or a dict / ModelOutput holding them).
    x : tensor
        The image ``(1, C, H, W)``: the predicted regions are read from it.
    region : None, mask or box
        None: each class's own predicted pixels; else the same region for every class
        (a mask or box at the input's size, resized to the logits' grid).
    """

    def __init__(self, model: nn.Module, x: Tensor, region: Any = None) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            logits = class_map(model(x))
        n_classes, grid = logits.shape[1], logits.shape[-2:]
        if region is None:
            predicted = logits[0].argmax(0)  # (h, w)
            masks = predicted.unsqueeze(0) == torch.arange(n_classes, device=x.device).view(
                -1, 1, 1
            )
        else:
            mask = region_mask(region, tuple(x.shape[-2:]), x.device).float()[None, None]
            mask = F.interpolate(mask, size=tuple(grid), mode="nearest")[0, 0] > 0
            if not mask.any():
                raise ValueError("`region` covers no cell of the model's output grid")
            masks = mask.unsqueeze(0).expand(n_classes, -1, -1)
        self.register_buffer("masks", masks.to(logits.dtype), persistent=False)
        self.by_prediction = region is None

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        logits = class_map(self.model(x))
        return (logits * self.masks.unsqueeze(0)).sum((2, 3))

    @torch.no_grad()
    def probabilities(self, x: Tensor) -> Tensor:
        """Each class's mean softmax probability over its region, ``(N, classes)``."""
        probs = class_map(self.model(x)).float().softmax(1)
        area = self.masks.sum((1, 2)).clamp(min=1)
        return (probs * self.masks.unsqueeze(0)).sum((2, 3)) / area

    def check_targets(self, targets: list[int]) -> None:
        """A class predicted nowhere has no region to explain."""
        if not self.by_prediction:
            return
        for t in targets:
            if not bool(self.masks[t].any()):
                raise ValueError(
                    f"`target` class {t} is predicted at no pixel of this image; give a "
                    "`region` (a mask or a box) to explain it there"
                )
