"""Scores of an attribution itself: its sparseness, entropy and effective complexity, and
its completeness error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_baselines,
    format_target,
)
from .._engine.outputs import run_forward
from ..errors import AttributionValueError
from ._common import flat_concat


def sparseness(attributions: TensorOrTuple) -> Tensor:
    r"""Gini index of :math:`|a|` per example (Chalasani et al., 2020): 0 when every feature
    gets the same share, near 1 when one feature gets it all. Higher means a more concise
    explanation.

    Examples
    --------
    >>> import torch
    >>> sparseness(torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 5.0]])).tolist()
    [0.0, 0.75]
    """
    attrs, _ = as_tuple(attributions, "attributions")
    a = flat_concat(attrs).abs().sort(dim=1).values
    d = a.shape[1]
    i = torch.arange(1, d + 1, dtype=a.dtype, device=a.device)
    total = a.sum(1)
    gini = ((2 * i - d - 1) * a).sum(1) / (d * total.clamp(min=torch.finfo(a.dtype).tiny))
    return torch.where(total > 0, gini, torch.zeros_like(gini))


def entropy_complexity(attributions: TensorOrTuple) -> Tensor:
    r"""Complexity (Bhatt et al., 2020): the entropy of each feature's fractional
    contribution :math:`p_i = |a_i| / \sum_j |a_j|`, :math:`-\sum_i p_i \log p_i` per
    example. Lower is better (a concise explanation); a constant map scores the most,
    :math:`\log D`; an all-zero map scores NaN (it has no contributions).

    Quantus' ``Complexity`` adds 1e-12 inside the logarithm; here :math:`0 \log 0 = 0`.

    Examples
    --------
    >>> import torch
    >>> entropy_complexity(torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 5.0]])).tolist()
    [1.3862943649291992, 0.0]
    """
    attrs, _ = as_tuple(attributions, "attributions")
    a = flat_concat(attrs).abs()
    total = a.sum(1, keepdim=True)
    p = a / torch.where(total > 0, total, torch.full_like(total, float("nan")))
    return 0.0 - torch.special.xlogy(p, p).sum(1)


def effective_complexity(attributions: TensorOrTuple, eps: float = 1e-5) -> Tensor:
    r"""Effective complexity (Nguyen and Martínez, 2020): how many features' :math:`|a_i|`,
    relative to the example's largest, exceed ``eps``. Lower is better.

    Each example is scaled by its own largest magnitude; Quantus' ``EffectiveComplexity``
    scales by the largest of the whole batch (its ``normalise_by_max`` over every axis), so
    there an example's count depends on the other examples of the call.

    Examples
    --------
    >>> import torch
    >>> effective_complexity(torch.tensor([[1.0, 1e-7, 0.5, 0.0]])).tolist()
    [2]
    """
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or eps < 0:
        raise AttributionValueError(f"`eps` must be a non-negative number, got {eps!r}")
    attrs, _ = as_tuple(attributions, "attributions")
    a = flat_concat(attrs).abs()
    top = a.amax(1, keepdim=True)
    return (a / torch.where(top > 0, top, torch.ones_like(top)) > eps).sum(1)


@torch.no_grad()
def completeness_gap(
    forward_func: Callable,
    inputs: TensorOrTuple,
    attributions: TensorOrTuple,
    baselines: BaselineType = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
) -> Tensor:
    r""":math:`|\sum_i a_i - (F(x) - F(x'))|` per example, for methods that promise
    completeness (Integrated Gradients, DeepLift, Shapley values...). Lower is better.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import IntegratedGradients
    >>> net = torch.nn.Linear(3, 1)
    >>> x = torch.randn(2, 3)
    >>> bool(completeness_gap(net, x, IntegratedGradients(net).attribute(x)).max() < 1e-5)
    True
    """
    xs, _ = as_tuple(inputs)
    attrs, _ = as_tuple(attributions, "attributions")
    bases = format_baselines(baselines, xs)
    tgt = format_target(target, xs[0].shape[0])
    args = format_additional_args(additional_forward_args)
    gap = run_forward(forward_func, xs, tgt, args) - run_forward(forward_func, bases, tgt, args)
    return (flat_concat(attrs).sum(1).to(gap.dtype) - gap).abs()
