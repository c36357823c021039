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
and ``B`` the sparse membership of background rows in entries (:mod:`.entries`). A row's
contribution through the entry is then the pattern table's ``T[p_x, q]`` times that
weight (trees of at most 10 path features), or read from the two patterns' bits (deeper
trees): ``O(N Q D)`` for ``Q`` entries, all in torch, with no per-row loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .ensemble import DEEPEST_PATH, TreeEnsemble
from .entries import background_entries, gather_entries
from .interventional import MAX_PATH_FEATURES, check_depth, pattern_table


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


def probability_shap(
    ensemble: TreeEnsemble,
    x: Tensor,
    background: Tensor,
    slope: float,
    pairs_per_chunk: int = 1 << 21,
) -> Tensor:
    """``(N, F, 1)``: the margin's interventional values against each background row,
    rescaled onto ``σ(slope · margin)`` pair by pair and averaged; row ``n``'s values sum
    to its probability minus the background's mean probability."""
    if ensemble.values.shape[-1] != 1:
        raise ValueError("the probability output needs a binary classifier (one margin)")
    depth = check_depth(ensemble, DEEPEST_PATH, "the probability values")
    x = ensemble.prepare(x)
    z = ensemble.prepare(background)
    full = (1 << depth) - 1
    px = ensemble.patterns(x, leaf_major=True)  # (T*L, N)
    pz = ensemble.patterns(z, leaf_major=True)  # (T*L, M)
    weights = pair_weights(_margins(ensemble, px, full), _margins(ensemble, pz, full), slope) / len(
        z
    )
    leaf, pattern, member = background_entries(ensemble, pz)
    n_leaves, n_background = pz.shape
    columns = torch.arange(n_background, device=x.device).expand(n_leaves, -1)
    membership = torch.sparse_coo_tensor(
        torch.stack([member.reshape(-1), columns.reshape(-1)]),
        torch.ones(member.numel(), dtype=torch.float64, device=x.device),
        (len(leaf), n_background),
        check_invariants=False,
    ).coalesce()  # (Q, M): which background rows fall in each entry
    leaf_value = ensemble.values[..., 0].reshape(-1)[leaf].view(-1, 1)  # (Q, 1)

    def held(start: int, stop: int) -> Tensor:  # (Q, n, 1): each entry's summed weights
        summed = torch.sparse.mm(membership, weights[start:stop].T.contiguous())
        return (summed * leaf_value).unsqueeze(-1)

    chunk = max(1, pairs_per_chunk // len(leaf))
    if depth > MAX_PATH_FEATURES:  # too deep to tabulate: the pairs' bits, set bit by set bit
        return gather_entries(ensemble, px, leaf, pattern, held, chunk)
    return _gather_from_table(ensemble, px, leaf, pattern, held, chunk)


def _gather_from_table(
    ensemble: TreeEnsemble,
    px: Tensor,
    leaf: Tensor,
    pattern: Tensor,
    held: Callable[[int, int], Tensor],
    chunk: int,
) -> Tensor:
    """:func:`gather_entries` for shallow trees, every (entry, row) pair's slot weights
    read from the pattern table (kept in cache: 1.5x faster at depth 6)."""
    depth = ensemble.features.shape[-1]
    n_patterns = 1 << depth
    table = pattern_table(depth).to(px.device)  # (P, P, D)
    per_slot = [table[..., d].reshape(-1) for d in range(depth)]
    slot_features = ensemble.features.reshape(-1, depth)[leaf]  # (Q, D)
    q = pattern.to(torch.int32).view(-1, 1)
    size = len(leaf) * min(chunk, px.shape[1])  # buffers reused: see gather_contributions
    index_buffer = torch.empty(size, dtype=torch.int32, device=px.device)
    value_buffer = torch.empty(size, dtype=torch.float64, device=px.device)
    out = []
    for start in range(0, px.shape[1], chunk):
        stop = min(start + chunk, px.shape[1])
        weight = held(start, stop)[..., 0]  # (Q, n)
        n = stop - start
        index = index_buffer[: len(leaf) * n].view(-1, n)
        index.copy_(px[:, start:stop].index_select(0, leaf))
        index.mul_(n_patterns).add_(q)  # (Q, n): the (row, entry) pattern pair
        phi = torch.zeros(ensemble.n_features, n, dtype=torch.float64, device=px.device)
        for d in range(depth):
            values = torch.index_select(
                per_slot[d], 0, index.view(-1), out=value_buffer[: index.numel()]
            )
            phi.index_add_(0, slot_features[:, d], values.view(-1, n).mul_(weight))
        out.append(phi.T.unsqueeze(-1))
    return torch.cat(out)
