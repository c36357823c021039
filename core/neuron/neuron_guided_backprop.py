"""Guided backpropagation and deconvolution of one neuron."""

from __future__ import annotations

from typing import Any

from .._engine.inputs import TensorOrTuple
from ..attribution import GradientAttribution, NeuronAttribution
from ..primary.deconvolution import Deconvolution
from ..primary.deeplift import refuse_torchscript
from ..primary.guided_backprop import GuidedBackprop, ModifiedReluGradientAttribution


class NeuronGuidedBackprop(NeuronAttribution, GradientAttribution):
    """Guided backpropagation from the selected neuron.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronGuidedBackprop
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4),
    ...                           torch.nn.ReLU())
    >>> NeuronGuidedBackprop(net, net[3]).attribute(torch.randn(2, 3), 1).shape
    torch.Size([2, 3])
    """

    _method: type[ModifiedReluGradientAttribution] = GuidedBackprop

    def __init__(self, model: Any, layer: Any, device_ids: Any = None) -> None:
        super().__init__(model, layer, device_ids)
        refuse_torchscript(model, type(self).__name__)

    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: Any,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTuple:
        """Return the modified gradient of the neuron for each input tensor."""
        f = self.neuron_function(neuron_selector, attribute_to_neuron_input)
        return self._method(f).attribute(inputs, None, additional_forward_args)


class NeuronDeconvolution(NeuronGuidedBackprop):
    """Deconvolution from the selected neuron.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronDeconvolution
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4))
    >>> NeuronDeconvolution(net, net[2]).attribute(torch.randn(2, 3), 0).shape
    torch.Size([2, 3])
    """

    _method = Deconvolution
