"""Guided Grad-CAM (Selvaraju et al., 2017): guided backpropagation times Grad-CAM."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from .._engine.inputs import TargetType, TensorOrTuple, as_tuple, like_inputs
from ..attribution import GradientAttribution, LayerAttribution
from ..errors import AttributionValueError
from ..layer.layer_gradcam import LayerGradCam
from .guided_backprop import GuidedBackprop


class GuidedGradCam(GradientAttribution):
    r"""Guided backpropagation masked by the upsampled, rectified Grad-CAM map of a layer:

    .. math:: A = GB(x) \odot \mathrm{upsample}(\max(L_{GradCAM}, 0))

    Class-discriminative (from Grad-CAM) and high resolution (from guided backprop). The
    map is upsampled to every input tensor with as many spatial dimensions as the layer.
    Cost: two forward and backward passes.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import GuidedGradCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> GuidedGradCam(net, net[0]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
    torch.Size([2, 3, 8, 8])
    """

    def __init__(self, model: nn.Module, layer: nn.Module, device_ids: Any = None) -> None:
        super().__init__(model)
        self.grad_cam = LayerGradCam(model, layer, device_ids)
        self.guided_backprop = GuidedBackprop(model)

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        interpolate_mode: str = "nearest",
        attribute_to_layer_input: bool = False,
        reshape_transform: Any = None,
    ) -> TensorOrTuple:
        """Return guided backprop x upsampled Grad-CAM for each input tensor;
        ``reshape_transform`` lays a transformer's tokens on their grid (as for
        :class:`~perspicio.core.LayerGradCam`; Captum has no such argument)."""
        xs, was_tuple = as_tuple(inputs)
        cam = self.grad_cam.attribute(
            inputs,
            target,
            additional_forward_args,
            attribute_to_layer_input,
            relu_attributions=True,
            reshape_transform=reshape_transform,
        )
        guided, _ = as_tuple(
            self.guided_backprop.attribute(inputs, target, additional_forward_args)
        )
        modes = (
            "nearest",
            "linear",
            "bilinear",
            "bicubic",
            "trilinear",
            "lanczos",
            "area",
            "nearest-exact",
        )
        if interpolate_mode not in modes:
            raise AttributionValueError(
                f"`interpolate_mode` must be one of {modes}, got {interpolate_mode!r}"
            )
        out = []
        for i, (x, g) in enumerate(zip(xs, guided)):
            if x.dim() != cam.dim():
                # an input that is not laid out like the layer (a side vector of a model that
                # also takes an image) gets no map, as in Captum: an empty tensor and a warning
                warnings.warn(
                    f"GuidedGradCam: inputs[{i}] has shape {tuple(x.shape)} and the Grad-CAM "
                    f"map {tuple(cam.shape)} has another number of dimensions; it cannot be "
                    "upsampled to that input, whose attribution is an empty tensor",
                    stacklevel=2,
                )
                out.append(torch.empty(0, dtype=g.dtype, device=g.device))
                continue
            out.append(g * LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode))
        return like_inputs(tuple(out), was_tuple)
