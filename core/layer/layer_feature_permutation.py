"""Permutation feature importance at a layer: FeaturePermutation on a layer's neurons."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._engine.batching import make_generator
from .._engine.inputs import TargetType, TensorOrTuple, as_tuple
from ..errors import AttributionValueError
from ..primary.feature_permutation import FeaturePermutation, random_derangements
from .layer_feature_ablation import LayerFeatureAblation


class LayerFeaturePermutation(LayerFeatureAblation):
    r"""The output drop when a group of the layer's neurons takes the values it has for
    another example of the batch (one random derangement of the batch per group):

    .. math:: A_i(x^{(j)}) = F(x^{(j)}) - F\big(x^{(j)} \text{ with } a_{S(i)} \leftarrow
              a_{S(i)}(x^{(\pi(j))})\big)

    Groups come from ``layer_mask`` (every neuron its own by default). Needs a batch of at
    least two examples. Cost: one model evaluation per group, in chunks.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerFeaturePermutation
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> LayerFeaturePermutation(net, net[1]).attribute(torch.randn(5, 3), generator=0).shape
    torch.Size([5, 4])
    """

    def attribute(  # type: ignore[override]
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        layer_mask: Tensor | tuple[Tensor, ...] | None = None,
        perturbations_per_eval: int | str = "auto",
        attribute_to_layer_input: bool = False,
        show_progress: bool = False,
        generator: int | torch.Generator | None = None,
    ) -> Any:
        """Return each neuron group's permutation importance, shaped like the layer."""
        n = as_tuple(inputs)[0][0].shape[0]  # an empty batch is the common error
        if n < 2:
            raise AttributionValueError(
                f"{type(self).__name__} shuffles values across the batch and needs at least 2 "
                f"examples, got a batch of {n}"
            )
        gen = make_generator(generator)

        def shuffled(acts: tuple[Tensor, ...]):
            def rows(sl: slice) -> tuple[Tensor, ...]:
                perms = random_derangements(sl.stop - sl.start, n, gen).to(acts[0].device)
                return tuple(a[perms] for a in acts)

            return rows

        def whole_batch(with_layer, acts, groups, n_groups):
            # a loss over the batch, or several values per example with no target: the
            # primary method's whole-batch form, on the layer's values
            method = FeaturePermutation(with_layer)
            return method._whole_batch(acts, (), groups, n_groups, gen, show_progress)

        return self._ablate(
            inputs,
            target,
            additional_forward_args,
            layer_mask,
            attribute_to_layer_input,
            perturbations_per_eval,
            show_progress,
            shuffled,
            whole_batch,
        )
