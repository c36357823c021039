"""Infidelity (Yeh et al., 2019, "On the (In)fidelity and Sensitivity of Explanations")."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.batching import Layout, chunk_slices
from .._engine.inputs import (
    BaselineType,
    Target,
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_positive_int,
    format_additional_args,
    format_baselines,
    format_target,
    like_inputs,
    repeat_batch,
)
from .._engine.outputs import run_forward
from .._engine.perturbation import evaluate_chunk
from ..errors import AttributionValueError
from ._common import example_groups, flat_concat, samples_per_chunk, select_examples


def infidelity_perturb_func_decorator(multiply_by_inputs: bool = True) -> Callable:
    """Turn a function returning perturbed inputs into one returning
    ``(perturbations, perturbed_inputs)``, as :func:`infidelity` expects.

    The perturbation is ``x - x_perturbed``, divided by ``x - baseline`` (where it is not
    zero) when the attributions are multiplied by the inputs.

    Examples
    --------
    >>> import torch
    >>> @infidelity_perturb_func_decorator(multiply_by_inputs=False)
    ... def shrink(x):
    ...     return x * 0.9
    >>> perturbation, perturbed = shrink(torch.ones(1, 2))
    >>> perturbation
    tensor([[0.1000, 0.1000]])
    """

    def decorator(perturb_func: Callable) -> Callable:
        @functools.wraps(perturb_func)
        def wrapped(inputs: TensorOrTuple, baselines: Any = None):
            perturbed = (
                perturb_func(inputs) if baselines is None else perturb_func(inputs, baselines)
            )
            xs, was_tuple = as_tuple(inputs)
            ps, _ = as_tuple(perturbed, "perturbed inputs")
            bases = format_baselines(baselines, xs)
            perturbations = []
            for x, p, b in zip(xs, ps, bases):
                d = x - p
                if multiply_by_inputs:
                    scale = x - b
                    d = d / torch.where(scale != 0, scale, torch.ones_like(scale))
                perturbations.append(d)
            return like_inputs(tuple(perturbations), was_tuple), like_inputs(ps, was_tuple)

        return wrapped

    return decorator


@torch.no_grad()
def infidelity(
    forward_func: Callable,
    perturb_func: Callable,
    inputs: TensorOrTuple,
    attributions: TensorOrTuple,
    baselines: BaselineType = None,
    additional_forward_args: Any = None,
    target: TargetType = None,
    n_perturb_samples: int = 10,
    max_examples_per_batch: int | None = None,
    normalize: bool = False,
) -> Tensor:
    r"""How well the attributions predict the output change under perturbations :math:`I`:

    .. math:: INFD(\Phi, F, x) = E_I\left[\left(I^T \Phi(x) - (F(x) - F(x - I))\right)^2\right]

    Lower is better; 0 for a linear model explained by its gradient with the perturbations
    :math:`I` and :math:`x - I`. ``perturb_func(inputs[, baselines])`` returns
    ``(perturbations, perturbed_inputs)`` for a batch that holds every example
    ``n_perturb_samples`` times (use :func:`infidelity_perturb_func_decorator` to return only
    the perturbed inputs). With ``normalize=True`` the attributions are first rescaled by
    the :math:`\beta` that minimises the error, which makes methods of different scales
    comparable. Cost: ``n_perturb_samples`` model evaluations per example, batched
    (``max_examples_per_batch`` rows at most: whole perturbations of every example when they
    fit, as Captum splits them; groups of examples when even one perturbation of the batch
    does not).

    Returns
    -------
    tensor (N,)
        The infidelity of each example.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> net = torch.nn.Linear(4, 1)
    >>> x = torch.randn(3, 4)
    >>> def perturb(inputs):
    ...     noise = torch.randn_like(inputs)
    ...     return noise, inputs - noise
    >>> attr = Saliency(net).attribute(x, abs=False)
    >>> bool(infidelity(net, perturb, x, attr).max() < 1e-10)
    True
    """
    xs, was_tuple = as_tuple(inputs)
    attrs, _ = as_tuple(attributions, "attributions")
    if len(attrs) != len(xs) or any(a.shape != x.shape for a, x in zip(attrs, xs)):
        raise AttributionValueError(
            f"`attributions` must have the shapes of `inputs` {[tuple(x.shape) for x in xs]}, "
            f"got {[tuple(a.shape) for a in attrs]}"
        )
    check_positive_int(n_perturb_samples, "n_perturb_samples")
    n = xs[0].shape[0]
    tgt = format_target(target, n)
    args = format_additional_args(additional_forward_args)
    bases = format_baselines(baselines, xs) if baselines is not None else None
    groups = example_groups(max_examples_per_batch, n)
    if len(groups) > 1:  # not even one perturbation of every example fits in a batch
        parts = []
        for g in groups:
            rows = like_inputs(tuple(x[g] for x in xs), was_tuple)
            part_attrs = like_inputs(tuple(a[g] for a in attrs), was_tuple)
            part_bases = None if bases is None else tuple(b[g] for b in bases)
            part_args = select_examples(args, n, g, args=True) or None
            parts.append(
                infidelity(
                    forward_func,
                    perturb_func,
                    rows,
                    part_attrs,
                    part_bases,
                    part_args,
                    _target_rows(tgt, g),
                    n_perturb_samples,
                    max_examples_per_batch,
                    normalize,
                )
            )
        return torch.cat(parts)
    reference = run_forward(forward_func, xs, tgt, args)
    dots, drops = [], []
    layout = Layout()
    chunk = samples_per_chunk(max_examples_per_batch, n, n_perturb_samples)
    for sl in chunk_slices(n_perturb_samples, chunk):
        m = sl.stop - sl.start
        rep = like_inputs(repeat_batch(xs, m), was_tuple)
        if bases is None:
            perturbations, perturbed = perturb_func(rep)
        else:
            perturbations, perturbed = perturb_func(
                rep, like_inputs(repeat_batch(bases, m), was_tuple)
            )
        perturbations, _ = as_tuple(perturbations, "perturbations")
        perturbed, _ = as_tuple(perturbed, "perturbed inputs")
        out = evaluate_chunk(forward_func, perturbed, m, n, tgt, args, layout)
        dots.append(
            (flat_concat(perturbations) * flat_concat(repeat_batch(attrs, m))).sum(1).view(m, n)
        )
        drops.append(reference.repeat(m).view(m, n) - out.view(m, n))
    dot, drop = torch.cat(dots).to(reference.dtype), torch.cat(drops)
    if normalize:
        denom = (dot * dot).mean(0)
        beta = (dot * drop).mean(0) / torch.where(denom != 0, denom, torch.ones_like(denom))
        dot = beta * dot
    return ((dot - drop) ** 2).mean(0)


def _target_rows(target: Target, rows: slice) -> Target:
    """The target of the examples ``rows``."""
    if target.per_example is None:
        return target
    return Target(per_example=target.per_example[rows])
