"""Max-sensitivity (Yeh et al., 2019): how much an explanation changes under small noise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.batching import chunk_slices, make_generator
from .._engine.callbacks import call_leading
from .._engine.inputs import TensorOrTuple, as_tuple, check_positive_int, like_inputs, repeat_batch
from ._common import (
    example_groups,
    expand_per_example,
    flat_concat,
    samples_per_chunk,
    select_examples,
)


def default_perturb_func(
    inputs: TensorOrTuple, perturb_radius: float = 0.02, generator: torch.Generator | None = None
) -> TensorOrTuple:
    """Add noise drawn uniformly from the L-infinity ball of radius ``perturb_radius``."""
    xs, was_tuple = as_tuple(inputs)
    noisy = []
    for x in xs:
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        noisy.append(x + (2 * u - 1) * perturb_radius)
    return like_inputs(tuple(noisy), was_tuple)


@torch.no_grad()
def sensitivity_max(
    explanation_func: Callable,
    inputs: TensorOrTuple,
    perturb_func: Callable = default_perturb_func,
    perturb_radius: float = 0.02,
    n_perturb_samples: int = 10,
    norm_ord: str | float = "fro",
    max_examples_per_batch: int | None = None,
    generator: int | torch.Generator | None = None,
    **kwargs: Any,
) -> Tensor:
    r"""The largest relative change of the explanation over ``n_perturb_samples`` draws:

    .. math:: SENS_{max}(\Phi, x) = \max_{\|y - x\|_\infty \le r}
              \frac{\|\Phi(y) - \Phi(x)\|}{\|\Phi(x)\|}

    Lower is better (a stable explanation). ``explanation_func(inputs, **kwargs)`` is e.g.
    a method's ``attribute``; per-example ``kwargs`` (targets, baselines, the tensors among
    ``additional_forward_args``) are replicated with the noisy copies, as Captum replicates
    them. The copies are explained in batches of at most ``max_examples_per_batch`` rows
    (whole perturbations of every example when they fit, as Captum splits them; groups of
    examples when even one perturbation of the batch does not). ``perturb_func(inputs,
    perturb_radius)`` or ``perturb_func(inputs)`` draws the noise (uniform in the
    L-infinity ball by default, reproducible with ``generator``).

    Returns
    -------
    tensor (N,)

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> net = torch.nn.Linear(4, 2)
    >>> sens = sensitivity_max(Saliency(net).attribute, torch.randn(3, 4), target=1, generator=0)
    >>> sens.tolist()
    [0.0, 0.0, 0.0]
    """
    xs, was_tuple = as_tuple(inputs)
    check_positive_int(n_perturb_samples, "n_perturb_samples")
    n = xs[0].shape[0]
    gen = make_generator(generator)
    groups = example_groups(max_examples_per_batch, n)
    if len(groups) > 1:  # not even one perturbation of every example fits in a batch
        return torch.cat(
            [
                sensitivity_max(
                    explanation_func,
                    like_inputs(tuple(x[g] for x in xs), was_tuple),
                    perturb_func,
                    perturb_radius,
                    n_perturb_samples,
                    norm_ord,
                    max_examples_per_batch,
                    gen,
                    **{k: select_examples(v, n, g, _is_args(k)) for k, v in kwargs.items()},
                )
                for g in groups
            ]
        )
    order = 2 if norm_ord == "fro" else norm_ord
    base, _ = as_tuple(explanation_func(inputs, **kwargs), "explanation")
    base_flat = flat_concat(base)
    base_norm = torch.linalg.vector_norm(base_flat, ord=order, dim=1)
    worst = torch.zeros(n, dtype=base_flat.dtype, device=base_flat.device)
    chunk = samples_per_chunk(max_examples_per_batch, n, n_perturb_samples)
    for sl in chunk_slices(n_perturb_samples, chunk):
        m = sl.stop - sl.start
        rep = like_inputs(repeat_batch(xs, m), was_tuple)
        if perturb_func is default_perturb_func:
            noisy = perturb_func(rep, perturb_radius, gen)
        else:  # Captum's forms: perturb_func(inputs) or perturb_func(inputs, perturb_radius)
            noisy = call_leading(perturb_func, rep, perturb_radius, name="perturb_func", least=1)
        kw = {k: expand_per_example(v, n, m, _is_args(k)) for k, v in kwargs.items()}
        expl, _ = as_tuple(explanation_func(noisy, **kw), "explanation")
        change = torch.linalg.vector_norm(
            flat_concat(expl) - base_flat.repeat(m, 1), ord=order, dim=1
        )
        ratio = change.view(m, n) / torch.where(
            base_norm != 0, base_norm, torch.ones_like(base_norm)
        )
        worst = torch.maximum(worst, ratio.max(0).values)
    return worst


def _is_args(keyword: str) -> bool:
    """``additional_forward_args`` is a tuple (or list) of arguments, not one argument."""
    return keyword == "additional_forward_args"
