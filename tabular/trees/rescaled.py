r"""A boosted binary classifier's probability explained through its margin.

The trees add up a margin ``m``; the probability is ``p = σ(s·m)`` (``s`` the link's
slope: 1 for log-loss, 2 for scikit-learn's exponential loss). The probability is not a
sum over trees, so its interventional Shapley values have no tree-wise form; as shap's
``model_output="probability"`` does, each background row ``z``'s exact margin values
``φ(x, z)`` are rescaled onto the probability by the pair's secant slope

.. math:: \phi_i(x) = \frac{1}{M} \sum_z \frac{p(x) - p(z)}{m(x) - m(z)}\,\phi_i(x, z),

so that each row's values sum to ``p(x)`` minus the background's mean probability (the
derivative ``s\,p(1-p)`` stands in for the slope when the two margins are equal).

The rescaling weight differs for every pair, so the background cannot be folded into
one histogram per leaf as for the margin; it is folded per row instead. Per leaf, the
background rows fall into a few distinct bit patterns ``q`` (about 11 of the ``2^D`` for
a depth-6 boosting model); per row ``x``, each (leaf, ``q``) entry holds the summed
weights of its background rows, ``H = W \cdot B`` with ``W`` the ``(N, M)`` pair weights
and ``B`` the sparse membership of background rows in entries. A row's contribution
through the entry is then the pattern table's ``T[p_x, q]`` times that weight: ``O(N Q
D)`` for ``Q`` entries, all in torch, with no per-row loop.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .ensemble import TreeEnsemble
from .interventional import check_depth, pattern_table


def _margins(ensemble: TreeEnsemble, patterns: Tensor, full: int) -> Tensor:
    """``(N,)``: the margin of each row from its leaf-major patterns ``(T*L, N)`` (a row
    reaches a leaf when it satisfies every slot)."""
    reached = (patterns == full).to(torch.float64)
    return ensemble.base[0] + ensemble.values[..., 0].reshape(1, -1) @ reached


def pair_weights(margin_x: Tensor, margin_z: Tensor, slope: float) -> Tensor:
    """``(N, M)``: each pair's secant slope of ``p = σ(s·m)`` between the two margins, the
    derivative where they (nearly) coincide."""
    px = torch.sigmoid(slope * margin_x).view(-1, 1)
    pz = torch.sigmoid(slope * margin_z).view(1, -1)
    gap = margin_x.view(-1, 1) - margin_z.view(1, -1)
    close = gap.abs() < 1e-9
    secant = (px - pz) / torch.where(close, torch.ones_like(gap), gap)
    middle = torch.sigmoid(slope * (margin_x.view(-1, 1) + margin_z.view(1, -1)) / 2)
    return torch.where(close, slope * middle * (1 - middle), secant)


def probability_shap(ensemble: TreeEnsemble, x: Tensor, background: Tensor, slope: float,
                     chunk: int = 64) -> Tensor:  # fmt: skip
    """``(N, F, 1)``: the margin's interventional values against each background row,
    rescaled onto ``σ(slope · margin)`` pair by pair and averaged; row ``n``'s values sum
    to its probability minus the background's mean probability."""
    if ensemble.values.shape[-1] != 1:
        raise ValueError("the probability output needs a binary classifier (one margin)")
    depth = check_depth(ensemble)
    x = ensemble.prepare(x)
    z = ensemble.prepare(background)
    n_patterns = 1 << depth
    full = n_patterns - 1
    px_all = ensemble.patterns(x, leaf_major=True)  # (T*L, N)
    pz = ensemble.patterns(z, leaf_major=True).long()  # (T*L, M)
    weights = pair_weights(_margins(ensemble, px_all, full), _margins(ensemble, pz, full),
                           slope) / len(z)  # fmt: skip
    # the entries: each leaf's distinct background patterns, and which rows fall in each
    n_leaves, n_background = pz.shape
    leaf_index = torch.arange(n_leaves, device=x.device).view(-1, 1)
    entries, member = torch.unique(leaf_index * n_patterns + pz, return_inverse=True)
    columns = torch.arange(n_background, device=x.device).expand(n_leaves, -1)
    membership = torch.sparse_coo_tensor(
        torch.stack([member.reshape(-1), columns.reshape(-1)]),
        torch.ones(member.numel(), dtype=torch.float64, device=x.device),
        (len(entries), n_background),
        check_invariants=False,
    ).coalesce()  # (Q, M) fmt: skip
    leaf = entries // n_patterns
    pattern = (entries % n_patterns).to(torch.int32).view(-1, 1)
    leaf_value = ensemble.values[..., 0].reshape(-1)[leaf].view(-1, 1)  # (Q, 1)
    table = pattern_table(depth).to(x.device)  # (P, P, D)
    per_slot = [table[..., d].reshape(-1) for d in range(depth)]
    slot_features = ensemble.features.reshape(-1, depth)[leaf]  # (Q, D)
    size = len(entries) * min(chunk, len(x))  # buffers reused: see gather_contributions
    index_buffer = torch.empty(size, dtype=torch.int32, device=x.device)
    value_buffer = torch.empty(size, dtype=torch.float64, device=x.device)
    out = []
    for start in range(0, len(x), chunk):
        held = torch.sparse.mm(membership, weights[start : start + chunk].T.contiguous())
        held *= leaf_value  # (Q, n)
        n = held.shape[1]
        index = index_buffer[: len(entries) * n].view(-1, n)
        index.copy_(px_all[:, start : start + chunk].index_select(0, leaf))
        index.mul_(n_patterns).add_(pattern)  # (Q, n): the (x, background) pattern pair
        phi = torch.zeros(ensemble.n_features, n, dtype=torch.float64, device=x.device)
        for d in range(depth):
            values = torch.index_select(per_slot[d], 0, index.view(-1),
                                        out=value_buffer[: index.numel()])  # fmt: skip
            phi.index_add_(0, slot_features[:, d], values.view(-1, n).mul_(held))
        out.append(phi.T.unsqueeze(-1))
    return torch.cat(out)
