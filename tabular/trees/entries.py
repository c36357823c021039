r"""Shapley contributions read pair by pair from the two rows' bit patterns, without a
pattern table: for trees whose paths run through too many features to tabulate every
pattern pair (``4^D`` entries), and for weights that differ with each row.

The background is reduced, per leaf, to its distinct bit patterns ``q`` (the *entries*;
a depth-6 boosting model holds about 11 per leaf). For a row of pattern ``p`` and an entry
``q`` of the same leaf, the leaf is reached by the coalitions holding ``A = p & ~q`` (the
slots only the row satisfies) and none of ``B = q & ~p``, if every slot is satisfied by
one of them (``p | q`` all ones); with ``a = |A|``, ``b = |B|`` a slot in ``A`` gets the
leaf's value times ``(a-1)!\,b!/(a+b)!`` and a slot in ``B`` minus ``a!\,(b-1)!/(a+b)!``
(see :mod:`.interventional`). Each entry carries a weight per row: the share of the
background in it (the margin), or the background rows' rescaling weights summed (the
probability). The work is ``O(N Q D)`` for ``Q`` entries, in torch, chunk by chunk of rows.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .ensemble import TreeEnsemble


def background_entries(ensemble: TreeEnsemble, pz: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Each leaf's distinct background patterns: ``leaf (Q,)``, ``pattern (Q,)`` and, for
    every (leaf, background row) of ``pz`` ``(T*L, M)``, its entry ``(T*L, M)``."""
    width = 1 << ensemble.features.shape[-1]
    leaf_index = torch.arange(pz.shape[0], device=pz.device).view(-1, 1)
    entries, member = torch.unique(leaf_index * width + pz.long(), return_inverse=True)
    return entries // width, entries % width, member


def _weight_tables(depth: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """``((D+1)^2,)`` each: ``(a-1)! b! / (a+b)!`` and ``a! (b-1)! / (a+b)!`` at
    ``a * (D+1) + b`` (0 where ``a``, resp. ``b``, is 0)."""
    a = torch.arange(depth + 1, dtype=torch.float64, device=device).view(-1, 1)
    b = a.view(1, -1)
    total = torch.lgamma(a + b + 1)
    w_a = torch.exp(torch.lgamma(a.clamp(min=1)) + torch.lgamma(b + 1) - total)
    w_b = torch.exp(torch.lgamma(a + 1) + torch.lgamma(b.clamp(min=1)) - total)
    return (torch.where(a > 0, w_a, 0.0).reshape(-1), torch.where(b > 0, w_b, 0.0).reshape(-1))


def _popcount(bits: Tensor, depth: int) -> Tensor:
    """The number of set bits of each element (``depth`` bits at most), byte by byte."""
    table = torch.tensor([bin(i).count("1") for i in range(256)], device=bits.device)
    count = table[(bits & 255).long()]
    for shift in range(8, depth, 8):
        count += table[((bits >> shift) & 255).long()]
    return count


def gather_entries(
    ensemble: TreeEnsemble,
    px_all: Tensor,
    leaf: Tensor,
    pattern: Tensor,
    held: Callable[[int, int], Tensor],
    chunk: int,
) -> Tensor:
    """``(N, F, K)``: every row's contributions through every entry ``(leaf, pattern)``,
    weighted by ``held(start, stop)`` ``(Q, n or 1, K)`` (already times the leaves'
    values), added into the slots' features. ``px_all``: the rows' leaf-major patterns
    ``(T*L, N)``.

    Per chunk of rows, only the live (entry, row) pairs are kept (a fifth of them for a
    default histogram boosting model), and only the slots in ``A`` or ``B`` of each pair
    receive anything: their bits are taken lowest first, pairs leaving as their bits run
    out, so the work follows the set bits (about two per pair), not the ``D`` slots."""
    depth = ensemble.features.shape[-1]
    full = (1 << depth) - 1
    signed = torch.int32 if depth <= 30 else torch.int64  # x & -x needs a signed type
    q_all = pattern.to(signed).view(-1, 1)
    table_a, table_b = _weight_tables(depth, px_all.device)
    features = ensemble.features.reshape(-1)  # slot (leaf, d) at leaf * D + d
    n_features = ensemble.n_features
    n_rows = px_all.shape[1]
    out = []
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        n = stop - start
        p = px_all[:, start:stop].index_select(0, leaf).to(signed)  # (Q, n)
        entry, row = ((p | q_all) == full).nonzero(as_tuple=True)  # the live pairs
        p, q = p[entry, row], q_all[entry, 0]
        only_row, only_background = p & ~q, q & ~p
        a, b = _popcount(only_row, depth), _popcount(only_background, depth)
        where = a * (depth + 1) + b
        weight = held(start, stop)  # (Q, n or 1, K)
        k = weight.shape[-1]
        weight = weight[entry, row if weight.shape[1] > 1 else 0]  # (live, K)
        gain = table_a[where].unsqueeze(1) * weight  # a slot in A
        loss = -table_b[where].unsqueeze(1) * weight  # a slot in B
        base = leaf[entry] * depth  # the pair's first slot
        target = row * n_features  # the pair's row in the flat output
        bits = only_row | only_background
        phi = torch.zeros(n * n_features, k, dtype=torch.float64, device=px_all.device)
        while True:  # pairs whose patterns agree (no bit left) drop out
            left = (bits != 0).nonzero().squeeze(1)
            if len(left) == 0:
                break
            bits, only_row = bits[left], only_row[left]
            gain, loss, base, target = gain[left], loss[left], base[left], target[left]
            lowest = bits & -bits
            slot = torch.log2(lowest.to(torch.float64)).round_().long()  # exact: a power of 2
            value = torch.where(((only_row & lowest) != 0).unsqueeze(1), gain, loss)
            phi.index_add_(0, target + features[base + slot], value)
            bits = bits ^ lowest
        out.append(phi.view(n, n_features, k))
    return torch.cat(out)
