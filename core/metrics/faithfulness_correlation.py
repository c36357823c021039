r"""Faithfulness correlation (Bhatt et al., IJCAI 2020, "Evaluating and Aggregating
Feature-based Model Explanations").

Over random subsets :math:`S` of the features, the correlation between the attribution the
subset holds and what the model loses when the subset is set to a baseline:

.. math:: \mu_F = \operatorname{corr}_{S}\Big(\sum_{i \in S} a_i,\; f(x) - f(x_{[S \gets b]})\Big)

Higher is better; a map that knows nothing (random, constant) scores about 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import TargetType, check_positive_int, format_additional_args, format_target
from .._engine.outputs import run_forward
from .._engine.perturbation import evaluate, resolve_chunk
from ..errors import AttributionTypeError, AttributionValueError


def baseline_values(inputs: Tensor, baseline: Any) -> Tensor:
    """The replacement of each element, shape of ``inputs``: ``"black"`` (each example's
    minimum), ``"white"`` (its maximum), ``"mean"``, a number or a tensor that broadcasts
    (Quantus' ``perturb_baseline`` names)."""
    n = inputs.shape[0]
    flat = inputs.reshape(n, -1)
    named = {"black": flat.amin, "white": flat.amax, "mean": flat.mean}
    if isinstance(baseline, str):
        if baseline not in named:
            raise AttributionValueError(
                f"`baseline` must be 'black', 'white', 'mean', a number or a tensor, got "
                f"{baseline!r}"
            )
        value = named[baseline](1).view((n,) + (1,) * (inputs.dim() - 1))
        return value.expand_as(inputs)
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(inputs, float(baseline))
    if isinstance(baseline, Tensor):
        try:
            return torch.broadcast_to(baseline.to(inputs), inputs.shape)
        except RuntimeError:
            raise AttributionValueError(
                f"`baseline` of shape {tuple(baseline.shape)} does not broadcast to the "
                f"inputs' shape {tuple(inputs.shape)}"
            ) from None
    raise AttributionTypeError(
        f"`baseline` must be 'black', 'white', 'mean', a number or a tensor, got "
        f"{type(baseline).__name__}"
    )


def flat_attributions(inputs: Tensor, attributions: Tensor) -> Tensor:
    """The attributions broadcast to the inputs (a map shared by the channels) and
    flattened, ``(N, D)``."""
    if not isinstance(inputs, Tensor) or not isinstance(attributions, Tensor):
        raise AttributionTypeError(
            f"`inputs` and `attributions` must be tensors, got {type(inputs).__name__} and "
            f"{type(attributions).__name__}"
        )
    try:
        a = torch.broadcast_to(attributions.detach(), inputs.shape)
    except RuntimeError:
        raise AttributionValueError(
            f"`attributions` of shape {tuple(attributions.shape)} do not broadcast to the "
            f"inputs' shape {tuple(inputs.shape)}"
        ) from None
    return a.reshape(inputs.shape[0], -1)


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson's correlation of each row of ``a`` with the same row of ``b`` (NaN where a
    row is constant)."""
    a, b = a.double(), b.double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def random_subsets(
    n: int, n_features: int, n_runs: int, subset_size: int, generator: torch.Generator | None
) -> Tensor:
    """``(n, n_runs, subset_size)`` flat feature indices, each subset without repetition."""
    return torch.stack(
        [
            torch.rand(n, n_features, generator=generator).argsort(1)[:, :subset_size]
            for _ in range(n_runs)
        ],
        dim=1,
    )


@torch.no_grad()
def faithfulness_correlation(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    *,
    n_runs: int = 100,
    subset_size: int = 224,
    baseline: Any = "black",
    subsets: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> Tensor:
    """Faithfulness correlation per example (Bhatt et al., 2020). Higher is better.

    Parameters
    ----------
    forward_func : callable
        The model.
    inputs : tensor (N, ...)
    attributions : tensor
        Broadcastable to ``inputs`` (a map ``(N, 1, H, W)`` is shared by the channels).
    target : int, tensor or list, optional
        The explained output of each example.
    n_runs, subset_size : int
        How many random subsets, of how many features (elements of the input) each.
    baseline : "black", "white", "mean", number or tensor
        What a subset's features are set to ("black": each example's minimum, as Quantus).
    subsets : tensor (N, n_runs, subset_size), optional
        The subsets' flat feature indices, drawn beforehand (to hand two libraries the same
        draws); drawn with ``generator`` otherwise.
    generator : torch.Generator or int, optional
    additional_forward_args, perturbations_per_eval
        As for the perturbation methods.

    Returns
    -------
    tensor (N,)
        Pearson's correlation over the runs (NaN where the attribution sums or the output
        drops do not vary).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(6, 1, bias=False)
    >>> x = torch.randn(3, 6)
    >>> exact = x * net.weight  # a linear model's exact contributions
    >>> score = faithfulness_correlation(net, x, exact, n_runs=20, subset_size=2, baseline=0.0,
    ...                                  generator=0)
    >>> bool((score > 0.999).all())
    True
    """
    n = inputs.shape[0]
    a = flat_attributions(inputs, attributions)
    n_features = a.shape[1]
    check_positive_int(n_runs, "n_runs")
    if isinstance(subset_size, bool) or not isinstance(subset_size, int):
        raise AttributionTypeError(f"`subset_size` must be an int, got {subset_size!r}")
    if not 1 <= subset_size <= n_features:
        raise AttributionValueError(
            f"`subset_size` must be between 1 and the number of features ({n_features}), got "
            f"{subset_size}"
        )
    if subsets is None:
        gen = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
        subsets = random_subsets(n, n_features, n_runs, subset_size, gen)
    elif not isinstance(subsets, Tensor) or subsets.shape != (n, n_runs, subset_size):
        shape = tuple(subsets.shape) if isinstance(subsets, Tensor) else type(subsets).__name__
        raise AttributionValueError(
            f"`subsets` must be a tensor ({n}, n_runs={n_runs}, subset_size={subset_size}) of "
            f"feature indices, got {shape}"
        )
    subsets = subsets.to(inputs.device).long()
    base = baseline_values(inputs, baseline).reshape(n, -1)
    flat = inputs.reshape(n, -1)
    tgt = format_target(target, n)
    args = format_additional_args(additional_forward_args)
    full = run_forward(forward_func, (inputs,), tgt, args)

    def build(sl: slice) -> tuple[Tensor, ...]:
        runs = subsets[:, sl].transpose(0, 1)  # (m, n, k)
        mask = torch.zeros((runs.shape[0], n, n_features), dtype=torch.bool, device=flat.device)
        mask.scatter_(2, runs, True)
        points = torch.where(mask, base.unsqueeze(0), flat.unsqueeze(0))
        return (points.reshape((-1,) + inputs.shape[1:]),)

    chunk = resolve_chunk(perturbations_per_eval, forward_func, (inputs,), args, n_runs)
    perturbed = evaluate(forward_func, build, n_runs, n, tgt, args, chunk).t()  # (n, runs)
    drops = full.unsqueeze(1) - perturbed
    sums = a.unsqueeze(1).expand(-1, n_runs, -1).gather(2, subsets).sum(2)
    return pearson(sums, drops).to(a.dtype if a.is_floating_point() else torch.float64)
