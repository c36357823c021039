"""The gradient of one neuron with respect to the inputs."""

from __future__ import annotations

from typing import Any

from .._engine.inputs import TensorOrTuple
from ..attribution import GradientAttribution, NeuronAttribution
from ..primary.saliency import Saliency


class NeuronGradient(NeuronAttribution, GradientAttribution):
    r""":math:`\partial a_j / \partial x_i` for the selected neuron :math:`a_j`; the forward
    pass stops at the layer.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronGradient
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> g = NeuronGradient(net, net[0]).attribute(torch.randn(2, 3), neuron_selector=1)
    >>> torch.allclose(g, net[0].weight[1].expand(2, 3))
    True
    """

    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: Any,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTuple:
        """Return the neuron's gradient with respect to each input tensor."""
        f = self.neuron_function(neuron_selector, attribute_to_neuron_input)
        return Saliency(f).attribute(inputs, None, False, additional_forward_args)
