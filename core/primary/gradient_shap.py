"""GradientShap (Lundberg and Lee, 2017): expected gradients with noise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._engine.batching import (
    auto_rows,
    chunk_slices,
    make_generator,
    progress,
    rand,
    randint,
    randn_like,
    steps_per_chunk,
)
from .._engine.gradients import compute_gradients
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_positive_int,
    expand_additional_args,
    format_additional_args,
    format_baseline_distribution,
    format_target,
    like_inputs,
    repeat_batch,
    require_float,
)
from .._engine.outputs import run_forward
from ..attribution import GradientAttribution
from ..errors import AttributionValueError


def per_input(value: float | tuple[float, ...], n_inputs: int, name: str) -> tuple[float, ...]:
    """A number for every input tensor: one number broadcast, or a tuple of them."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n_inputs
    if len(values) != n_inputs or not all(isinstance(v, (int, float)) and v >= 0 for v in values):
        raise AttributionValueError(
            f"`{name}` must be a non-negative number or a tuple of {n_inputs} of them, "
            f"got {value!r}"
        )
    return values


class Draws:
    """All ``S`` draws of a call, made up front and shared by every example of the batch:
    for draw ``s`` a baseline row, a noise pattern per input and a point ``alpha`` on the
    segment.

    Every example sees the same draws, so an example's attribution does not depend on the
    other examples in the call, nor on how the draws are split into chunks.
    """

    def __init__(self, xs, dist, sigmas, n_samples: int, gen) -> None:
        self.pick = randint(dist[0].shape[0], n_samples, xs[0].device, gen)
        self.noise = tuple(
            s * randn_like(x, gen, (n_samples,) + tuple(x.shape[1:])) if s > 0 else None
            for x, s in zip(xs, sigmas)
        )
        self.alpha = rand(n_samples, xs[0], gen)
        self.xs, self.dist = xs, dist

    def points(self, sl: slice):
        """``(noisy, refs, points)`` for the draws in ``sl``: tuples of ``m * n`` rows in
        ``m`` blocks of the ``n`` examples."""
        m, n = sl.stop - sl.start, self.xs[0].shape[0]
        noisy = tuple(
            x if e is None else x + e[sl].repeat_interleave(n, 0)
            for x, e in zip(repeat_batch(self.xs, m), self.noise)
        )
        refs = tuple(d[self.pick[sl]].repeat_interleave(n, 0) for d in self.dist)
        alpha = self.alpha[sl].repeat_interleave(n)
        points = tuple(
            r + alpha.view((-1,) + (1,) * (x.dim() - 1)) * (x - r) for x, r in zip(noisy, refs)
        )
        return noisy, refs, points


class GradientShap(GradientAttribution):
    r"""GradientShap: the expected value of gradient x (input - baseline).

    For each of ``n_samples`` draws, a baseline :math:`x'` is drawn from the given
    distribution, Gaussian noise :math:`\epsilon \sim N(0, \sigma^2)` is added to the input
    and a point is drawn uniformly on the segment between them (the draws are shared by the
    examples of a batch, so an example's attribution does not depend on the others):

    .. math::
        \phi_i(x) = E_{x', \epsilon, \alpha \sim U(0,1)}\left[
            \frac{\partial F(x' + \alpha (x + \epsilon - x'))}{\partial x_i}
            (x_i + \epsilon_i - x'_i) \right]

    In expectation this is Integrated Gradients averaged over the baselines, so the total
    attribution approaches :math:`F(x) - E[F(x')]`. Cost: ``n_samples`` forward and backward
    passes per example, ``internal_batch_size`` rows at a time.

    Parameters
    ----------
    forward_func : callable
        The model, or any function of the inputs returning a tensor.
    multiply_by_inputs : bool, default True
        Multiply the gradients by ``x + eps - x'``.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import GradientShap
    >>> net = torch.nn.Linear(3, 1)
    >>> x, background = torch.randn(4, 3), torch.randn(20, 3)
    >>> attr = GradientShap(net).attribute(x, baselines=background, n_samples=10, generator=0)
    >>> attr.shape
    torch.Size([4, 3])
    """

    _has_delta = True

    def __init__(self, forward_func: Callable, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: Any,
        n_samples: int = 5,
        stdevs: float | tuple[float, ...] = 0.0,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        internal_batch_size: int | str | None = "auto",
        generator: int | torch.Generator | None = None,
        show_progress: bool = False,
    ):
        """Return the attributions; the delta (if asked) has one entry per draw, ``N * n_samples``.

        Parameters
        ----------
        baselines : tensor, tuple or callable
            ``B`` reference rows per input tensor to draw baselines from.
        n_samples : int, default 5
            Draws per example.
        stdevs : float or tuple, default 0.0
            Standard deviation of the noise added to each input tensor.
        internal_batch_size : int, "auto" or None, default "auto"
            Rows per model evaluation ("auto": from a memory budget; None: all at once).
        generator : int or torch.Generator, optional
            Seed or generator for the draws (the global random state when None).
        """
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, type(self).__name__)
        check_positive_int(n_samples, "n_samples")
        sigmas = per_input(stdevs, len(xs), "stdevs")
        dist = format_baseline_distribution(baselines, xs)
        n = xs[0].shape[0]
        tgt = format_target(target, n)
        args = format_additional_args(additional_forward_args)
        gen = make_generator(generator)

        sums = [torch.zeros_like(x) for x in xs]
        deltas = []
        if internal_batch_size == "auto":
            internal_batch_size = auto_rows(self.forward_func, xs, args)
        per_chunk = steps_per_chunk(internal_batch_size, n, n_samples)
        chunks = chunk_slices(n_samples, per_chunk)
        draws = Draws(xs, dist, sigmas, n_samples, gen)
        for sl in progress(chunks, show_progress, f"{self.get_name()} attribution", len(chunks)):
            m = sl.stop - sl.start
            noisy, refs, points = draws.points(sl)
            m_tgt, m_args = tgt.expand(m), expand_additional_args(args, n, m)
            grads = compute_gradients(self.forward_func, points, m_tgt, m_args)
            if self._multiply_by_inputs:
                grads = tuple(g * (x - r) for g, x, r in zip(grads, noisy, refs))
            for i, g in enumerate(grads):
                sums[i] += g.reshape((m, n) + g.shape[1:]).sum(0)
            if return_convergence_delta:
                with torch.no_grad():
                    diff = run_forward(self.forward_func, noisy, m_tgt, m_args) - run_forward(
                        self.forward_func, refs, m_tgt, m_args
                    )
                total = sum(g.reshape(g.shape[0], -1).sum(1) for g in grads)
                deltas.append((total.to(diff.dtype) - diff).reshape(m, n))
        result = like_inputs(tuple(s / n_samples for s in sums), was_tuple)
        if not return_convergence_delta:
            return result
        # one row per example, its draws consecutive: index i * n_samples + s
        return result, torch.cat(deltas).t().reshape(-1)
