"""Integrated Gradients of one neuron."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._engine.inputs import BaselineType, TensorOrTuple
from ..attribution import GradientAttribution, NeuronAttribution
from ..primary.integrated_gradients import IntegratedGradients


class NeuronIntegratedGradients(NeuronAttribution, GradientAttribution):
    r"""Integrated Gradients with the selected neuron as the output:
    :math:`(x_i - x'_i)\int_0^1 \partial a_j(x' + \alpha(x - x'))/\partial x_i\, d\alpha`.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronIntegratedGradients
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    >>> x = torch.randn(2, 3)
    >>> attr = NeuronIntegratedGradients(net, net[1]).attribute(x, neuron_selector=2)
    >>> neuron = lambda t: net[1](net[0](t))[:, 2]
    >>> torch.allclose(attr.sum(1), neuron(x) - neuron(torch.zeros_like(x)), atol=1e-4)
    True
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

    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: Any,
        baselines: BaselineType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | str | None = "auto",
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTuple:
        """Return the neuron's Integrated Gradients for each input tensor."""
        f = self.neuron_function(neuron_selector, attribute_to_neuron_input)
        return IntegratedGradients(f, self._multiply_by_inputs).attribute(
            inputs, baselines, None, additional_forward_args, n_steps, method, internal_batch_size
        )
