"""Feature ablation of one neuron."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._engine.inputs import BaselineType, TensorOrTuple
from ..attribution import NeuronAttribution, PerturbationAttribution
from ..primary.feature_ablation import FeatureAblation


class NeuronFeatureAblation(NeuronAttribution, PerturbationAttribution):
    """The drop of the selected neuron when groups of input features are ablated; the
    forward pass stops at the layer.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronFeatureAblation
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> x = torch.ones(2, 3)
    >>> attr = NeuronFeatureAblation(net, net[0]).attribute(x, neuron_selector=2)
    >>> torch.allclose(attr, net[0].weight[2].expand(2, 3))
    True
    """

    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: Any,
        baselines: BaselineType = None,
        additional_forward_args: Any = None,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        attribute_to_neuron_input: bool = False,
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
    ) -> TensorOrTuple:
        """Return the neuron's drop for each element's group."""
        f = self.neuron_function(neuron_selector, attribute_to_neuron_input)
        return FeatureAblation(f).attribute(
            inputs,
            baselines,
            None,
            additional_forward_args,
            feature_mask,
            perturbations_per_eval,
            show_progress,
        )
