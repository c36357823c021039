"""One representation of a tree ensemble, whatever library trained it: for every tree and
leaf, the leaf's value and the box of inputs that reach it (one interval per feature on
the leaf's path), padded into tensors.

A model's output is ``base + Σ_trees scale · value[leaf(x)]`` (per output), which covers
averaged forests (``scale = 1 / trees``) and boosted ensembles on their raw margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

#: a leaf: per path feature its interval, the share of training cover that followed the
#: path at that feature's splits and whether a missing value (NaN) follows the path there
#: ``(lower, upper, share, missing)``; its values; its cover
Box = dict[int, tuple[float, float, float, bool]]
Leaf = tuple[Box, list[float], float]


def walk_tree(
    root: Any,
    is_leaf: Callable[[Any], bool],
    leaf_value: Callable[[Any], list[float]],
    split: Callable[[Any], tuple[int, float, Any, Any]],
    cover: Callable[[Any], float],
    missing_left: Callable[[Any], bool] | None = None,
) -> list[Leaf]:
    """Every leaf of one tree, depth first: ``split(node)`` gives ``(feature, threshold,
    left, right)`` with values at or below the threshold (right-closed) or below it
    (left-closed readers pass the same) going left; ``missing_left(node)``, where the
    library routes missing values, whether a NaN goes left at the node."""
    leaves: list[Leaf] = []
    stack: list[tuple[Any, Box]] = [(root, {})]
    while stack:
        node, box = stack.pop()
        if is_leaf(node):
            leaves.append((box, leaf_value(node), cover(node)))
            continue
        f, t, left, right = split(node)
        lo, hi, share, missing = box.get(f, (-math.inf, math.inf, 1.0, True))
        nan_left = missing_left(node) if missing_left is not None else False
        total = cover(node)
        for child, interval, goes in (
            (right, (max(lo, t), hi), not nan_left),
            (left, (lo, min(hi, t)), nan_left),
        ):
            fraction = cover(child) / total if total > 0 else 0.5
            stack.append((child, {**box, f: (*interval, share * fraction, missing and goes)}))
    return leaves


#: the most distinct features on one path that the bit patterns hold (int64, sign bit free)
DEEPEST_PATH = 62


def pattern_dtype(depth: int) -> torch.dtype:
    """The smallest integer type holding ``depth`` pattern bits (the sign bit left free)."""
    if depth > DEEPEST_PATH:
        raise ValueError(f"paths through {depth} distinct features; at most {DEEPEST_PATH}")
    for dtype, bits in ((torch.uint8, 8), (torch.int16, 15), (torch.int32, 31)):
        if depth <= bits:
            return dtype
    return torch.int64


@dataclass
class TreeEnsemble:
    """Padded leaf boxes and values.

    Attributes
    ----------
    features : LongTensor ``(T, L, D)``
        The distinct features on each leaf's path (``D``: the most on any path; padding
        points at feature 0 with an unbounded interval).
    lower, upper : Tensor ``(T, L, D)``
        Each path feature's interval: ``lower < x <= upper`` (``right_closed``) or
        ``lower <= x < upper``.
    values : Tensor ``(T, L, K)``
        Each leaf's contribution (already times the tree's scale); padded leaves are 0.
    cover : Tensor ``(T, L)``
        Training weight reaching each leaf (for the path-dependent variant).
    base : Tensor ``(K,)``
        What the model adds to the trees' sum.
    n_features : int
    right_closed : bool
    """

    features: Tensor
    lower: Tensor
    upper: Tensor
    values: Tensor
    cover: Tensor
    base: Tensor
    n_features: int
    right_closed: bool = True
    #: the library compares float32 inputs with its thresholds (scikit-learn's classic trees)
    float32_inputs: bool = False
    #: ``(T, L, D)``: the share of training cover that followed each leaf's path at the
    #: splits on each path feature (1 for padding), for the path-dependent variant
    shares: Tensor | None = field(default=None)
    #: ``(T, L, D)``: whether a missing value (NaN) of the slot's feature follows the
    #: leaf's path at every split on it (the library's default branches; True for
    #: padding); None when the reader did not record them, and NaN is refused
    missing: Tensor | None = field(default=None)

    @property
    def rtol(self) -> float:
        """The relative tolerance of the efficiency check: 1e-5 where the library computes
        in float32 (XGBoost, scikit-learn's classic trees), 1e-9 where in float64."""
        return 1e-5 if self.float32_inputs else 1e-9

    def prepare(self, x: Tensor) -> Tensor:
        """Rows as the library's trees compare them, in float64. Missing values (NaN) go
        down each split's default branch where the library records one."""
        if self.missing is None and torch.isnan(x).any():
            raise ValueError(
                "the rows hold missing values (NaN), and this model's trees do not say where "
                "they go: impute them, or explain with a sampled method (kernel_shap)"
            )
        x = x.to(torch.float32) if self.float32_inputs else x
        return x.to(self.lower.device, torch.float64)

    @classmethod
    def from_leaves(
        cls,
        trees: list[list[Leaf]],
        base: list[float],
        n_features: int,
        right_closed: bool = True,
        routes_missing: bool = False,
    ) -> TreeEnsemble:
        """From, per tree, its leaves ``(intervals by feature, values, cover)``;
        ``routes_missing``: the boxes record where missing values go."""
        n_trees = len(trees)
        n_leaves = max(len(t) for t in trees)
        depth = max(1, max(len(box) for t in trees for box, _, _ in t))
        k = len(base)
        # every slot as one flat record (tree, leaf, slot, feature, interval, share, NaN),
        # written into the padded arrays in one assignment each (numpy, then torch once)
        slots: list[tuple] = []
        values = np.zeros((n_trees, n_leaves, k))
        cover = np.zeros((n_trees, n_leaves))
        for t, leaves in enumerate(trees):
            for leaf, (box, value, weight) in enumerate(leaves):
                slots += [
                    (t, leaf, d, f, *entry) for d, (f, entry) in enumerate(sorted(box.items()))
                ]
                values[t, leaf] = value
                cover[t, leaf] = weight
        features = np.zeros((n_trees, n_leaves, depth), dtype=np.int64)
        lower = np.full((n_trees, n_leaves, depth), -np.inf)
        upper = np.full((n_trees, n_leaves, depth), np.inf)
        shares = np.ones((n_trees, n_leaves, depth))
        missing = np.ones((n_trees, n_leaves, depth), dtype=bool)
        if slots:
            records = np.array(slots, dtype=np.float64)  # (S, 8)
            at = tuple(records[:, :3].astype(np.int64).T)
            features[at] = records[:, 3].astype(np.int64)
            lower[at], upper[at], shares[at] = records[:, 4], records[:, 5], records[:, 6]
            missing[at] = records[:, 7].astype(bool)
        return cls(
            torch.from_numpy(features),
            torch.from_numpy(lower),
            torch.from_numpy(upper),
            torch.from_numpy(values),
            torch.from_numpy(cover),
            torch.tensor(base, dtype=torch.float64),
            n_features,
            right_closed,
            shares=torch.from_numpy(shares),
            missing=torch.from_numpy(missing) if routes_missing else None,
        )

    def to(self, device: torch.device | str) -> TreeEnsemble:
        """The same ensemble on ``device`` (its tensors and any ensemble it holds moved)."""
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (Tensor, TreeEnsemble)):
                moved[f.name] = value.to(device)
        return replace(self, **moved)

    def _ranks(self) -> tuple[Tensor, Tensor, Tensor]:
        """Every feature's sorted distinct interval ends ``(F, U)`` (padded with +inf) and
        each slot's ends as positions in its feature's list: the conditions become integer
        comparisons of a row's position among them (computed once)."""
        cached = getattr(self, "_rank_cache", None)
        if cached is not None and cached[0].device == self.lower.device:
            return cached
        unbounded = self.lower.new_tensor([-torch.inf, torch.inf])
        ends = []
        for f in range(self.n_features):
            here = self.features == f
            ends.append(torch.unique(torch.cat([self.lower[here], self.upper[here], unbounded])))
        width = max(len(e) for e in ends)
        table = self.lower.new_full((self.n_features, width), torch.inf)
        for f, e in enumerate(ends):
            table[f, : len(e)] = e
        lo = torch.searchsorted(table[self.features], self.lower.unsqueeze(-1)).squeeze(-1)
        hi = torch.searchsorted(table[self.features], self.upper.unsqueeze(-1)).squeeze(-1)
        self._rank_dtype = torch.int16 if width < torch.iinfo(torch.int16).max // 2 else torch.int32
        self._rank_cache = (table, lo.to(self._rank_dtype), hi.to(self._rank_dtype))
        return self._rank_cache

    def _conditions(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The distinct path conditions ``(feature, rank(lower), rank(upper))`` of the whole
        ensemble (a depth-6 tree's 384 leaf slots hold about 64 distinct ones), per leaf
        slot ``(T*L, D)`` which of them it is, and whether a NaN satisfies each (computed
        once)."""
        cached = getattr(self, "_condition_cache", None)
        if cached is not None and cached[0].device == self.lower.device:
            return cached
        table, lo, hi = self._ranks()
        width = table.shape[1] + 1
        nan = torch.ones_like(lo, dtype=torch.long) if self.missing is None else self.missing.long()
        key = ((self.features * width + lo.long()) * width + hi.long()) * 2 + nan
        distinct, slot = torch.unique(key.reshape(-1), return_inverse=True)
        missing = (distinct % 2).bool().view(-1, 1)
        distinct = distinct // 2
        feature = distinct // (width * width)
        lower = ((distinct // width) % width).to(self._rank_dtype).view(-1, 1)
        upper = (distinct % width).to(self._rank_dtype).view(-1, 1)
        slot = slot.view(-1, self.features.shape[-1])
        self._condition_cache = (feature, lower, upper, slot, missing)
        return self._condition_cache

    def _positions(self, x: Tensor) -> Tensor:
        """``(F, N)``: each row's value placed among its feature's interval ends: ``p =
        #{ends < v}`` (``<=`` for left-closed intervals), so that ``lower < v <= upper`` is
        ``rank(lower) < p <= rank(upper)`` (``lower <= v < upper`` likewise)."""
        table, _, _ = self._ranks()
        values = torch.nan_to_num(x.T, nan=0.0).contiguous()  # NaN is decided apart
        position = torch.searchsorted(table, values, right=not self.right_closed)
        return position.to(self._rank_dtype)

    def inside(self, x: Tensor) -> Tensor:
        """``(N, T, L, D)``: whether each row satisfies each path condition."""
        _, lo, hi = self._ranks()
        p = self._positions(x).T.index_select(1, self.features.reshape(-1))
        p = p.view(len(x), *self.features.shape)  # (N, T, L, D)
        inside = (p > lo) & (p <= hi)
        if self.missing is not None and torch.isnan(x).any():
            nan = torch.isnan(x).index_select(1, self.features.reshape(-1))
            inside = torch.where(nan.view_as(inside), self.missing, inside)
        return inside

    def patterns(self, x: Tensor, leaf_major: bool = False) -> Tensor:
        """``(N, T, L)``: each row's bit pattern over every leaf's path conditions (bit
        ``d`` set when the row satisfies slot ``d``), in the smallest integer type that
        holds ``D`` bits (:func:`pattern_dtype`); ``leaf_major`` returns the ``(T*L, N)``
        layout itself.

        Each distinct condition is tested once per row, branch-free: ``lower < p <= upper``
        holds exactly when ``(lower - p) & (p - upper - 1)`` is negative, so an arithmetic
        shift by the sign bit gives all ones (inside) or zeros. Each slot then gathers its
        condition's result and keeps its own bit."""
        feature, lower, upper, slot, missing = self._conditions()
        p = self._positions(x).index_select(0, feature)  # (C, N)
        sign = torch.iinfo(p.dtype).bits - 1
        inside = (lower - p).bitwise_and_(p - (upper + 1)).bitwise_right_shift_(sign)
        n_trees, n_leaves, depth = self.features.shape
        small = pattern_dtype(depth)
        inside = inside.to(small)  # 0 or all ones (-1 wraps to 255)
        if self.missing is not None and torch.isnan(x).any():  # the default branches
            nan = torch.isnan(x).T.index_select(0, feature)  # (C, N)
            all_ones = 255 if small == torch.uint8 else -1
            inside = inside.masked_fill_(nan, 0).masked_fill_(nan & missing, all_ones)
        out = torch.zeros(n_trees * n_leaves, len(x), dtype=small, device=x.device)
        for d in range(depth):
            out |= inside.index_select(0, slot[:, d]).bitwise_and_(1 << d)
        if leaf_major:
            return out
        return out.T.reshape(len(x), n_trees, n_leaves)

    def used_slots(self) -> Tensor:
        """``(T*L, D)``: the slots that hold a path feature (the rest is padding, whose
        condition every row satisfies and whose Shapley weight is 0). A split of missing
        from present values (scikit-learn's threshold at infinity) leaves an interval
        ``(-inf, inf]`` that a NaN does not satisfy, or ``(inf, inf]`` that only a NaN
        does: real slots."""
        used = (self.lower != -torch.inf) | (self.upper != torch.inf)
        if self.missing is not None:
            used |= ~self.missing
        return used.reshape(-1, self.features.shape[-1])

    def predict(self, x: Tensor) -> Tensor:
        """``(N, K)``: the model's raw output, from the boxes (a check of the reading)."""
        reached = self.inside(self.prepare(x)).all(-1).to(self.values.dtype)  # (N, T, L)
        return self.base + torch.einsum("ntl,tlk->nk", reached, self.values)
