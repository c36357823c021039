"""Exact Shapley values (Shapley, 1953) over every coalition of feature groups."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.aggregate_output import accepts_aggregate_output
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    feature_index,
    format_additional_args,
    format_baselines,
    format_feature_mask,
    format_target,
    like_inputs,
)
from .._engine.perturbation import coalition_points, evaluate, resolve_chunk, spread
from ..attribution import PerturbationAttribution
from ..errors import AttributionValueError

MAX_FEATURES = 20


def shapley_matrix(n_features: int) -> tuple[Tensor, Tensor]:
    """All coalitions (``2^F x F`` booleans) and the ``F x 2^F`` matrix ``C`` with
    ``phi = C @ v``: :math:`C_{f,S} = w(|S|-1)` if :math:`f \\in S`, else :math:`-w(|S|)`,
    with :math:`w(s) = s!\\,(F-s-1)!/F!`."""
    codes = torch.arange(2**n_features)
    present = (codes.unsqueeze(1) >> torch.arange(n_features)) & 1 == 1
    size = present.sum(1)
    w = torch.tensor(
        [
            math.factorial(s) * math.factorial(n_features - s - 1) / math.factorial(n_features)
            for s in range(n_features)
        ]
        + [0.0],
        dtype=torch.float64,
    )
    coef = torch.where(present, w[(size - 1).clamp(min=0)].unsqueeze(1), -w[size].unsqueeze(1))
    return present, coef.t()


class ShapleyValues(PerturbationAttribution):
    r"""Exact Shapley values of the feature groups:

    .. math::
        \phi_f = \sum_{S \subseteq N \setminus \{f\}}
                 \frac{|S|!\,(|N|-|S|-1)!}{|N|!} \left(v(S \cup \{f\}) - v(S)\right)

    Each of the :math:`2^F` coalitions is evaluated once (not once per permutation), and
    the values are one matrix product away. Use a ``feature_mask`` to keep :math:`F` small
    (at most 20). Cost: :math:`2^F` model evaluations per example, in chunks.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import ShapleyValues
    >>> net = lambda x: x[:, 0] * x[:, 1] + x[:, 2]
    >>> ShapleyValues(net).attribute(torch.ones(1, 3))
    tensor([[0.5000, 0.5000, 1.0000]])
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
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
        max_memory: int | None = None,
    ) -> TensorOrTuple:
        """Return the exact Shapley value of each element's feature group."""
        xs, was_tuple = as_tuple(inputs)
        bases = format_baselines(baselines, xs)
        ids, groups = feature_index(format_feature_mask(feature_mask, xs))
        n, n_features = xs[0].shape[0], len(ids)
        if n_features > MAX_FEATURES:
            raise AttributionValueError(
                f"ShapleyValues evaluates all 2^F coalitions and `feature_mask` gives F = "
                f"{n_features} features (at most {MAX_FEATURES}); group features with "
                "`feature_mask`, or use ShapleyValueSampling or KernelShap"
            )
        args = format_additional_args(additional_forward_args)
        present, coef = shapley_matrix(n_features)
        present = present.to(xs[0].device)
        chunk = resolve_chunk(
            perturbations_per_eval, self.forward_func, xs, args, len(present), max_memory
        )
        values = evaluate(
            self.forward_func,
            lambda sl: coalition_points(present[sl], xs, bases, groups),
            len(present),
            n,
            format_target(target, n),
            args,
            chunk,
            show_progress,
            f"{self.get_name()} attribution",
        )
        phi = coef.to(device=values.device, dtype=values.dtype) @ values  # (F, n)
        return like_inputs(spread(phi.t(), groups, xs), was_tuple)
