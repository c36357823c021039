"""Does the explanation point at the object? Localisation scores against a ground-truth mask.

For data with known object locations (boxes, segmentation masks: the generated scenes of
the demos, annotated validation sets), each score compares an attribution map with the
mask of the object the target is about. The definitions follow the papers, as Quantus
implements them (``quantus.PointingGame``, ``AttributionLocalisation``,
``RelevanceMassAccuracy``, ``RelevanceRankAccuracy``); an example whose mask is empty
scores NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError


def _pair(attributions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Attributions and the boolean mask, both ``(N, D)``; the mask broadcast to the map."""
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
    return attributions.detach().reshape(n, -1), full.reshape(n, -1)


def _nan_where_empty(score: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask.any(1), score, torch.full_like(score, float("nan")))


def pointing_game(attributions: Tensor, mask: Tensor) -> Tensor:
    """1 where the attribution's maximum lies inside the mask, else 0, per example (Zhang et
    al., 2018); with ties, any maximal position inside counts. Higher is better.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[0.1, 0.9, 0.2, 0.0], [0.8, 0.1, 0.1, 0.0]])
    >>> mask = torch.tensor([[False, True, True, False]])
    >>> pointing_game(a, mask).tolist()
    [1.0, 0.0]
    """
    a, s = _pair(attributions, mask)
    at_max = a == a.amax(1, keepdim=True)
    hit = (at_max & s).any(1).to(a.dtype if a.is_floating_point() else torch.float32)
    return _nan_where_empty(hit, s)


def energy_pointing_game(attributions: Tensor, mask: Tensor) -> Tensor:
    r"""Share of the positive attribution that falls inside the mask (the energy-based
    pointing game of Wang et al., 2020; Quantus' ``AttributionLocalisation``):
    :math:`\sum_{i \in S} a_i^+ / \sum_i a_i^+`. Higher is better.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[3.0, 1.0, -2.0, 0.0]])
    >>> energy_pointing_game(a, torch.tensor([[True, False, True, False]])).tolist()
    [0.75]
    """
    a, s = _pair(attributions, mask)
    positive = a.clamp(min=0)
    inside = (positive * s).sum(1)
    total = positive.sum(1)
    share = inside / torch.where(total > 0, total, torch.ones_like(total))
    return _nan_where_empty(share, s)


def relevance_mass(attributions: Tensor, mask: Tensor) -> Tensor:
    r"""Relevance mass accuracy (Arras et al., 2022): the share of the total attribution
    inside the mask, :math:`\sum_{i \in S} a_i / \sum_i a_i` (signed, as Quantus computes it
    by default; pass ``a.abs()`` for the share of the magnitude). Higher is better.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[3.0, 1.0, 0.0, 0.0]])
    >>> relevance_mass(a, torch.tensor([[True, False, False, False]])).tolist()
    [0.75]
    """
    a, s = _pair(attributions, mask)
    return _nan_where_empty((a * s).sum(1) / a.sum(1), s)


def relevance_rank(attributions: Tensor, mask: Tensor) -> Tensor:
    """Relevance rank accuracy (Arras et al., 2022): with ``K`` the size of the mask, the
    share of the ``K`` highest attributions that lie inside it. Higher is better.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[0.9, 0.1, 0.8, 0.7]])
    >>> relevance_rank(a, torch.tensor([[True, True, False, False]])).tolist()
    [0.5]
    """
    a, s = _pair(attributions, mask)
    k = s.sum(1)
    order = torch.sort(a, dim=1, descending=True, stable=True).indices
    inside_by_rank = s.gather(1, order)
    top = torch.arange(a.shape[1], device=a.device).unsqueeze(0) < k.unsqueeze(1)
    hits = (inside_by_rank & top).sum(1).to(torch.float32)
    return _nan_where_empty(hits / k.clamp(min=1), s)
