"""Does the explanation point at the object? Localisation scores against a ground-truth mask.

For data with known object locations (boxes, segmentation masks: the generated scenes of
the demos, annotated validation sets), each score compares an attribution map with the
mask of the object the target is about. An example whose mask is empty scores NaN.

Every score here has the same **chance level**: the mask's share of the map,
:func:`chance_level`. It is what a map that knows nothing scores: a random map on average
(the two mass shares about), a constant map exactly. A score means something only well
above it: a box covering a third of the image gives one hit in three to a random peak.

The definitions follow the papers, as Quantus implements them (``quantus.PointingGame``,
``AttributionLocalisation``, ``RelevanceMassAccuracy``, ``RelevanceRankAccuracy``), and
agree with it on maps without ties. They differ on purpose where a map does not decide:

* ties count as their expected value under random tie-breaking. Quantus' pointing game
  counts a hit when *any* maximal position lies in the mask (two equal peaks, one inside,
  score 1 there and 1/2 here), and its rank accuracy takes tied positions in whatever
  order numpy's sort leaves them, so the score depends on where the mask lies;
* a flat map (every value the same, all zero included; for the energy pointing game, a
  flat positive part) scores exactly the chance level, where Quantus refuses the map
  (an assertion) or, without its checks, divides 0 by 0 or counts any tied peak a hit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError
from ._common import average_ranks

#: The names of the localisation scores, all of chance level :func:`chance_level`.
LOCALISATION_METRICS = (
    "pointing_game",
    "energy_pointing_game",
    "relevance_mass",
    "relevance_rank",
    "top_k_intersection",
)


def _pair(attributions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Attributions (floating point) and the boolean mask, both ``(N, D)``; the mask
    broadcast to the map."""
    if not isinstance(attributions, Tensor):
        raise AttributionTypeError(
            f"`attributions` must be a tensor (N, ...), got {type(attributions).__name__}"
        )
    if not isinstance(mask, Tensor):
        raise AttributionTypeError(f"`mask` must be a tensor, got {type(mask).__name__}")
    if attributions.dim() < 2:
        raise AttributionValueError(
            f"`attributions` must have a batch dimension and features, (N, ...), got shape "
            f"{tuple(attributions.shape)}"
        )
    try:
        full = torch.broadcast_to(mask.to(attributions.device).bool(), attributions.shape)
    except RuntimeError:
        raise AttributionValueError(
            f"`mask` of shape {tuple(mask.shape)} does not broadcast to the attributions' "
            f"shape {tuple(attributions.shape)}"
        ) from None
    n = attributions.shape[0]
    a = attributions.detach().reshape(n, -1)
    return (a if a.is_floating_point() else a.float()), full.reshape(n, -1)


def _share(s: Tensor, dtype: torch.dtype) -> Tensor:
    """The mask's share of each row."""
    return s.sum(1).to(dtype) / s.shape[1]


def _finish(score: Tensor, a: Tensor, s: Tensor, flat: Tensor) -> Tensor:
    """The chance level where the map is flat; NaN where the mask is empty or the map holds
    a NaN."""
    score = torch.where(flat, _share(s, a.dtype), score.to(a.dtype))
    undefined = ~s.any(1) | a.isnan().any(1)
    return torch.where(undefined, torch.full_like(score, float("nan")), score)


def _is_flat(a: Tensor) -> Tensor:
    return a.amax(1) == a.amin(1)


def chance_level(
    metric: str | Callable[..., Tensor], mask: Tensor, attributions: Tensor | None = None
) -> Tensor:
    """What a localisation score gives a map that knows nothing: the mask's share of the
    map, per example (NaN for an empty mask), the same for every score of this module.

    A random map scores it on average (the two mass shares about), a constant map exactly.

    Parameters
    ----------
    metric : str or callable
        One of :data:`LOCALISATION_METRICS`, by name or the function itself.
    mask : tensor (N, ...)
        The ground truth, as the score takes it.
    attributions : tensor (N, ...), optional
        The maps, when ``mask`` is to be broadcast to them (a mask without a batch
        dimension, or one shared by the channels).

    Returns
    -------
    tensor (N,)

    Examples
    --------
    >>> import torch
    >>> mask = torch.tensor([[True, False, False, False], [True, True, False, False]])
    >>> chance_level("pointing_game", mask).tolist()
    [0.25, 0.5]
    >>> flat = torch.zeros(2, 4)
    >>> (pointing_game(flat, mask) == chance_level(pointing_game, mask)).all().item()
    True
    """
    name = getattr(metric, "__name__", metric)
    if name not in LOCALISATION_METRICS:
        raise AttributionValueError(
            f"`metric` must be one of {list(LOCALISATION_METRICS)}, got {metric!r}"
        )
    if attributions is None:
        if not isinstance(mask, Tensor) or mask.dim() < 1:
            raise AttributionValueError("`mask` must be a tensor (N, ...)")
        attributions = torch.zeros(mask.shape if mask.dim() > 1 else (mask.shape[0], 1))
    a, s = _pair(attributions, mask)
    return _finish(torch.zeros_like(a[:, 0]), a, s, torch.ones_like(s[:, 0]))


def pointing_game(attributions: Tensor, mask: Tensor) -> Tensor:
    """1 where the attribution's maximum lies inside the mask, else 0, per example (Zhang et
    al., 2018). Higher is better; chance level: the mask's share of the map.

    With ties, the share of the maximal positions that lie inside the mask: the expected
    hit when the tie is broken at random (Quantus counts a hit when any of them does: a
    map whose only peaks are one inside and one outside scores 1 there, 1/2 here; a flat
    map scores the chance level here).

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[0.1, 0.9, 0.2, 0.0], [0.8, 0.1, 0.1, 0.0], [0.9, 0.9, 0.2, 0.0]])
    >>> mask = torch.tensor([[False, True, True, False]])
    >>> pointing_game(a, mask).tolist()  # the third: one of its two peaks inside
    [1.0, 0.0, 0.5]
    >>> pointing_game(torch.zeros(1, 4), mask).tolist()  # a flat map: the chance level
    [0.5]
    """
    a, s = _pair(attributions, mask)
    at_max = a == a.amax(1, keepdim=True)
    hits = (at_max & s).sum(1).to(a.dtype) / at_max.sum(1).clamp(min=1).to(a.dtype)
    return _finish(hits, a, s, _is_flat(a))


def energy_pointing_game(attributions: Tensor, mask: Tensor) -> Tensor:
    r"""Share of the positive attribution that falls inside the mask (the energy-based
    pointing game of Wang et al., 2020; Quantus' ``AttributionLocalisation``):
    :math:`\sum_{i \in S} a_i^+ / \sum_i a_i^+`. Higher is better; chance level: the mask's
    share of the map.

    A map whose positive part is flat (no positive value at all, or the same positive value
    everywhere) scores the chance level.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[3.0, 1.0, -2.0, 0.0], [-1.0, -1.0, -2.0, 0.0]])
    >>> energy_pointing_game(a, torch.tensor([[True, False, True, False]])).tolist()
    [0.75, 0.5]
    """
    a, s = _pair(attributions, mask)
    positive = a.clamp(min=0)
    inside = (positive * s).sum(1)
    total = positive.sum(1)
    share = inside / torch.where(total > 0, total, torch.ones_like(total))
    return _finish(share, a, s, _is_flat(positive))


def relevance_mass(attributions: Tensor, mask: Tensor) -> Tensor:
    r"""Relevance mass accuracy (Arras et al., 2022): the share of the total attribution
    inside the mask, :math:`\sum_{i \in S} a_i / \sum_i a_i` (signed, as Quantus computes it
    by default; pass ``a.abs()`` for the share of the magnitude). Higher is better; chance
    level: the mask's share of the map.

    A flat map (all zero included) scores the chance level, where Quantus gives 0 / 0; a
    map that is not flat but sums to zero has no share and scores NaN. With mixed signs the
    share can leave [0, 1].

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[3.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    >>> relevance_mass(a, torch.tensor([[True, False, False, False]])).tolist()
    [0.75, 0.25]
    """
    a, s = _pair(attributions, mask)
    total = a.sum(1)
    share = (a * s).sum(1) / torch.where(total != 0, total, torch.full_like(total, float("nan")))
    return _finish(share, a, s, _is_flat(a))


def relevance_rank(attributions: Tensor, mask: Tensor) -> Tensor:
    """Relevance rank accuracy (Arras et al., 2022): with ``K`` the size of the mask, the
    share of the ``K`` highest attributions that lie inside it. Higher is better; chance
    level: the mask's share of the map.

    Positions tied with the ``K``-th highest value count fractionally: the places left
    among the top ``K`` are shared among them, so each counts as the expected value under
    random tie-breaking (Quantus takes tied positions in the order numpy's sort leaves
    them, so a map of zeros but for a few peaks scores by where the mask lies; a flat map
    scores the chance level here).

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[0.9, 0.1, 0.8, 0.7], [0.9, 0.5, 0.5, 0.1]])
    >>> relevance_rank(a, torch.tensor([[True, True, False, False]])).tolist()
    [0.5, 0.75]
    """
    a, s = _pair(attributions, mask)
    return _finish(_top_share(a, s, s.sum(1)), a, s, _is_flat(a))


def _top_share(a: Tensor, s: Tensor, k: Tensor) -> Tensor:
    """The share of each row's ``k`` highest values inside the mask, positions tied with
    the ``k``-th counting as their expected value under random tie-breaking."""
    kth = a.sort(1, descending=True).values.gather(1, (k - 1).clamp(min=0).unsqueeze(1))
    above, tied = a > kth, a == kth
    places = (k - above.sum(1)).double()  # top-k places left to the tied positions
    hits = (above & s).sum(1) + places * (tied & s).sum(1) / tied.sum(1).clamp(min=1)
    return hits / k.clamp(min=1)


def top_k_intersection(attributions: Tensor, mask: Tensor, k: int = 1000) -> Tensor:
    """Top-k intersection (Theiner et al., 2022): the share of the ``k`` highest
    attributions that lie inside the mask. Higher is better; chance level: the mask's share
    of the map. :func:`relevance_rank` is this score with ``k`` the mask's size.

    Ties at the ``k``-th value count as their expected value under random tie-breaking
    (Quantus' ``TopKIntersection`` takes numpy's sort order); a flat map scores the chance
    level.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[0.9, 0.1, 0.8, 0.7]])
    >>> top_k_intersection(a, torch.tensor([[True, False, False, True]]), k=2).tolist()
    [0.5]
    """
    a, s = _pair(attributions, mask)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= a.shape[1]:
        raise AttributionValueError(
            f"`k` must be an int between 1 and the number of features ({a.shape[1]}), got {k!r}"
        )
    return _finish(
        _top_share(a, s, torch.full_like(s[:, 0], k, dtype=torch.long)), a, s, _is_flat(a)
    )


def roc_auc(attributions: Tensor, mask: Tensor) -> Tensor:
    """The area under the ROC curve of the attribution as a detector of the mask's
    positions (Fawcett, 2006; Quantus' ``AUC``): the probability that a position inside the
    mask outranks one outside, ties counting one half. Higher is better; chance level 0.5
    (a flat map scores it exactly). NaN where the mask is empty or covers everything.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[0.9, 0.1, 0.8, 0.7], [1.0, 1.0, 1.0, 1.0]])
    >>> roc_auc(a, torch.tensor([[True, False, True, False]])).tolist()
    [1.0, 0.5]
    """
    a, s = _pair(attributions, mask)
    ranks = average_ranks(a)
    n_pos = s.sum(1).double()
    n_neg = s.shape[1] - n_pos
    auc = ((ranks * s).sum(1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    undefined = (n_pos == 0) | (n_neg == 0) | a.isnan().any(1)
    return torch.where(undefined, torch.full_like(auc, float("nan")), auc).to(a.dtype)
