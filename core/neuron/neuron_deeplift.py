"""DeepLift and DeepLiftShap of one neuron."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._engine.inputs import BaselineType, TensorOrTuple
from ..attribution import GradientAttribution, NeuronAttribution
from ..primary.deeplift import DeepLift, refuse_torchscript
from ..primary.deeplift_shap import DeepLiftShap


class NeuronDeepLift(NeuronAttribution, GradientAttribution):
    r"""DeepLift with the selected neuron as the output: the attributions sum to
    :math:`a_j(x) - a_j(x')`.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronDeepLift
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> x = torch.randn(2, 3)
    >>> attr = NeuronDeepLift(net, net[1]).attribute(x, neuron_selector=1)
    >>> torch.allclose(attr.sum(1), net[1](net[0](x))[:, 1] - net[1](net[0].bias)[1], atol=1e-5)
    True
    """

    _method: type[DeepLift] = DeepLift

    def __init__(
        self, model: Callable, layer: Any, multiply_by_inputs: bool = True, eps: float = 1e-10
    ):
        super().__init__(model, layer)
        refuse_torchscript(model, type(self).__name__)
        self._multiply_by_inputs, self.eps = multiply_by_inputs, eps

    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: Any,
        baselines: BaselineType = None,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
        custom_attribution_func: Callable | None = None,
    ) -> TensorOrTuple:
        """Return the neuron's DeepLift attributions for each input tensor."""
        f = self.neuron_function(neuron_selector, attribute_to_neuron_input)
        method = self._method(f, self._multiply_by_inputs, self.eps)
        return method.attribute(
            inputs,
            baselines,
            None,
            additional_forward_args,
            custom_attribution_func=custom_attribution_func,
        )


class NeuronDeepLiftShap(NeuronDeepLift):
    """DeepLiftShap with the selected neuron as the output (``baselines``: ``B`` rows).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronDeepLiftShap
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> NeuronDeepLiftShap(net, net[1]).attribute(torch.randn(2, 3), 1, torch.randn(6, 3)).shape
    torch.Size([2, 3])
    """

    _method = DeepLiftShap
