r"""A tree ensemble whose players are groups of its input columns.

A scikit-learn pipeline encodes a table before its trees see it: a one-hot encoder turns the
column ``smoker`` into ``smoker_no``, ``smoker_yes`` and ``smoker_former``, and one path can
test several of them. Explained on the encoded columns, each of those is a player; summing
their values afterwards is *not* the Shapley value of ``smoker`` (a different game: the
coalitions that hold ``smoker_no`` but not ``smoker_yes`` describe no row of the table).

Here every original column is one player. On a leaf's path, player ``p``'s condition holds
when the row satisfies every split on every encoded column of ``p``; a path slot is a
player, not a column. The Shapley weights of the tree engine depend only on which slots a
row satisfies (:mod:`.interventional`), so the engine runs unchanged on the players' bits:

.. math:: \text{bit}_p(x) = \bigwedge_{d\,:\,\text{player}(d) = p} [x \text{ satisfies slot } d]

and, for the path-dependent values, a player's share of the cover is the product of its
columns' shares along the path (the fraction of training cover that followed the path at
every split on the player).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .ensemble import TreeEnsemble, pattern_dtype


@dataclass
class GroupedEnsemble(TreeEnsemble):
    """The trees of ``encoded`` with the groups of its columns as features.

    ``features`` ``(T, L, D)`` holds each leaf's distinct *players* (``D``: the most on any
    path); :meth:`patterns`, :meth:`inside` and ``shares`` are the players'. Rows are given
    as the trees see them (the encoded columns).
    """

    #: the ensemble over the encoded columns
    encoded: TreeEnsemble | None = field(default=None)
    #: ``(T, L, D_encoded)``: the player slot of each encoded slot (``D`` for padding)
    member: Tensor | None = field(default=None)

    @classmethod
    def group(cls, encoded: TreeEnsemble, player_of: list[int], n_players: int) -> GroupedEnsemble:
        """``player_of[j]``: the player (original column) of encoded column ``j``.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> from perspicio.tabular.trees import read_tree_model
        >>> X = np.random.default_rng(0).normal(size=(80, 3))
        >>> tree = DecisionTreeRegressor(max_depth=4).fit(X, X[:, 0] * X[:, 1] + X[:, 2])
        >>> grouped = GroupedEnsemble.group(read_tree_model(tree, X[0]), [0, 0, 1], 2)
        >>> grouped.n_features, bool(torch.allclose(grouped.predict(torch.tensor(X[:3])),
        ...                                         torch.tensor(tree.predict(X[:3])).view(-1, 1)))
        (2, True)
        """
        if len(player_of) != encoded.n_features:
            raise ValueError(
                f"`player_of` has {len(player_of)} entries for {encoded.n_features} columns"
            )
        used = encoded.used_slots().view(encoded.features.shape)  # (T, L, De)
        player = torch.tensor(player_of, dtype=torch.long, device=encoded.features.device)
        slot_player = torch.where(used, player[encoded.features], -1)  # (T, L, De)
        # each leaf's distinct players, in order, padded with -1
        distinct = torch.sort(slot_player, dim=-1).values
        first = torch.ones_like(distinct, dtype=torch.bool)
        first[..., 1:] = distinct[..., 1:] != distinct[..., :-1]
        first &= distinct >= 0
        depth = max(1, int(first.sum(-1).max()))
        rank = first.long().cumsum(-1) - 1  # slot index of each distinct player
        players = torch.zeros(*encoded.features.shape[:2], depth, dtype=torch.long)
        players = players.to(encoded.features.device)
        valid = torch.zeros_like(players, dtype=torch.bool)
        t, leaf, d = first.nonzero(as_tuple=True)
        players[t, leaf, rank[t, leaf, d]] = distinct[t, leaf, d]
        valid[t, leaf, rank[t, leaf, d]] = True
        # the slot of each encoded slot: where its player sits in the leaf's list
        match = (slot_player.unsqueeze(-1) == players.unsqueeze(-2)) & valid.unsqueeze(-2)
        member = torch.where(used, match.long().argmax(-1), depth)  # (T, L, De)
        shares = None
        if encoded.shares is not None:
            shares = torch.ones(*players.shape, dtype=torch.float64, device=players.device)
            padded = torch.cat([shares, torch.ones_like(shares[..., :1])], -1)
            for e in range(encoded.features.shape[-1]):
                padded.scatter_reduce_(
                    -1, member[..., e : e + 1], encoded.shares[..., e : e + 1], reduce="prod"
                )
            shares = padded[..., :depth].contiguous()
        unbounded = torch.full(players.shape, torch.inf, dtype=torch.float64)
        return cls(
            players,
            -unbounded,
            unbounded,
            encoded.values,
            encoded.cover,
            encoded.base,
            n_players,
            encoded.right_closed,
            encoded.float32_inputs,
            shares=shares,
            missing=None,
            encoded=encoded,
            member=member,
            _valid=valid,
        )

    _valid: Tensor | None = field(default=None)

    def prepare(self, x: Tensor) -> Tensor:
        return self.encoded.prepare(x)

    def predict(self, x: Tensor) -> Tensor:
        return self.encoded.predict(x)

    def used_slots(self) -> Tensor:
        return self._valid.reshape(-1, self.features.shape[-1])

    def inside(self, x: Tensor, budget: int = 1 << 24) -> Tensor:
        """``(N, T, L, D)``: whether each row satisfies every split on each player; the rows
        go ``budget`` encoded slots at a time (a large forest's slots times the rows would
        not fit in memory at once)."""
        n_trees, n_leaves, depth = self.features.shape
        encoded_depth = self.member.shape[-1]
        step = max(1, budget // max(1, n_trees * n_leaves * encoded_depth))
        out = torch.empty(len(x), n_trees, n_leaves, depth, dtype=torch.bool, device=x.device)
        for start in range(0, len(x), step):
            encoded_inside = self.encoded.inside(x[start : start + step])  # (n, T, L, De)
            fails = torch.zeros(
                *encoded_inside.shape[:3], depth + 1, dtype=torch.int16, device=x.device
            )
            index = self.member.unsqueeze(0).expand_as(encoded_inside)
            fails.scatter_add_(-1, index, (~encoded_inside).to(torch.int16))
            out[start : start + step] = fails[..., :-1] == 0
        return out

    def patterns(self, x: Tensor, leaf_major: bool = False) -> Tensor:
        """``(N, T, L)`` (or ``(T*L, N)``): each row's bit pattern over the players' slots."""
        depth = self.features.shape[-1]
        small = pattern_dtype(depth)
        wide = torch.int64 if small == torch.int64 else torch.int32
        bits = (1 << torch.arange(depth, device=x.device)).to(wide)
        out = torch.empty(len(x), *self.features.shape[:2], dtype=small, device=x.device)
        step = max(1, (1 << 22) // max(1, self.features.numel()))
        for start in range(0, len(x), step):
            inside = self.inside(x[start : start + step])  # (n, T, L, D)
            out[start : start + step] = (inside.to(wide) * bits).sum(-1).to(small)
        if leaf_major:
            return out.reshape(len(x), -1).T.contiguous()
        return out


__all__ = ["GroupedEnsemble"]
