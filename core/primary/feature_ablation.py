"""Feature ablation: replace a group of features by a baseline and measure the output drop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.aggregate_output import accepts_aggregate_output
from .._engine.incremental import incremental_plans
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    feature_index,
    format_additional_args,
    format_baselines,
    format_feature_mask,
    format_target,
    like_inputs,
)
from .._engine.perturbation import ablate
from ..attribution import PerturbationAttribution


def typical_box(groups: Tensor, n_features: int) -> tuple[int, int]:
    """The median spatial extent (rows, columns) of the feature groups of a 4-D input."""
    g = groups[0].reshape(-1, groups.shape[-2], groups.shape[-1])  # (C|1, H, W)
    H, W = g.shape[-2:]
    ids = g.reshape(-1)
    rows = torch.arange(H, device=g.device).view(1, H, 1).expand_as(g).reshape(-1)
    cols = torch.arange(W, device=g.device).view(1, 1, W).expand_as(g).reshape(-1)
    extent = []
    for pos, size in ((rows, H), (cols, W)):
        lo = torch.full((n_features,), size, device=g.device).scatter_reduce(0, ids, pos, "amin")
        hi = torch.zeros(n_features, dtype=torch.long, device=g.device).scatter_reduce(
            0, ids, pos, "amax"
        )
        extent.append(int((hi - lo + 1).clamp(min=1).median()))
    return extent[0], extent[1]


def group_masks(groups: tuple[Tensor, ...], sl: slice) -> tuple[Tensor, ...]:
    """Boolean masks of feature positions ``sl``: ``(len(sl), 1|n, ...)`` per input."""
    k = torch.arange(sl.start, sl.stop, device=groups[0].device)
    return tuple(g.unsqueeze(0) == k.view((-1,) + (1,) * g.dim()) for g in groups)


class FeatureAblation(PerturbationAttribution):
    r"""Output drop when a feature group is set to its baseline:

    .. math:: A_i(x) = F(x) - F(x_{S(i) \leftarrow x'_{S(i)}})

    where :math:`S(i)` is the group of element :math:`i` (``feature_mask``; every element
    alone by default). Groups with the same id in several input tensors are ablated
    together. Cost: one model evaluation per group; all groups of a chunk are evaluated in
    one batch (``perturbations_per_eval``, ``"auto"`` by default).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import FeatureAblation
    >>> net = torch.nn.Linear(4, 1)
    >>> x = torch.ones(2, 4)
    >>> attr = FeatureAblation(net).attribute(x, baselines=0.0)
    >>> torch.allclose(attr, net.weight.expand(2, 4))
    True
    """

    _has_future = True

    def __init__(self, forward_func: Callable) -> None:
        super().__init__(forward_func)

    @accepts_aggregate_output
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
        max_memory: int | None = None,
        incremental: bool | str = "auto",
    ) -> TensorOrTuple:
        """Return the output drop of each element's group, shaped like the inputs.

        Parameters
        ----------
        baselines : None, number, tensor or tuple
            What an ablated element is set to (zeros by default).
        feature_mask : tensor or tuple of tensors, optional
            Integer group ids, broadcastable to each input (batch dimension 1 or N).
        perturbations_per_eval : int or "auto", default "auto"
            Groups evaluated per model call; "auto" sizes chunks from a memory budget.
            The result does not depend on it.
        max_memory : int, optional
            Budget in bytes for "auto".
        incremental : bool or "auto", default "auto"
            Evaluate the ablated images incrementally (exact; as :class:`Occlusion`): for
            spatially compact groups such as superpixels on a CNN, each layer recomputes
            only the region a group's removal changed. ``self.incremental_reason`` says why
            the last call did not.
        """
        xs, was_tuple = as_tuple(inputs)
        bases = format_baselines(baselines, xs)
        ids, groups = feature_index(format_feature_mask(feature_mask, xs))
        n_features = len(ids)
        args = format_additional_args(additional_forward_args)
        tgt = format_target(target, xs[0].shape[0])
        box = typical_box(groups[0], n_features) if xs[0].dim() == 4 else (1, 1)
        plans, self.incremental_reason = incremental_plans(
            self.forward_func, xs, args, box, incremental
        )
        attrs = ablate(
            self.forward_func,
            xs,
            bases,
            tgt,
            args,
            n_features,
            lambda sl: group_masks(groups, sl),
            per_eval=perturbations_per_eval,
            max_memory=max_memory,
            plans=plans,
            show_progress=show_progress,
            desc=f"{self.get_name()} attribution",
        )
        return like_inputs(attrs, was_tuple)
