"""GradientShap of one neuron."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._engine.inputs import TensorOrTuple
from ..attribution import GradientAttribution, NeuronAttribution
from ..primary.gradient_shap import GradientShap


class NeuronGradientShap(NeuronAttribution, GradientAttribution):
    """GradientShap with the selected neuron as the output.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronGradientShap
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> NeuronGradientShap(net, net[1]).attribute(torch.randn(2, 3), 0, torch.randn(5, 3),
    ...                                           generator=0).shape
    torch.Size([2, 3])
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
        baselines: Any,
        n_samples: int = 5,
        stdevs: float | tuple[float, ...] = 0.0,
        additional_forward_args: Any = None,
        attribute_to_neuron_input: bool = False,
        generator: int | torch.Generator | None = None,
    ) -> TensorOrTuple:
        """Return the neuron's GradientShap attributions for each input tensor."""
        f = self.neuron_function(neuron_selector, attribute_to_neuron_input)
        return GradientShap(f, self._multiply_by_inputs).attribute(
            inputs, baselines, n_samples, stdevs, None, additional_forward_args, generator=generator
        )
