r"""Monotonicity (Arya et al., 2019, "One explanation does not fit all", and Luss et al.,
2019) and monotonicity correlation (Nguyen and Martínez, 2020, "On quantitative aspects of
model interpretability").

* **Monotonicity**: start from the baseline and put the input's features back a group at a
  time, *least* relevant first; the model's output should rise at every step. The score is 1
  where it never falls, else 0 (averaged over examples: the share of monotonic ones).
* **Monotonicity correlation**: perturb each group of features on its own (``n_samples``
  random values), measure the expected squared change of the output relative to the output,
  and correlate (Spearman) that sensitivity with the group's attribution. Higher is better.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import TargetType, check_positive_int, format_additional_args, format_target
from .._engine.outputs import run_forward
from .._engine.perturbation import evaluate, resolve_chunk
from ..errors import AttributionValueError
from ._common import average_ranks, check_features_in_step
from .faithfulness_correlation import baseline_values, flat_attributions, pearson


def _steps(a: Tensor, features_in_step: int) -> tuple[Tensor, int]:
    """Each element's step (0-based) when the elements are taken in ascending order of
    attribution, ``features_in_step`` at a time, and the number of steps."""
    n_features = a.shape[1]
    check_features_in_step(features_in_step, n_features)
    rank = a.argsort(1).argsort(1)  # 0: the least relevant element
    return rank // features_in_step, math.ceil(n_features / features_in_step)


@torch.no_grad()
def monotonicity(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    *,
    features_in_step: int = 1,
    baseline: Any = "black",
    absolute: bool = True,
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> Tensor:
    """1.0 where the output never falls as features are restored least relevant first,
    else 0.0 (Arya et al., 2019), per example. Higher is better.

    Relevance is the attribution's magnitude (``absolute=True``, as Quantus): the metric
    asks that every feature, put back, supports the output, so a map whose features push
    both ways fails it even when exact.

    Quantus 0.6's ``Monotonicity`` fills the whole input with the baseline and then
    "restores" features by replacing them with the baseline again, so its output never
    changes and every explanation scores True; here the restored features take the input's
    values, as in the paper.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 1, bias=False)
    >>> x = torch.ones(1, 2)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[1.0, 2.0]]))
    >>> monotonicity(net, x, x * net.weight, baseline=0.0).tolist()
    [1.0]
    >>> with torch.no_grad():  # the second feature, restored last, lowers the output
    ...     _ = net.weight.copy_(torch.tensor([[1.0, -2.0]]))
    >>> monotonicity(net, x, x * net.weight, baseline=0.0).tolist()
    [0.0]
    """
    n = inputs.shape[0]
    a = flat_attributions(inputs, attributions)
    step, n_steps = _steps(a.abs() if absolute else a, features_in_step)
    base = baseline_values(inputs, baseline).reshape(n, -1)
    flat = inputs.reshape(n, -1)
    tgt = format_target(target, n)
    args = format_additional_args(additional_forward_args)

    def build(sl: slice) -> tuple[Tensor, ...]:
        k = torch.arange(sl.start, sl.stop, device=flat.device).view(-1, 1, 1)
        restored = step.unsqueeze(0) <= k  # (m, n, D)
        points = torch.where(restored, flat.unsqueeze(0), base.unsqueeze(0))
        return (points.reshape((-1,) + inputs.shape[1:]),)

    chunk = resolve_chunk(perturbations_per_eval, forward_func, (inputs,), args, n_steps)
    curve = evaluate(forward_func, build, n_steps, n, tgt, args, chunk).t()
    return (curve.diff(dim=1) >= 0).all(1).to(torch.float64)


@torch.no_grad()
def monotonicity_correlation(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    *,
    n_samples: int = 100,
    features_in_step: int = 1,
    low: float = 0.0,
    high: float = 1.0,
    noise: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    eps: float = 1e-5,
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> Tensor:
    r"""Monotonicity correlation (Nguyen and Martínez, 2020), per example. Higher is better.

    For each group :math:`G` of ``features_in_step`` elements (in ascending order of
    :math:`|a|`), its elements are set to one uniform random value in ``[low, high)``,
    ``n_samples`` times; the group's sensitivity is
    :math:`\mathbb{E}[(f(x) - f(\tilde x))^2] / f(x)^2` (:math:`f(x)^2` replaced by 1 where
    :math:`|f(x)| < \epsilon`), and the score is Spearman's correlation between the groups'
    :math:`\sum_{i \in G} |a_i|` and their sensitivities.

    Parameters
    ----------
    noise : tensor (N, n_steps, n_samples), optional
        The random values, drawn beforehand (to hand two libraries the same draws); drawn
        with ``generator`` otherwise.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(8, 1, bias=False)
    >>> x = torch.rand(2, 8) + 1
    >>> score = monotonicity_correlation(net, x, x * net.weight, n_samples=20, generator=0)
    >>> bool((score > 0.8).all())
    True
    """
    n = inputs.shape[0]
    a = flat_attributions(inputs, attributions).abs()
    step, n_steps = _steps(a, features_in_step)
    check_positive_int(n_samples, "n_samples")
    if noise is None:
        gen = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
        noise = low + (high - low) * torch.rand(n, n_steps, n_samples, generator=gen)
    elif tuple(noise.shape) != (n, n_steps, n_samples):
        raise AttributionValueError(
            f"`noise` must be ({n}, n_steps={n_steps}, n_samples={n_samples}), got "
            f"{tuple(noise.shape)}"
        )
    noise = noise.to(device=inputs.device, dtype=inputs.dtype)
    flat = inputs.reshape(n, -1)
    tgt = format_target(target, n)
    args = format_additional_args(additional_forward_args)
    full = run_forward(forward_func, (inputs,), tgt, args)
    total = n_steps * n_samples  # perturbation p: step p // n_samples, sample p % n_samples

    def build(sl: slice) -> tuple[Tensor, ...]:
        p = torch.arange(sl.start, sl.stop, device=flat.device)
        k, s = p // n_samples, p % n_samples
        chosen = step.unsqueeze(0) == k.view(-1, 1, 1)  # (m, n, D)
        value = noise[:, k, s].t().unsqueeze(2)  # (m, n, 1)
        points = torch.where(chosen, value, flat.unsqueeze(0))
        return (points.reshape((-1,) + inputs.shape[1:]),)

    chunk = resolve_chunk(perturbations_per_eval, forward_func, (inputs,), args, total)
    out = evaluate(forward_func, build, total, n, tgt, args, chunk).t()  # (n, total)
    out = out.reshape(n, n_steps, n_samples).double()
    f = full.double()
    inverse = torch.where(f.abs() >= eps, 1.0 / f.abs(), torch.ones_like(f)) ** 2
    sensitivity = ((out - f.view(n, 1, 1)) ** 2).mean(2) * inverse.unsqueeze(1)
    sums = torch.zeros(n, n_steps, dtype=torch.float64, device=a.device)
    sums.scatter_add_(1, step, a.double())
    return pearson(average_ranks(sums), average_ranks(sensitivity))
