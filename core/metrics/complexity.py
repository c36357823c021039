"""Scores of an attribution itself: its sparseness, and its completeness error."""

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
