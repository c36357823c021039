"""Guided Grad-CAM (Selvaraju et al., 2017): guided backpropagation times Grad-CAM."""

from __future__ import annotations

from typing import Any

from torch import nn

from .._inputs import TargetType, TensorOrTuple, as_tuple, like_inputs
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
    ) -> TensorOrTuple:
        """Return guided backprop x upsampled Grad-CAM for each input tensor."""
        xs, was_tuple = as_tuple(inputs)
        cam = self.grad_cam.attribute(
            inputs,
            target,
            additional_forward_args,
            attribute_to_layer_input,
            relu_attributions=True,
        )
        guided, _ = as_tuple(
            self.guided_backprop.attribute(inputs, target, additional_forward_args)
        )
        out = []
        for i, (x, g) in enumerate(zip(xs, guided)):
            if x.dim() != cam.dim():
                raise AttributionValueError(
                    f"inputs[{i}] has shape {tuple(x.shape)} and the Grad-CAM map "
                    f"{tuple(cam.shape)}; they need the same number of dimensions to upsample"
                )
            out.append(g * LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode))
        return like_inputs(tuple(out), was_tuple)
