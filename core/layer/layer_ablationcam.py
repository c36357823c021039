"""Ablation-CAM (Desai and Ramaswamy, 2020): channels weighted by the score lost without them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._capture import layer_values
from .._inputs import TargetType, TensorOrTuple, as_tuple, format_additional_args, format_target
from .._outputs import run_forward
from ..attribution import LayerAttribution, PerturbationAttribution
from ..errors import AttributionValueError
from .layer_feature_ablation import LayerFeatureAblation


class LayerAblationCam(LayerAttribution, PerturbationAttribution):
    r"""Ablation-CAM: gradient-free class activation maps from channel ablation.

    Each channel :math:`k` of the layer is set to zero and the model's score for the target
    drops from :math:`y` to :math:`y_k`; the channel's weight is the relative drop:

    .. math:: L = \sum_k w_k A_k, \qquad w_k = \frac{y - y_k}{y}

    The ablations are the layer ablations of :class:`LayerFeatureAblation` (one group per
    channel, baseline 0), evaluated in batches of ``perturbations_per_eval`` channels for all
    examples at once. Cost: one model evaluation per channel and example.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerAblationCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerAblationCam(net, net[1]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
    torch.Size([2, 1, 6, 6])
    """

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        reshape_transform: Callable[[Tensor], Tensor] | None = None,
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
    ) -> Any:
        """Return the Ablation-CAM map, ``(N, 1, ...)`` at the layer's resolution.

        With ``reshape_transform`` (token sequences ``(N, T, D)``), the channels are the
        last dimension of the layer's output, as the transform's maps ``(N, D, h, w)`` see
        them.
        """
        if isinstance(self.layer, (list, tuple)):
            raise AttributionValueError("LayerAblationCam takes one layer, got a list")
        xs, _ = as_tuple(inputs)
        args = format_additional_args(additional_forward_args)
        ((acts, _),) = layer_values(
            self.forward_func, self.layers, xs, args, attribute_to_layer_input
        )
        a = acts[0]
        if a.dim() < 3:
            raise AttributionValueError(
                f"LayerAblationCam needs a layer with positions, (N, C, ...), got {tuple(a.shape)}"
            )
        n = a.shape[0]
        channel_dim = a.dim() - 1 if reshape_transform is not None else 1
        shape = [1] * a.dim()
        shape[channel_dim] = a.shape[channel_dim]
        mask = torch.arange(a.shape[channel_dim], device=a.device).view(shape)
        drops = LayerFeatureAblation(self.forward_func, self.layer).attribute(
            xs, layer_baselines=0.0, target=target, additional_forward_args=additional_forward_args,
            layer_mask=mask, attribute_to_layer_input=attribute_to_layer_input,
            perturbations_per_eval=perturbations_per_eval, show_progress=show_progress,
        )  # fmt: skip
        # every element of a channel holds that channel's drop: read one per channel
        index = [slice(None)] + [0] * (a.dim() - 1)
        index[channel_dim] = slice(None)
        drop = drops[tuple(index)]  # (N, channels)
        with torch.no_grad():
            score = run_forward(self.forward_func, xs, format_target(target, n), args)
        score = score.reshape(n, 1).to(drop.dtype)
        weights = drop / torch.where(score != 0, score, torch.ones_like(score))
        maps = reshape_transform(a) if reshape_transform is not None else a
        weights = weights.view(weights.shape + (1,) * (maps.dim() - 2)).to(maps.dtype)
        cam = (weights * maps).sum(1, keepdim=True)
        cam = F.relu(cam) if relu_attributions else cam
        return self._answer([(cam,)], [False])
