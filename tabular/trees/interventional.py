r"""Exact interventional Shapley values of a tree ensemble against a background.

The game is the one ``tabular.Explainer``'s background defines: for a row ``x`` and a
background row ``z``, the coalition ``S`` takes ``x``'s values on ``S`` and ``z``'s
elsewhere, and the explanation averages the Shapley values over the background rows.

For one leaf and one pair ``(x, z)``, each feature on the leaf's path is in one of four
states: both rows satisfy its condition (free), only ``x`` (the set ``A``), only ``z``
(``B``), or neither (the leaf is unreachable). The leaf is reached exactly by the
coalitions holding ``A`` and none of ``B``, so with ``a = |A|``, ``b = |B|`` its value
``v`` gives

.. math:: \phi_i = v\,\frac{(a-1)!\,b!}{(a+b)!}\ (i \in A), \qquad
          \phi_i = -v\,\frac{a!\,(b-1)!}{(a+b)!}\ (i \in B).

These weights depend only on the two rows' bit patterns over the leaf's ``D`` path
features. So the background is reduced, per leaf, to a histogram of its ``2^D`` patterns,
which a fixed ``(2^D, 2^D, D)`` table turns into the contribution of each ``x`` pattern;
each row then gathers its pattern's contributions. The work is ``O((N + M) T L D +
T L 4^D D)`` for ``N`` rows, ``M`` background rows, ``T`` trees of ``L`` leaves, all in
torch tensor operations (no per-row loop), on the ensemble's device.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor

from .ensemble import DEEPEST_PATH, TreeEnsemble
from .entries import background_entries, gather_entries

#: paths with more distinct features than this are not tabulated (the table grows as 4^D):
#: the interventional values read such trees pair by pair (:mod:`.entries`), and the
#: path-dependent ones (and their interaction values) row by row
MAX_PATH_FEATURES = 10


@cache
def pattern_table(depth: int) -> Tensor:
    """``(2^D, 2^D, D)``: the weight of path slot ``d`` for an ``x`` pattern and a ``z``
    pattern (bit ``d`` set: the row satisfies the slot's condition)."""
    n = 1 << depth
    full = n - 1
    px = torch.arange(n).view(n, 1)
    pz = torch.arange(n).view(1, n)
    a_bits, b_bits = px & ~pz & full, ~px & pz & full
    alive = (~px & ~pz & full) == 0
    bit = 1 << torch.arange(depth)
    in_a = (a_bits.unsqueeze(-1) & bit) != 0
    in_b = (b_bits.unsqueeze(-1) & bit) != 0
    a = in_a.sum(-1)
    b = in_b.sum(-1)
    fact = torch.tensor([math.factorial(i) for i in range(2 * depth + 1)], dtype=torch.float64)
    total = fact[a + b]
    w_a = torch.where(a > 0, fact[(a - 1).clamp(min=0)] * fact[b] / total, 0.0)
    w_b = torch.where(b > 0, fact[a] * fact[(b - 1).clamp(min=0)] / total, 0.0)
    return (in_a * w_a.unsqueeze(-1) - in_b * w_b.unsqueeze(-1)) * alive.unsqueeze(-1)


def check_depth(
    ensemble: TreeEnsemble, limit: int = DEEPEST_PATH, method: str = "the interventional values"
) -> int:
    """The most distinct features on a path, refused beyond ``limit`` (the bits of a row's
    pattern in an int64) with what to do instead."""
    depth = ensemble.features.shape[-1]
    if depth > limit:
        raise ValueError(
            f"the trees have paths with {depth} distinct features; {method} support at "
            f"most {limit}: train with max_depth <= {limit}, or explain with "
            "method='kernel_shap'"
        )
    return depth


def gather_contributions(
    ensemble: TreeEnsemble, per_pattern: Tensor, x: Tensor, chunk: int
) -> Tensor:
    """``(N, F, K)``: every row's sum over leaves of its pattern's slot contributions
    ``per_pattern`` ``(T, L, P, D, K)``, added into the slots' features, ``chunk`` rows at
    a time. Slot by slot, only the leaves whose slot holds a path feature are read (a
    depth-6 ensemble pads about 40% of its slots), and the rows' values are gathered
    leaf-major ``(leaves, rows)``, so the additions into features run over contiguous
    rows of rows (4x faster than row-major)."""
    t_count, l_count, n_patterns, depth, k = per_pattern.shape
    per_slot = per_pattern.permute(3, 4, 0, 1, 2).reshape(depth, k, -1)  # (D, K, T*L*P)
    used = ensemble.used_slots()
    leaves = [used[:, d].nonzero().squeeze(1) for d in range(depth)]
    # int32 indices: half the memory of int64 and a gather about 2.5x faster
    wide = torch.int32 if per_slot.shape[-1] < torch.iinfo(torch.int32).max else torch.int64
    offsets = [(index * n_patterns).to(wide).view(-1, 1) for index in leaves]
    features = ensemble.features.reshape(-1, depth)
    slot_features = [features[index, d] for d, index in enumerate(leaves)]
    # the temporaries are written into buffers allocated once: a fresh allocation of this
    # size is new memory from the system, and its page faults cost more than the gather
    size = max(len(index) for index in leaves) * min(chunk, len(x))
    index_buffer = torch.empty(size, dtype=wide, device=x.device)
    value_buffer = torch.empty(size, dtype=torch.float64, device=x.device)
    out = []
    for start in range(0, len(x), chunk):
        px = ensemble.patterns(x[start : start + chunk], leaf_major=True)  # (T*L, n)
        n = px.shape[1]
        phi = torch.zeros(k, ensemble.n_features, n, dtype=torch.float64, device=x.device)
        for d in range(depth):
            used = len(leaves[d]) * n
            index = index_buffer[:used].view(-1, n)
            index.copy_(px.index_select(0, leaves[d])).add_(offsets[d])
            for c in range(k):
                values = torch.index_select(
                    per_slot[d, c], 0, index.view(-1), out=value_buffer[:used]
                )
                phi[c].index_add_(0, slot_features[d], values.view(-1, n))  # (leaves, n)
        out.append(phi.permute(2, 1, 0))
    return torch.cat(out)


def interventional_shap(
    ensemble: TreeEnsemble, x: Tensor, background: Tensor, chunk: int = 256
) -> Tensor:
    """Shapley values ``(N, F, K)`` of the ensemble's output at each row of ``x`` against
    ``background``: row ``n``'s values sum to its output minus the background's mean
    output (each output ``k``)."""
    depth = check_depth(ensemble, DEEPEST_PATH, "the interventional values")
    x = ensemble.prepare(x)
    z = ensemble.prepare(background)
    if depth > MAX_PATH_FEATURES:  # too deep to tabulate: read each pair's patterns
        return _deep_interventional_shap(ensemble, x, z)
    n_patterns = 1 << depth
    table = pattern_table(depth).to(x.device)  # (P, P, D)
    pz = ensemble.patterns(z).long()  # (M, T, L)
    histogram = torch.zeros(*pz.shape[1:], n_patterns, dtype=torch.float64, device=x.device)
    index = pz.permute(1, 2, 0)  # (T, L, M)
    histogram.scatter_add_(-1, index, torch.ones_like(index, dtype=torch.float64))
    histogram /= len(z)
    # per leaf and x pattern: each path slot's background-averaged weight (one matrix
    # product over the background patterns) times the leaf's values
    weights = histogram.view(-1, n_patterns) @ table.permute(1, 0, 2).reshape(n_patterns, -1)
    per_pattern = (
        weights.view(*histogram.shape[:2], n_patterns, depth, 1)
        * ensemble.values[:, :, None, None, :]
    )  # (T, L, P, D, K)
    return gather_contributions(ensemble, per_pattern, x, chunk)


def _deep_interventional_shap(
    ensemble: TreeEnsemble, x: Tensor, z: Tensor, pairs_per_chunk: int = 1 << 21
) -> Tensor:
    """The same values without the pattern table: every leaf's distinct background
    patterns weighted by their share of the background (:mod:`.entries`)."""
    pz = ensemble.patterns(z, leaf_major=True)  # (T*L, M)
    leaf, pattern, member = background_entries(ensemble, pz)
    share = torch.bincount(member.reshape(-1), minlength=len(leaf)).to(torch.float64) / len(z)
    k = ensemble.values.shape[-1]
    held = (share.view(-1, 1) * ensemble.values.reshape(-1, k)[leaf]).unsqueeze(1)  # (Q, 1, K)
    px = ensemble.patterns(x, leaf_major=True)  # (T*L, N)
    chunk = max(1, pairs_per_chunk // len(leaf))
    return gather_entries(ensemble, px, leaf, pattern, lambda start, stop: held, chunk)
