"""Explaining one object of an object detector.

torchvision's detectors (Faster R-CNN, RetinaNet, FCOS, SSD...) return, per image, a dict of
``boxes`` ``(K, 4)`` as ``(x0, y0, x1, y1)``, ``labels`` and ``scores``. The object to
explain is one of the detections on the image (its index, by decreasing score) or a box and
a class the caller gives. :class:`DetectionScore` scores any image by how well the model
still finds that object there, as D-RISE does (Petsiuk et al., 2021): the best, over the
image's detections, of the box overlap (IoU) with the object's box times the detection's
score, counting only detections of the object's class. The score is differentiable through
the detector's box and score heads (non-maximum suppression only selects), so gradient,
CAM and perturbation methods all explain it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def detections_of(out: Any) -> list[dict[str, Tensor]] | None:
    """A detector's output (a list of dicts with ``boxes``, ``labels``, ``scores``), else None.
    A scripted torchvision detector's ``(losses, detections)`` gives its detections."""
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], dict):
        out = out[1]
    if (
        isinstance(out, (list, tuple))
        and out
        and all(isinstance(d, dict) and {"boxes", "labels", "scores"} <= set(d) for d in out)
    ):
        return list(out)
    return None


def box_iou(boxes: Tensor, box: Tensor) -> Tensor:
    """IoU of each of ``boxes`` ``(K, 4)`` with ``box`` ``(4,)``, all ``(x0, y0, x1, y1)``."""
    x0 = torch.maximum(boxes[:, 0], box[0])
    y0 = torch.maximum(boxes[:, 1], box[1])
    x1 = torch.minimum(boxes[:, 2], box[2])
    y1 = torch.minimum(boxes[:, 3], box[3])
    inter = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    own = (box[2] - box[0]) * (box[3] - box[1])
    return inter / (area + own - inter).clamp(min=1e-9)


class DetectionScore(nn.Module):
    """A detector as a one-output model: how well it finds one object in each image.

    Parameters
    ----------
    model : nn.Module
        A detector taking a list of images ``(C, H, W)`` and returning detections.
    x : tensor
        The image ``(1, C, H, W)`` the object is detected on.
    target : None, int or dict
        None: the top detection; an int: that detection (by decreasing score); a dict
        ``{"box": (x0, y0, x1, y1), "label": k}``: that object, given by the caller.
    """

    def __init__(self, model: nn.Module, x: Tensor, target: Any = None) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            found = detections_of(model(list(x)))[0]
        if isinstance(target, dict):
            if set(target) != {"box", "label"}:
                raise ValueError(
                    "`target` of a detector must be an index or {'box': (x0, y0, x1, y1), "
                    f"'label': class}}, got keys {sorted(target)}"
                )
            box = torch.as_tensor(target["box"], dtype=x.dtype, device=x.device).reshape(-1)
            if box.numel() != 4 or not bool((box[2:] > box[:2]).all()):
                raise ValueError(f"`target` box must be (x0, y0, x1, y1), got {target['box']}")
            self.box, self.label = box, int(target["label"])
        else:
            if target is None:
                target = 0
            if isinstance(target, bool) or not isinstance(target, int):
                raise TypeError(
                    "`target` of a detector must be None (the top detection), an index or "
                    f"{{'box': ..., 'label': ...}}, got {type(target).__name__}"
                )
            count = len(found["boxes"])
            if not 0 <= target < count:
                raise ValueError(
                    f"`target` {target} is not one of the {count} detections on this image"
                    + ("" if count else "; give {'box': ..., 'label': ...} to explain an object")
                )
            self.box = found["boxes"][target].detach()
            self.label = int(found["labels"][target])
        self.register_buffer("_box", self.box, persistent=False)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        scores = []
        for found in detections_of(self.model(list(x))):
            if len(found["boxes"]) == 0:
                scores.append(x.new_zeros(()))
                continue
            same = (found["labels"] == self.label).to(found["scores"].dtype)
            scores.append((box_iou(found["boxes"], self._box) * same * found["scores"]).max())
        out = torch.stack(scores).unsqueeze(1)
        if torch.is_grad_enabled() and x.requires_grad and not out.requires_grad:
            raise ValueError(
                "the detector's boxes and scores carry no gradient (its post-processing "
                "detaches them): explain it with a perturbation method (feature_ablation, "
                "occlusion, kernel_shap, lime) or eigencam"
            )
        return out

    @torch.no_grad()
    def probabilities(self, x: Tensor) -> Tensor:
        """The object's score on ``x`` (IoU-weighted detection score), ``(N, 1)``."""
        return self.forward(x).float()

    def describe(self, labels: list[str] | None) -> str:
        """The object as a readable label: its class and box."""
        name = labels[self.label] if labels and 0 <= self.label < len(labels) else str(self.label)
        x0, y0, x1, y1 = (round(float(v)) for v in self._box)
        return f"{name} at ({x0}, {y0}, {x1}, {y1})"
