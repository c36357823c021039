r"""Path-dependent tree Shapley values (Lundberg et al., 2020): no background; a feature
outside the coalition follows both branches of its splits, weighted by the training cover.

For a leaf of value ``v`` whose path constrains features ``d = 1..D``, the coalition
``S`` reaches it with weight

.. math:: g(S) = v \prod_d \big(a_d \text{ if } d \in S \text{ else } r_d\big),

where ``a_d`` is whether the row satisfies the path's interval on feature ``d`` and
``r_d`` the share of training cover that followed the path at the splits on ``d``. The
Shapley value of slot ``i`` of this product game is

.. math:: \phi_i = v\,(a_i - r_i) \sum_{k=0}^{D-1} \frac{k!\,(D-1-k)!}{D!}\,
          [t^k] \prod_{d \ne i} (r_d + a_d t),

which depends on the row only through its bit pattern ``a``: every leaf's ``2^D``
patterns are tabulated once (the polynomial products built slot by slot), and each row
gathers its patterns' values, as for the interventional variant. The values sum to
``f(x)`` minus the cover-weighted mean output (:func:`expected_value`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .ensemble import TreeEnsemble
from .interventional import check_depth, gather_contributions


def _pattern_bits(depth: int, device: torch.device) -> Tensor:
    """``(P, D)``: the bits of every pattern."""
    return ((torch.arange(1 << depth, device=device)[:, None] >> torch.arange(depth, device=device))
            & 1).to(torch.float64)  # fmt: skip


def _slot_values(ensemble: TreeEnsemble, trees: slice) -> Tensor:
    """``(t, L, P, D, K)``: each pattern's Shapley value per slot, for some trees."""
    depth = ensemble.features.shape[-1]
    a = _pattern_bits(depth, ensemble.values.device)  # (P, D)
    r = ensemble.shares[trees]  # (t, L, D)
    t_count, l_count = r.shape[:2]
    n_patterns = a.shape[0]
    # coefficients of prod_{d != i} (r_d + a_d t), for every slot i: (t, L, P, D_i, D)
    coef = torch.zeros(t_count, l_count, n_patterns, depth, depth, dtype=torch.float64,
                       device=r.device)  # fmt: skip
    coef[..., 0] = 1.0
    eye = torch.eye(depth, dtype=torch.bool, device=r.device)
    for d in range(depth):
        rd = r[:, :, None, None, d : d + 1]  # (t, L, 1, 1, 1)
        ad = a[None, None, :, None, d : d + 1]  # (1, 1, P, 1, 1)
        shifted = torch.nn.functional.pad(coef[..., :-1], (1, 0))
        updated = coef * rd + shifted * ad
        coef = torch.where(eye[d].view(1, 1, 1, depth, 1), coef, updated)
    fact = [math.factorial(i) for i in range(depth + 1)]
    weights = torch.tensor([fact[k] * fact[depth - 1 - k] / fact[depth] for k in range(depth)],
                           dtype=torch.float64, device=r.device)  # fmt: skip
    summed = coef @ weights  # (t, L, P, D)
    phi = (a[None, None] - r[:, :, None, :]) * summed
    return phi.unsqueeze(-1) * ensemble.values[trees][:, :, None, None, :]


def expected_value(ensemble: TreeEnsemble) -> Tensor:
    """``(K,)``: the cover-weighted mean output (what no feature known gives)."""
    reach = ensemble.shares.prod(-1)  # (T, L)
    return ensemble.base + torch.einsum("tl,tlk->k", reach, ensemble.values)


def path_dependent_shap(ensemble: TreeEnsemble, x: Tensor, chunk: int = 256,
                        trees_per_step: int = 32) -> Tensor:  # fmt: skip
    """Path-dependent Shapley values ``(N, F, K)``; row ``n``'s values sum to its output
    minus :func:`expected_value`."""
    if ensemble.shares is None:
        raise ValueError("this ensemble was read without its cover; re-read the model")
    check_depth(ensemble)
    x = ensemble.prepare(x)
    n_trees = ensemble.features.shape[0]
    per_pattern = torch.cat([_slot_values(ensemble, slice(s, s + trees_per_step))
                             for s in range(0, n_trees, trees_per_step)])  # fmt: skip
    return gather_contributions(ensemble, per_pattern, x, chunk)


def _pair_values(ensemble: TreeEnsemble, trees: slice) -> Tensor:
    """``(t, L, P, D, D, K)``: each pattern's interaction value for every pair of slots
    ``i != j`` (the diagonal is 0 here)."""
    depth = ensemble.features.shape[-1]
    a = _pattern_bits(depth, ensemble.values.device)  # (P, D)
    r = ensemble.shares[trees]  # (t, L, D)
    t_count, l_count = r.shape[:2]
    n_patterns = a.shape[0]
    # coefficients of prod_{d not in {i, j}} (r_d + a_d t): (t, L, P, D_i, D_j, D)
    coef = torch.zeros(t_count, l_count, n_patterns, depth, depth, max(depth - 1, 1),
                       dtype=torch.float64, device=r.device)  # fmt: skip
    coef[..., 0] = 1.0
    index = torch.arange(depth, device=r.device)
    for d in range(depth):
        rd = r[:, :, None, None, None, d : d + 1]
        ad = a[None, None, :, None, None, d : d + 1]
        shifted = torch.nn.functional.pad(coef[..., :-1], (1, 0))
        updated = coef * rd + shifted * ad
        skip = (index.view(depth, 1) == d) | (index.view(1, depth) == d)  # d is i or j
        coef = torch.where(skip.view(1, 1, 1, depth, depth, 1), coef, updated)
    fact = [math.factorial(i) for i in range(depth + 1)]
    weights = torch.tensor(
        [fact[k] * fact[depth - 2 - k] / (2 * fact[depth - 1]) if depth >= 2 else 0.0
         for k in range(max(depth - 1, 1))], dtype=torch.float64, device=r.device,
    )  # fmt: skip
    summed = coef @ weights  # (t, L, P, D, D)
    delta = a[None, None] - r[:, :, None, :]  # (t, L, P, D)
    pair = delta.unsqueeze(-1) * delta.unsqueeze(-2) * summed
    pair = pair * ~torch.eye(depth, dtype=torch.bool, device=r.device)
    return pair.unsqueeze(-1) * ensemble.values[trees][:, :, None, None, None, :]


def path_dependent_interactions(ensemble: TreeEnsemble, x: Tensor, chunk: int = 64,
                                trees_per_step: int = 8) -> Tensor:  # fmt: skip
    """Shapley interaction values ``(N, F, F, K)`` of the path-dependent game (shap's
    convention): off the diagonal, half the Shapley interaction index of each pair, so
    that ``Φ_ij = Φ_ji``; on it, ``φ_i - Σ_{j≠i} Φ_ij``. Each row's matrix sums over
    ``j`` to its Shapley values."""
    if ensemble.shares is None:
        raise ValueError("this ensemble was read without its cover; re-read the model")
    depth = check_depth(ensemble)
    x = ensemble.prepare(x)
    n_trees = ensemble.features.shape[0]
    k = ensemble.values.shape[-1]
    n_features = ensemble.n_features
    pairs = torch.cat(
        [
            _pair_values(ensemble, slice(s, s + trees_per_step))
            for s in range(0, n_trees, trees_per_step)
        ]
    )  # (T, L, P, D, D, K) fmt: skip
    t_count, l_count, n_patterns = pairs.shape[:3]
    flat = pairs.reshape(t_count * l_count * n_patterns, depth * depth * k)
    leaf_offset = (torch.arange(t_count * l_count, device=x.device) * n_patterns).view(
        t_count, l_count)  # fmt: skip
    f = ensemble.features  # (T, L, D)
    pair_index = (f.unsqueeze(-1) * n_features + f.unsqueeze(-2)).reshape(-1)  # (T*L*D*D,)
    shap_values = path_dependent_shap(ensemble, x)  # (N, F, K)
    out = []
    for start in range(0, len(x), chunk):
        px = ensemble.patterns(x[start : start + chunk])
        rows = flat.index_select(0, (px + leaf_offset).reshape(-1))
        phi = torch.zeros(len(px), n_features * n_features, k, dtype=torch.float64,
                          device=x.device)  # fmt: skip
        phi.index_add_(1, pair_index, rows.view(len(px), -1, k))
        out.append(phi.view(len(px), n_features, n_features, k))
    matrix = torch.cat(out)
    diagonal = torch.arange(n_features, device=x.device)
    matrix[:, diagonal, diagonal] = 0.0  # a feature split twice on a path is one slot
    matrix[:, diagonal, diagonal] = shap_values - matrix.sum(2)
    return matrix
