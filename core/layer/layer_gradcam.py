"""Grad-CAM (Selvaraju et al., 2017) at a layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .._engine.capture import layer_gradients
from .._engine.gradients import accepts_grad_kwargs
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_target,
)
from ..attribution import GradientAttribution, LayerAttribution


class LayerGradCam(LayerAttribution, GradientAttribution):
    r"""Grad-CAM: channel activations weighted by their mean gradient.

    .. math::
        L = \sum_c w_c A_c, \qquad
        w_c = \frac{1}{Z}\sum_{h,w} \frac{\partial F}{\partial A_{c,h,w}}

    With ``attr_dim_summation=False`` the weighted channels are returned unsummed; with
    ``relu_attributions=True`` only positive evidence is kept (as in the paper). The map
    has the layer's resolution; :meth:`LayerAttribution.interpolate` upsamples it. Cost:
    one forward and one backward pass.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerGradCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerGradCam(net, net[1]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
    torch.Size([2, 1, 6, 6])
    """

    @accepts_grad_kwargs
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        attr_dim_summation: bool = True,
        reshape_transform: Callable[[Tensor], Tensor] | None = None,
    ) -> Any:
        """Return the Grad-CAM map of the layer, shape ``(N, 1, ...)`` (``(N, C, ...)``
        without summation).

        ``reshape_transform`` maps the layer's output (and its gradient) to channel-first
        maps, e.g. ViT tokens ``(N, 1 + h*w, D)`` to ``(N, D, h, w)`` with
        ``perspicio.vision.vit_reshape_transform``; Captum has no such argument.
        """
        xs, _ = as_tuple(inputs)
        grads, values, _ = layer_gradients(
            self.forward_func,
            self.layers,
            xs,
            format_target(target, xs[0].shape[0]),
            format_additional_args(additional_forward_args),
            attribute_to_layer_input,
        )
        per_layer = []
        for gs, (acts, _) in zip(grads, values):
            maps = []
            for g, a in zip(gs, acts):
                a = a.detach()
                if reshape_transform is not None:
                    g, a = reshape_transform(g), reshape_transform(a)
                cam = self.weighted_activations(g, a)
                cam = cam.sum(1, keepdim=True) if attr_dim_summation else cam
                maps.append(F.relu(cam) if relu_attributions else cam)
            per_layer.append(tuple(maps))
        return self._answer(per_layer, [t for _, t in values])

    @classmethod
    def weighted_activations(cls, grads: Tensor, acts: Tensor) -> Tensor:
        """The terms summed over the channels: each channel's activations times its weight
        (the CAM variants that weight each position override this)."""
        return cls.channel_weights(grads, acts) * acts

    @staticmethod
    def channel_weights(grads: Tensor, acts: Tensor) -> Tensor:
        """Grad-CAM's weight of each channel: its gradient averaged over the positions."""
        return (
            grads.mean(dim=tuple(range(2, grads.dim())), keepdim=True) if grads.dim() > 2 else grads
        )
