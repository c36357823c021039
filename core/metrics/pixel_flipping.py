r"""Pixel flipping (Bach et al., 2015, "On pixel-wise explanations for non-linear classifier
decisions by layer-wise relevance propagation").

The input's elements are set to a baseline ``features_in_step`` at a time, most relevant
first, and the model's output is read after each step: a faithful map makes it fall fast.
The score is the area under the curve (unit steps, as Quantus' ``PixelFlipping`` with
``return_auc_per_sample=True``); lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import TargetType, format_additional_args, format_target
from .._engine.perturbation import evaluate, resolve_chunk
from ._common import check_features_in_step
from .faithfulness_correlation import baseline_values, flat_attributions


@dataclass
class FlippingCurve:
    """``scores`` ``(N, K)``: the output after each of the K steps; ``auc`` ``(N,)``."""

    scores: Tensor
    auc: Tensor


@torch.no_grad()
def pixel_flipping(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    *,
    features_in_step: int = 1,
    baseline: Any = "black",
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> FlippingCurve:
    """Flip the input's elements to ``baseline``, ``features_in_step`` at a time, most
    relevant first; the output after each step and the area under it.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(6, 1, bias=False)
    >>> x = torch.rand(2, 6)
    >>> exact = x * net.weight
    >>> good = pixel_flipping(net, x, exact, features_in_step=2, baseline=0.0).auc
    >>> bool((good < pixel_flipping(net, x, -exact, features_in_step=2, baseline=0.0).auc).all())
    True
    """
    n = inputs.shape[0]
    a = flat_attributions(inputs, attributions)
    n_features = a.shape[1]
    check_features_in_step(features_in_step, n_features)
    n_steps = math.ceil(n_features / features_in_step)
    rank = a.argsort(1, descending=True).argsort(1)  # 0: the most relevant element
    base = baseline_values(inputs, baseline).reshape(n, -1)
    flat = inputs.reshape(n, -1)
    tgt = format_target(target, n)
    args = format_additional_args(additional_forward_args)

    def build(sl: slice) -> tuple[Tensor, ...]:
        counts = torch.arange(sl.start + 1, sl.stop + 1, device=flat.device) * features_in_step
        gone = rank.unsqueeze(0) < counts.view(-1, 1, 1)  # (m, n, D)
        points = torch.where(gone, base.unsqueeze(0), flat.unsqueeze(0))
        return (points.reshape((-1,) + inputs.shape[1:]),)

    chunk = resolve_chunk(perturbations_per_eval, forward_func, (inputs,), args, n_steps)
    scores = evaluate(forward_func, build, n_steps, n, tgt, args, chunk).t()
    auc = torch.trapezoid(scores, dx=1.0, dim=1) if n_steps > 1 else scores[:, 0] * 0
    return FlippingCurve(scores, auc)
