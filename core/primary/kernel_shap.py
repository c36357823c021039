"""KernelSHAP (Lundberg and Lee, 2017): LIME with the Shapley kernel, batched over examples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.aggregate_output import accepts_aggregate_output
from .._engine.regression import fit_regressor, weighted_least_squares
from .lime import Lime


def shapley_kernel_patterns(n_samples: int, n_features: int, generator) -> Tensor:
    r"""Coalitions drawn from the Shapley kernel, in antithetic pairs.

    The coalition size :math:`k \in \{1..F-1\}` is drawn with probability
    :math:`\propto (F-1) / (k (F-k))` and the members uniformly; each coalition is followed
    by its complement, which halves the variance of the estimate. The first two rows are the
    empty and the full coalition, which fix the efficiency constraint.
    """
    ends = torch.tensor([[False] * n_features, [True] * n_features])
    if n_features == 1:
        return ends
    k = torch.arange(1, n_features, dtype=torch.float32)  # sampling weights: float32 suffices
    size_prob = (n_features - 1) / (k * (n_features - k))
    half = (n_samples + 1) // 2
    sizes = torch.multinomial(size_prob, half, replacement=True, generator=generator) + 1
    ranks = torch.rand(half, n_features, generator=generator).argsort(1).argsort(1)
    coalitions = ranks < sizes.unsqueeze(1)
    paired = torch.stack([coalitions, ~coalitions], dim=1).reshape(-1, n_features)[:n_samples]
    return torch.cat([ends, paired])


def uniform_similarity(present: Tensor, xs, *_: Any) -> Tensor:
    """Weight 1 for every sample: the kernel is already in the sampling distribution."""
    return torch.ones(present.shape[0], xs[0].shape[0], dtype=xs[0].dtype, device=xs[0].device)


class KernelShap(Lime):
    r"""Shapley values estimated by a linear regression on coalitions (KernelSHAP).

    Coalitions are sampled from the Shapley kernel (in antithetic pairs) and the surrogate
    is fitted under the efficiency constraint :math:`\sum_f \phi_f = F(x) - F(x')`, with
    the intercept fixed at :math:`F(x')`. With enough samples the coefficients converge to
    the exact Shapley values; on a model that is linear in the feature groups they are exact
    for any sample. A batch of examples is explained in one call (shared coalitions, one
    batched solve). Cost: ``n_samples + 2`` model evaluations per example, in chunks.

    Parameters
    ----------
    forward_func : callable
        The model.
    interpretable_model : scikit-learn regressor, optional
        Fitted per example on the constrained problem (use ``fit_intercept=False``).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import KernelShap
    >>> net = lambda x: x[:, 0] * x[:, 1] + x[:, 2]
    >>> phi = KernelShap(net).attribute(torch.ones(2, 3), n_samples=200, generator=0)
    >>> torch.allclose(phi, torch.tensor([[0.5, 0.5, 1.0]] * 2), atol=1e-4)
    True
    """

    def __init__(self, forward_func: Callable, interpretable_model: Any = None) -> None:
        super().__init__(
            forward_func, interpretable_model, uniform_similarity, shapley_kernel_patterns
        )

    @accepts_aggregate_output
    def attribute(
        self,
        inputs,
        baselines=None,
        target=None,
        additional_forward_args=None,
        feature_mask=None,
        n_samples: int = 25,
        perturbations_per_eval="auto",
        return_input_shape: bool = True,
        show_progress: bool = False,
        generator=None,
        max_memory=None,
    ):
        """Return the estimated Shapley values; arguments as in :meth:`Lime.attribute`."""
        return super().attribute(
            inputs,
            baselines,
            target,
            additional_forward_args,
            feature_mask,
            n_samples,
            perturbations_per_eval,
            return_input_shape,
            show_progress,
            generator,
            max_memory,
        )

    def _fit(self, present: Tensor, values: Tensor, weights: Tensor, _extra: Any) -> Tensor:
        # rows 0 and 1 are the empty and the full coalition
        empty, full = values[0], values[1]
        gap = full - empty
        if present.shape[1] == 1:  # a single feature takes the whole gap
            return gap.unsqueeze(1)
        z = present[2:].to(values.dtype)
        # substitute phi_last = gap - sum(phi_rest), which makes the problem unconstrained:
        # y - empty - z_last * gap = (z_rest - z_last) . phi_rest
        y = values[2:] - empty - z[:, -1:] * gap
        design = z[:, :-1] - z[:, -1:]
        if self.interpretable_model is not None:
            rest = fit_regressor(self.interpretable_model, design, y, weights[2:])
        else:
            rest = weighted_least_squares(design, y, weights[2:], intercept=False)[0]
        return torch.cat([rest, (gap - rest.sum(1)).unsqueeze(1)], dim=1)
