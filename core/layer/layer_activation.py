"""The activation of a layer: what it outputs (or receives) for the inputs."""

from __future__ import annotations

from typing import Any

from .._engine.capture import layer_values
from .._engine.inputs import TensorOrTuple, as_tuple, format_additional_args
from ..attribution import LayerAttribution


class LayerActivation(LayerAttribution):
    """The layer's output (or input) itself, computed without running the rest of the model.

    Accepts a list of layers (a list of activations is returned). The forward pass stops
    once every layer has run, so a module called several times reports its first call.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerActivation
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> LayerActivation(net, net[1]).attribute(torch.randn(2, 3)).shape
    torch.Size([2, 4])
    """

    #: global attributions (in the units of the output), as Captum reports them
    _multiply_by_inputs = True

    def attribute(
        self,
        inputs: TensorOrTuple,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
    ) -> Any:
        """Return the activation of each layer (a tuple where the layer gives one)."""
        xs, _ = as_tuple(inputs)
        args = format_additional_args(additional_forward_args)
        values = layer_values(self.forward_func, self.layers, xs, args, attribute_to_layer_input)
        return self._answer([v for v, _ in values], [t for _, t in values])
