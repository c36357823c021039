"""Shapley value sampling (Castro et al., 2009; Strumbelj and Kononenko, 2014)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.aggregate_output import accepts_aggregate_output
from .._engine.batching import make_generator
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
    like_inputs,
)
from .._engine.perturbation import coalition_points, evaluate, resolve_chunk, spread
from ..attribution import PerturbationAttribution


def feature_orderings(n_samples: int, n_features: int, gen: torch.Generator | None) -> Tensor:
    """The orderings to average over, ``(S, F)``: every ordering once when there are no more
    than ``n_samples`` of them (the exact Shapley value, with ``F!`` orderings), otherwise
    random orderings in antithetic pairs, each followed by its reverse (a feature early in one
    is late in the other, which cancels much of the sampling noise; Mitchell et al., 2022,
    "Sampling Permutations for Shapley Value Estimation")."""
    if n_features <= 8 and math.factorial(n_features) <= n_samples:
        return torch.tensor(list(itertools.permutations(range(n_features)))).reshape(-1, n_features)
    half = torch.rand((n_samples + 1) // 2, n_features, generator=gen).argsort(1)
    return torch.stack([half, half.flip(1)], 1).reshape(-1, n_features)[:n_samples]


class ShapleyValueSampling(PerturbationAttribution):
    r"""Shapley values estimated from random feature orderings.

    For each of ``n_samples`` orderings :math:`\pi` of the features (random ones in
    antithetic pairs, or all ``F!`` when there are no more than ``n_samples``;
    :func:`feature_orderings`), the features
    are added one by one to the baseline in the order :math:`\pi`; each feature's
    contribution is the output change when it is added. The average over permutations is an
    unbiased estimate of its Shapley value

    .. math:: \phi_f = E_\pi\left[ v(P^\pi_f \cup \{f\}) - v(P^\pi_f) \right]

    where :math:`P^\pi_f` are the features before :math:`f` in :math:`\pi` and
    :math:`v(S)` is the output with the features in :math:`S` taken from the input and the
    rest from the baseline. The attributions sum exactly to :math:`F(x) - F(x')`. Cost:
    ``n_samples * (F - 1) + 2`` model evaluations per example, in chunks; the permutations
    are shared by every example of the batch.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import ShapleyValueSampling
    >>> net = lambda x: x[:, 0] * x[:, 1] + x[:, 2]
    >>> phi = ShapleyValueSampling(net).attribute(torch.ones(1, 3), n_samples=500, generator=0)
    >>> phi.sum().item(), round(phi[0, 2].item(), 4)      # exact: [[0.5, 0.5, 1.0]]
    (2.0, 1.0)
    """

    _has_future = True

    def __init__(self, forward_func: Callable) -> None:
        super().__init__(forward_func)

    #: no target and several values per example: each value is attributed (Captum's form)
    _attributes_every_output = True

    @accepts_aggregate_output
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        n_samples: int = 25,
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
        generator: int | torch.Generator | None = None,
        max_memory: int | None = None,
    ) -> TensorOrTuple:
        """Return the estimated Shapley value of each element's feature group.

        Parameters
        ----------
        n_samples : int, default 25
            Number of random feature orderings.
        generator : int or torch.Generator, optional
            Seed or generator for the orderings (the global random state when None).
        """
        check_positive_int(n_samples, "n_samples")
        xs, was_tuple = as_tuple(inputs)
        bases = format_baselines(baselines, xs)
        ids, groups = feature_index(format_feature_mask(feature_mask, xs))
        n, n_features = xs[0].shape[0], len(ids)
        args = format_additional_args(additional_forward_args)
        gen = make_generator(generator)

        orders = feature_orderings(n_samples, n_features, gen)  # (S, F)
        n_samples = orders.shape[0]  # all F! orderings may be fewer than asked for
        ranks = orders.argsort(1).to(xs[0].device)  # position of each feature in its ordering
        # coalition j of ordering s holds the first j features: the empty and the full
        # coalition are shared by every ordering and evaluated once.
        steps = torch.arange(1, n_features, device=ranks.device)
        interior = (ranks.unsqueeze(1) < steps.view(1, -1, 1)).reshape(-1, n_features)
        coalitions = torch.cat(
            [interior.new_zeros(1, n_features), interior.new_ones(1, n_features), interior]
        )
        chunk = resolve_chunk(
            perturbations_per_eval, self.forward_func, xs, args, len(coalitions), max_memory
        )
        values = evaluate(
            self.forward_func,
            lambda sl: coalition_points(coalitions[sl], xs, bases, groups),
            len(coalitions),
            n,
            format_target(target, n),
            args,
            chunk,
            show_progress,
            f"{self.get_name()} attribution",
        )
        empty, full, inner = values[0], values[1], values[2:].view(n_samples, n_features - 1, n)
        path = torch.cat(
            [empty.expand(n_samples, 1, n), inner, full.expand(n_samples, 1, n)], dim=1
        )
        gains = path[:, 1:] - path[:, :-1]  # (S, F, n): gain of the feature added at step j
        phi = torch.zeros(n_features, n, dtype=values.dtype, device=values.device)
        phi.index_add_(0, orders.to(values.device).flatten(), gains.reshape(-1, n))
        return like_inputs(spread(phi.t() / n_samples, groups, xs), was_tuple)
