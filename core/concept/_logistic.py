r"""L2-regularised logistic regression for many small problems at once, in the dual.

A CAV classifier sees few examples (tens to hundreds per concept) of many features (a
layer's activations: thousands to tens of thousands). The minimiser of

.. math:: f(w, b) = \frac1n \sum_i \log\big(1 + e^{z_i}\big) - y_i z_i
          + \frac{\alpha}{2}\lVert w\rVert^2, \qquad z_i = (x_i - \mu)^\top w + b

lies in the span of the centred examples (the representer theorem), ``w = X_c^T a``, so
with the centred Gram matrix ``K = X_c X_c^T`` the problem has ``n + 1`` unknowns:
``z = K a + b`` and the penalty is ``(alpha / 2) a^T K a``. Newton's method on ``(a, b)``
takes the step ``(Δa, Δb)`` solving

.. math:: \Big(\tfrac1n D K + \alpha I\Big)\Delta a + \tfrac1n D\mathbf 1\,\Delta b
          = \tfrac1n r + \alpha a, \qquad
          \tfrac1n \mathbf 1^\top D K \Delta a + \tfrac1n \mathbf 1^\top D \mathbf 1\,\Delta b
          = \tfrac1n \mathbf 1^\top r

(``r = σ(z) - y``, ``D = diag(σ(z)(1 - σ(z)))``; the first equation is the Newton equation
for ``a`` with its left factor ``K`` removed), halved while it does not lower ``f``. Every
experimental set is one problem of a batch; the Gram matrices of all sets come from one
Gram matrix of all the concepts' activations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _objective(gram: Tensor, y: Tensor, a: Tensor, b: Tensor, alpha: float) -> Tensor:
    z = (gram @ a.unsqueeze(-1)).squeeze(-1) + b.unsqueeze(-1)
    loss = (F.softplus(z) - y * z).mean(-1)
    return loss + 0.5 * alpha * (a * (gram @ a.unsqueeze(-1)).squeeze(-1)).sum(-1)


def newton_dual(
    gram: Tensor, y: Tensor, alpha: float, max_iter: int = 50, tol: float = 1e-12
) -> tuple[Tensor, Tensor]:
    """Dual coefficients ``a`` ``(B, n)`` and biases ``b`` ``(B,)`` of ``B`` problems with
    centred Gram matrices ``gram`` ``(B, n, n)`` and labels ``y`` ``(B, n)`` in {0, 1}."""
    gram, y = gram.double(), y.double()
    batch, n = y.shape
    a = gram.new_zeros(batch, n)
    b = gram.new_zeros(batch)
    eye = torch.eye(n, dtype=gram.dtype, device=gram.device)
    ones = gram.new_ones(batch, n, 1)
    value = _objective(gram, y, a, b, alpha)
    for _ in range(max_iter):
        z = (gram @ a.unsqueeze(-1)).squeeze(-1) + b.unsqueeze(-1)
        p = torch.sigmoid(z)
        d = (p * (1 - p)).clamp(min=1e-12).unsqueeze(-1) / n  # (B, n, 1)
        top = torch.cat([d * gram + alpha * eye, d * ones], -1)
        bottom = torch.cat([(d * gram).sum(1, keepdim=True), d.sum(1, keepdim=True)], -1)
        rhs = torch.cat([(p - y) / n + alpha * a, ((p - y) / n).sum(-1, keepdim=True)], -1)
        step = torch.linalg.solve(torch.cat([top, bottom], 1), rhs)
        t = gram.new_ones(batch)
        for _ in range(20):  # halve each problem's step until its objective drops
            new_a = a - t.unsqueeze(-1) * step[:, :n]
            new_b = b - t * step[:, n]
            new_value = _objective(gram, y, new_a, new_b, alpha)
            worse = new_value > value + 1e-15 * value.abs()
            if not worse.any():
                break
            t = torch.where(worse, t / 2, t)
        gain = (value - new_value).clamp(min=0)
        a, b, value = new_a, new_b, torch.minimum(new_value, value)
        if (gain <= tol * value.abs().clamp(min=1.0)).all():
            break
    return a, b


def centred(gram: Tensor) -> Tensor:
    """``H K H`` with ``H = I - 11^T / n``, per problem: the Gram matrix of centred rows."""
    rows = gram.mean(-1, keepdim=True)
    return gram - rows - rows.transpose(-1, -2) + gram.mean((-1, -2), keepdim=True)


def fit_sets(
    activations: Tensor, train: Tensor, targets: Tensor, alpha: float, gram: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Logistic regressions of ``S`` sets of rows of ``activations`` ``(N, F)``.

    ``train`` ``(S, n)`` indexes each set's rows and ``targets`` ``(S, n, k)`` holds
    ``k`` one-vs-rest labels per row. Returns the weights ``(S, k, F)`` and biases
    ``(S, k)`` of the models on the raw (uncentred) activations.
    """
    x = activations.float()
    x0 = x - x.mean(0)  # a global shift: the fits centre per set anyway
    if gram is None:
        gram = (x0 @ x0.T).double()
    sets, n = train.shape
    k = targets.shape[-1]
    g = gram[train.unsqueeze(-1), train.unsqueeze(-2)]  # (S, n, n)
    gc = centred(g)
    y = targets.permute(0, 2, 1).reshape(sets * k, n)
    a, b = newton_dual(gc.repeat_interleave(k, 0), y, alpha)
    coef = (a - a.mean(-1, keepdim=True)).view(sets, k, n)  # w = sum_i coef_i x_i
    b = b.view(sets, k)
    # bias on raw features: b - mu^T w, with mu^T w from the Gram matrix
    mu_w = (g.mean(1, keepdim=True) @ coef.transpose(1, 2)).squeeze(1)  # (S, k)
    rows = torch.zeros(sets * k, len(x), dtype=torch.float64, device=x.device)
    rows.scatter_add_(1, train.repeat_interleave(k, 0), coef.reshape(sets * k, n))
    weights = (rows.to(x.dtype) @ x0).view(sets, k, -1)
    bias = b - mu_w - (weights @ x.mean(0).to(weights)).double()
    return weights, bias.to(weights.dtype)
