"""Layer Gradient x Activation: the layer's activation times the output's gradient there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


class LayerGradientXActivation(LayerAttribution, GradientAttribution):
    r"""Attribution :math:`a_j \cdot \partial F / \partial a_j` for each neuron :math:`a_j`
    of the layer. Cost: one forward and one backward pass.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerGradientXActivation
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> LayerGradientXActivation(net, net[1]).attribute(torch.randn(2, 3), target=1).shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        forward_func: Callable,
        layer: Any,
        device_ids: Any = None,
        multiply_by_inputs: bool = True,
    ) -> None:
        super().__init__(forward_func, layer, device_ids)
        self._multiply_by_inputs = multiply_by_inputs

    @accepts_grad_kwargs
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
    ) -> Any:
        """Return gradient x activation (the gradient alone if not multiplying) per layer."""
        xs, _ = as_tuple(inputs)
        tgt = format_target(target, xs[0].shape[0])
        args = format_additional_args(additional_forward_args)
        grads, values, _ = layer_gradients(
            self.forward_func, self.layers, xs, tgt, args, attribute_to_layer_input
        )
        per_layer = [
            tuple(g * a.detach() for g, a in zip(gs, v)) if self._multiply_by_inputs else gs
            for gs, (v, _) in zip(grads, values)
        ]
        return self._answer(per_layer, [t for _, t in values])
