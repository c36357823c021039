"""One representation of a tree ensemble, whatever library trained it: for every tree and
leaf, the leaf's value and the box of inputs that reach it (one interval per feature on
the leaf's path), padded into tensors.

A model's output is ``base + Σ_trees scale · value[leaf(x)]`` (per output), which covers
averaged forests (``scale = 1 / trees``) and boosted ensembles on their raw margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

#: a leaf: its interval ``(lower, upper)`` per path feature, its values, its training cover
Leaf = tuple[dict[int, tuple[float, float]], list[float], float]


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

    def prepare(self, x: Tensor) -> Tensor:
        """Rows as the library's trees compare them, in float64."""
        x = x.to(torch.float32) if self.float32_inputs else x
        return x.to(self.lower.device, torch.float64)

    @classmethod
    def from_leaves(
        cls, trees: list[list[Leaf]], base: list[float], n_features: int,
        right_closed: bool = True,
    ) -> TreeEnsemble:  # fmt: skip
        """From, per tree, its leaves ``(intervals by feature, values, cover)``."""
        n_trees = len(trees)
        n_leaves = max(len(t) for t in trees)
        depth = max(1, max(len(box) for t in trees for box, _, _ in t))
        k = len(base)
        features = torch.zeros(n_trees, n_leaves, depth, dtype=torch.long)
        lower = torch.full((n_trees, n_leaves, depth), -torch.inf, dtype=torch.float64)
        upper = torch.full((n_trees, n_leaves, depth), torch.inf, dtype=torch.float64)
        values = torch.zeros(n_trees, n_leaves, k, dtype=torch.float64)
        cover = torch.zeros(n_trees, n_leaves, dtype=torch.float64)
        for t, leaves in enumerate(trees):
            for leaf, (box, value, weight) in enumerate(leaves):
                for d, (f, (lo, hi)) in enumerate(sorted(box.items())):
                    features[t, leaf, d] = f
                    lower[t, leaf, d], upper[t, leaf, d] = lo, hi
                values[t, leaf] = torch.as_tensor(value, dtype=torch.float64)
                cover[t, leaf] = weight
        return cls(features, lower, upper, values, cover, torch.tensor(base, dtype=torch.float64),
                   n_features, right_closed)  # fmt: skip

    def to(self, device: torch.device | str) -> TreeEnsemble:
        """The same ensemble on ``device``."""
        return TreeEnsemble(self.features.to(device), self.lower.to(device),
                            self.upper.to(device), self.values.to(device),
                            self.cover.to(device), self.base.to(device), self.n_features,
                            self.right_closed, self.float32_inputs)  # fmt: skip

    def inside(self, x: Tensor) -> Tensor:
        """``(N, T, L, D)``: whether each row satisfies each path condition."""
        v = x[:, self.features]  # (N, T, L, D)
        if self.right_closed:
            return (v > self.lower) & (v <= self.upper)
        return (v >= self.lower) & (v < self.upper)

    def predict(self, x: Tensor) -> Tensor:
        """``(N, K)``: the model's raw output, from the boxes (a check of the reading)."""
        reached = self.inside(self.prepare(x)).all(-1).to(self.values.dtype)  # (N, T, L)
        return self.base + torch.einsum("ntl,tlk->nk", reached, self.values)
