"""Feature ablation at a layer: switch off groups of neurons and measure the output drop."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._engine.capture import capture, layer_values
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    expand_additional_args,
    feature_index,
    format_additional_args,
    format_baselines,
    format_feature_mask,
    format_target,
)
from .._engine.outputs import AggregateOutput
from .._engine.perturbation import ablate_and_compare, resolve_chunk
from ..attribution import LayerAttribution, PerturbationAttribution
from ..errors import AttributionValueError
from ..primary.feature_ablation import group_masks


class LayerFeatureAblation(LayerAttribution, PerturbationAttribution):
    r"""The output drop when a group of the layer's neurons is set to a baseline
    (``layer_baselines``, zero by default); groups come from ``layer_mask``.

    The model's inputs are replicated for each chunk of ablations and the layer's output is
    replaced by the ablated activations. Cost: one model evaluation per group, in chunks.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerFeatureAblation
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> LayerFeatureAblation(net, net[1]).attribute(torch.randn(2, 3)).shape
    torch.Size([2, 4])
    """

    def attribute(
        self,
        inputs: TensorOrTuple,
        layer_baselines: Any = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        layer_mask: Tensor | tuple[Tensor, ...] | None = None,
        attribute_to_layer_input: bool = False,
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
    ) -> Any:
        """Return the output drop of each neuron's group."""
        return self._ablate(
            inputs,
            target,
            additional_forward_args,
            layer_mask,
            attribute_to_layer_input,
            perturbations_per_eval,
            show_progress,
            lambda acts: format_baselines(layer_baselines, acts, "layer_baselines"),
        )

    def _ablate(
        self,
        inputs,
        target,
        additional_forward_args,
        layer_mask,
        to_input,
        per_eval,
        show_progress,
        replacement_rows,
        whole_batch=None,
    ):
        """The shared loop: ``replacement_rows(acts)`` gives, per layer tensor, the values
        that replace an ablated group (one row to broadcast, or ``(m, n, ...)`` blocks via
        a callable on the chunk's slice). ``whole_batch(model, acts, groups, n_groups)``
        handles a model that returns values for the whole batch rather than per example."""
        if isinstance(self.layer, (list, tuple)) and len(self.layers) > 1:
            raise AttributionValueError(f"{type(self).__name__} takes one layer")
        xs, _ = as_tuple(inputs)
        n = xs[0].shape[0]
        args = format_additional_args(additional_forward_args)
        ((acts, was_tuple),) = layer_values(self.forward_func, self.layers, xs, args, to_input)
        rows = replacement_rows(acts)
        ids, groups = feature_index(format_feature_mask(layer_mask, acts))
        n_groups = len(ids)

        def with_layer(*values: Tensor) -> Tensor:
            m = values[0].shape[0] // n
            with capture(self.layers, to_input, replace=[values]):
                return self.forward_func(
                    *(x.repeat((m,) + (1,) * (x.dim() - 1)) for x in xs),
                    *expand_additional_args(args, n, m),
                )

        chunk = resolve_chunk(per_eval, self.forward_func, xs, args, n_groups)
        try:
            attrs = ablate_and_compare(
                with_layer,
                acts,
                format_target(target, n),
                (),
                n_groups,
                masks=lambda sl: group_masks(groups, sl),
                replacements=rows
                if callable(rows)
                else lambda sl: tuple(b.unsqueeze(0) for b in rows),
                chunk=chunk,
                show_progress=show_progress,
                desc=f"{self.get_name()} attribution",
            )
        except AggregateOutput:
            if whole_batch is None or target is not None:
                raise AttributionValueError(
                    "the model returns values for the whole batch (or several per example "
                    f"with no target); {type(self).__name__} needs one output per example: "
                    "pass `target`"
                ) from None
            attrs = whole_batch(with_layer, acts, groups, n_groups)
        return self._answer([attrs], [was_tuple])
