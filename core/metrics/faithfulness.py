"""Deletion and insertion curves (Petsiuk et al., 2018, "RISE")."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_positive_int,
    feature_index,
    format_additional_args,
    format_baselines,
    format_feature_mask,
    format_target,
)
from .._engine.perturbation import blend, evaluate, resolve_chunk
from ..errors import AttributionValueError
from ..primary.lime import group_sums


@dataclass
class FaithfulnessCurve:
    """The model's score as features are deleted (or inserted) in order of attribution.

    ``fractions``: ``(K+1,)`` share of features changed at each step; ``scores``:
    ``(N, K+1)``; ``auc``: ``(N,)``, the area under each curve (trapezoid rule).
    """

    fractions: Tensor
    scores: Tensor
    auc: Tensor


def _curve(
    forward_func: Callable,
    inputs: TensorOrTuple,
    attributions: TensorOrTuple,
    target: TargetType,
    baselines: BaselineType,
    feature_mask: Any,
    n_steps: int,
    additional_forward_args: Any,
    perturbations_per_eval: int | str,
    show_progress: bool,
    insert: bool,
) -> FaithfulnessCurve:
    xs, _ = as_tuple(inputs)
    attrs, _ = as_tuple(attributions, "attributions")
    if len(attrs) != len(xs) or any(a.shape != x.shape for a, x in zip(attrs, xs)):
        raise AttributionValueError("`attributions` must have the shapes of `inputs`")
    check_positive_int(n_steps, "n_steps")
    n = xs[0].shape[0]
    bases = format_baselines(baselines, xs)
    ids, groups = feature_index(format_feature_mask(feature_mask, xs))
    n_features = len(ids)
    # a group's score is the mean attribution of its elements
    sizes = sum(group_sums(torch.ones_like(a), g, n_features) for a, g in zip(attrs, groups))
    scores = sum(group_sums(a.detach(), g, n_features) for a, g in zip(attrs, groups))
    scores = scores / sizes.clamp(min=1)
    scores = torch.where(sizes > 0, scores, torch.full_like(scores, -math.inf))
    rank = scores.argsort(1, descending=True).argsort(1)  # 0 = most important
    present = (sizes > 0).sum(1, keepdim=True)
    counts = torch.tensor(
        [round(k * n_features / n_steps) for k in range(n_steps + 1)], device=rank.device
    )
    fractions = counts.to(xs[0].dtype) / n_features

    def build(sl: slice) -> tuple[Tensor, ...]:
        changed = rank.unsqueeze(0) < counts[sl].view(-1, 1, 1).clamp(max=n_features)  # (m, n, F)
        changed = changed & (rank.unsqueeze(0) < present.unsqueeze(0))
        points = []
        for x, b, g in zip(xs, bases, groups):
            idx = g.expand((n,) + g.shape[1:]).reshape(1, n, -1).expand(changed.shape[0], -1, -1)
            mask = changed.gather(2, idx).view((changed.shape[0], n) + g.shape[1:])
            # deletion: changed elements take the baseline; insertion: they keep the input
            points.append(
                blend(~mask, b.unsqueeze(0), x) if insert else blend(mask, b.unsqueeze(0), x)
            )
        return tuple(points)

    args = format_additional_args(additional_forward_args)
    chunk = resolve_chunk(perturbations_per_eval, forward_func, xs, args, n_steps + 1)
    values = evaluate(
        forward_func,
        build,
        n_steps + 1,
        n,
        format_target(target, n),
        args,
        chunk,
        show_progress,
        "insertion" if insert else "deletion",
    )
    curves = values.t()  # (N, K+1)
    auc = torch.trapezoid(curves, fractions.to(curves.dtype), dim=1)
    return FaithfulnessCurve(fractions, curves, auc)


def deletion_curve(
    forward_func: Callable,
    inputs: TensorOrTuple,
    attributions: TensorOrTuple,
    target: TargetType = None,
    baselines: BaselineType = None,
    feature_mask: Any = None,
    n_steps: int = 20,
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
    show_progress: bool = False,
) -> FaithfulnessCurve:
    """Replace the most important features by the baseline, ``1/n_steps`` of them at a time,
    and record the score. A faithful attribution makes it fall fast: lower area is better.

    Features are elements, or groups of ``feature_mask`` (e.g. superpixels; a group's
    importance is its mean attribution). All steps are evaluated as batched model calls.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[3.0, 1.0, 2.0]])
    >>> curve = deletion_curve(lambda t: t.sum(1), x, attributions=x, n_steps=3)
    >>> curve.scores.tolist(), curve.fractions.tolist()
    ([[6.0, 3.0, 1.0, 0.0]], [0.0, 0.3333333432674408, 0.6666666865348816, 1.0])
    """
    return _curve(
        forward_func,
        inputs,
        attributions,
        target,
        baselines,
        feature_mask,
        n_steps,
        additional_forward_args,
        perturbations_per_eval,
        show_progress,
        insert=False,
    )


def insertion_curve(
    forward_func: Callable,
    inputs: TensorOrTuple,
    attributions: TensorOrTuple,
    target: TargetType = None,
    baselines: BaselineType = None,
    feature_mask: Any = None,
    n_steps: int = 20,
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
    show_progress: bool = False,
) -> FaithfulnessCurve:
    """Start from the baseline and insert the most important features first; a faithful
    attribution makes the score rise fast: higher area is better.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[3.0, 1.0, 2.0]])
    >>> insertion_curve(lambda t: t.sum(1), x, attributions=x, n_steps=3).scores.tolist()
    [[0.0, 3.0, 5.0, 6.0]]
    """
    return _curve(
        forward_func,
        inputs,
        attributions,
        target,
        baselines,
        feature_mask,
        n_steps,
        additional_forward_args,
        perturbations_per_eval,
        show_progress,
        insert=True,
    )
