"""Surrogate regressions for Lime and KernelShap, solved for every example at once."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionTypeError
from .precision import widen

RIDGE = 1e-6


def weighted_least_squares(
    design: Tensor, targets: Tensor, weights: Tensor, intercept: bool = True, ridge: float = RIDGE
) -> tuple[Tensor, Tensor]:
    """Solve ``n`` weighted least-squares problems sharing one design matrix.

    For each example ``i``: ``min_b sum_s w_si (y_si - c_i - z_s . b_i)^2 + ridge * ||b_i||^2``
    via the normal equations, batched over examples.

    Parameters
    ----------
    design : tensor (S, F)
        The interpretable samples, shared by every example.
    targets, weights : tensors (S, n)
        Model outputs and sample weights of each example.

    Returns
    -------
    coef : tensor (n, F)
    intercept : tensor (n,)
        Zeros when ``intercept`` is False.
    """
    z = widen(design)
    if intercept:
        z = torch.cat([torch.ones_like(z[:, :1]), z], dim=1)
    w = weights.to(z.dtype)
    y = targets.to(z.dtype)
    gram = torch.einsum("sf,si,sg->ifg", z, w, z)
    scale = gram.diagonal(dim1=1, dim2=2).mean(1).clamp(min=1e-12)
    penalty = torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
    if intercept:
        penalty[0, 0] = 0.0
    gram = gram + ridge * scale.view(-1, 1, 1) * penalty
    rhs = torch.einsum("sf,si->if", z, w * y)
    beta = torch.linalg.solve(gram, rhs.unsqueeze(-1)).squeeze(-1)
    beta = beta.to(targets.dtype)
    if intercept:
        return beta[:, 1:], beta[:, 0]
    return beta, torch.zeros_like(beta[:, 0])


def fit_regressor(model: Any, design: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
    """Fit a scikit-learn style regressor per example; return its ``coef_`` as ``(n, F)``."""
    from sklearn.base import clone

    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise AttributionTypeError(
            "`interpretable_model` must be a scikit-learn style regressor (with fit and "
            f"coef_), got {type(model).__name__}"
        )
    z = design.detach().cpu().double().numpy()
    coefs = []
    for i in range(targets.shape[1]):
        est = clone(model)
        est.fit(
            z,
            targets[:, i].detach().cpu().double().numpy(),
            sample_weight=weights[:, i].detach().cpu().double().numpy(),
        )
        coefs.append(torch.as_tensor(est.coef_, dtype=targets.dtype).reshape(-1))
    return torch.stack(coefs).to(targets.device)
