"""Score-CAM (Wang et al., 2020): channels weighted by the score of the input they reveal."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .._engine.capture import layer_values
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_target,
)
from .._engine.perturbation import evaluate, resolve_chunk
from ..attribution import LayerAttribution, PerturbationAttribution
from ..errors import AttributionValueError


class LayerScoreCam(LayerAttribution, PerturbationAttribution):
    r"""Score-CAM: gradient-free class activation maps.

    Each channel :math:`A_k` of the layer is upsampled to the input size and scaled to
    [0, 1], giving a mask :math:`H_k`; its weight is the softmax over channels of the score
    of the masked input, :math:`s_k = F(x \odot H_k)`:

    .. math:: L = \mathrm{relu}\left(\sum_k \mathrm{softmax}(s)_k A_k\right)

    For models with inputs ``(N, C, H, W)`` and a spatial layer ``(N, K, h, w)``. Cost: one
    model evaluation per channel and example, batched (``perturbations_per_eval``).
    Captum has no equivalent.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerScoreCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerScoreCam(net, net[1]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
    torch.Size([2, 1, 6, 6])
    """

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
        reshape_transform: Any = None,
    ) -> Any:
        """Return the Score-CAM map at the layer's resolution, ``(N, 1, h, w)``;
        ``reshape_transform`` lays a transformer's tokens ``(N, tokens, D)`` on their grid
        ``(N, D, h, w)`` first (``perspicio.vision.vit_reshape_transform``)."""
        xs, _ = as_tuple(inputs)
        x = xs[0]
        if len(xs) != 1 or x.dim() != 4:
            raise AttributionValueError(
                "LayerScoreCam needs one input of shape (N, C, H, W), got "
                f"{[tuple(t.shape) for t in xs]}"
            )
        args = format_additional_args(additional_forward_args)
        ((acts, _),) = layer_values(self.forward_func, self.layers, xs, args, False)
        a = acts[0] if reshape_transform is None else reshape_transform(acts[0])
        if a.dim() != 4:
            raise AttributionValueError(
                f"LayerScoreCam needs a spatial layer (N, K, h, w), got {tuple(a.shape)}"
            )
        n, k = a.shape[:2]
        masks = F.interpolate(a, size=x.shape[2:], mode="bilinear", align_corners=False)
        low = masks.amin(dim=(2, 3), keepdim=True)
        high = masks.amax(dim=(2, 3), keepdim=True)
        masks = (masks - low) / torch.where(high > low, high - low, torch.ones_like(high))

        def build(sl: slice):
            # perturbation j of a chunk reveals channel sl.start + j of every example
            m = masks[:, sl].transpose(0, 1).unsqueeze(2)  # (m, n, 1, H, W)
            return ((x.unsqueeze(0) * m).reshape((-1,) + x.shape[1:]),)

        chunk = resolve_chunk(perturbations_per_eval, self.forward_func, xs, args, k)
        scores = evaluate(
            self.forward_func,
            build,
            k,
            n,
            format_target(target, n),
            args,
            chunk,
            show_progress,
            "ScoreCAM",
        )  # (k, n)
        weights = torch.softmax(scores.t(), dim=1).view(n, k, 1, 1).to(a.dtype)
        return torch.relu((weights * a).sum(1, keepdim=True))
