r"""Sufficiency in Dasgupta's sense (Dasgupta, Frost and Moshkovitz, 2022, "Framework for
evaluating faithfulness of local explanations"): an explanation is sufficient when the
inputs it also describes get the same prediction.

Two examples share an explanation when their attributions lie within ``threshold`` of each
other; the score of example :math:`i` is the fraction of the *other* examples within the
threshold that the model puts in :math:`i`'s class,

.. math:: \mathrm{suff}(i) = \frac{|\{j \ne i : d(a_i, a_j) \le t,\ \hat y_j = \hat y_i\}|}
          {|\{j \ne i : d(a_i, a_j) \le t\}|},

0 when no other example is within the threshold. Higher is better. The metric is defined
over a set of examples: an example's score depends on the others of the call (use a
sample of the data, not one image). Not to be confused with ERASER's sufficiency of the
top-k tokens (``perspicio.text.metrics.eraser``).

Distances are divided by the largest among the examples (``relative=True``, as Quantus
does), so that the threshold is a fraction of their spread. The default distance is the
standardised Euclidean one (each coordinate divided by its variance over the examples, as
Quantus' ``Sufficiency``); coordinates on which all the attributions agree carry no
information and are left out, where scipy's ``seuclidean`` divides 0 by 0 and makes every
distance NaN (no example would share an explanation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import format_additional_args
from .._engine.outputs import model_output
from ..errors import AttributionTypeError, AttributionValueError


def attribution_distances(attributions: Tensor, distance: str = "seuclidean") -> Tensor:
    """The ``(N, N)`` distances between the examples' flattened attributions:
    ``"seuclidean"`` (standardised by each coordinate's variance over the examples, as
    scipy's ``cdist(a, a, "seuclidean")`` computes it) or ``"euclidean"``."""
    a = attributions.detach().reshape(attributions.shape[0], -1).double()
    if distance == "seuclidean":
        # scipy's cdist(A, A, "seuclidean") (Quantus): the variance of A stacked on itself,
        # ddof 1, that is the population variance times 2n / (2n - 1)
        n = a.shape[0]
        var = a.var(0, correction=0) * (2 * n / (2 * n - 1))
        keep = var > 0
        a = a[:, keep] / var[keep].sqrt()
    elif distance != "euclidean":
        raise AttributionValueError(
            f'`distance` must be "seuclidean" or "euclidean", got {distance!r}'
        )
    return torch.cdist(a, a)


@torch.no_grad()
def dasgupta_sufficiency(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    *,
    threshold: float = 0.6,
    distance: str = "seuclidean",
    relative: bool = True,
    additional_forward_args: Any = None,
) -> Tensor:
    """Dasgupta et al.'s sufficiency per example: the share of the other examples with an
    attribution within ``threshold`` that get the same predicted class. Higher is better.

    Parameters
    ----------
    forward_func : callable
        The model: inputs to class scores ``(N, K)``.
    inputs : Tensor
        ``(N, ...)``: a set of examples (at least two).
    attributions : Tensor
        ``(N, ...)``, one explanation per example.
    threshold : float
        The distance under which two examples share an explanation.
    distance : {"seuclidean", "euclidean"}
        See :func:`attribution_distances`.
    relative : bool
        Divide the distances by the largest among the examples first (as Quantus does), so
        that ``threshold`` is a fraction of their spread; ``False`` compares the distances
        themselves.
    additional_forward_args : any, optional
        Passed to ``forward_func`` after the inputs.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(1, 2)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[1.0], [-1.0]])), net.bias.zero_()
    >>> x = torch.tensor([[1.0], [2.0], [-1.0], [-2.0]])
    >>> same_sign = torch.sign(x)  # the explanation names the class
    >>> dasgupta_sufficiency(net, x, same_sign, threshold=0.1, distance="euclidean").tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    if not isinstance(inputs, Tensor) or not isinstance(attributions, Tensor):
        raise AttributionTypeError(
            f"`inputs` and `attributions` must be tensors, got {type(inputs).__name__} and "
            f"{type(attributions).__name__}"
        )
    n = inputs.shape[0]
    if attributions.shape[0] != n:
        raise AttributionValueError(
            f"`attributions` must hold one explanation per example ({n}), got "
            f"{attributions.shape[0]}"
        )
    if n < 2:
        raise AttributionValueError(
            f"`inputs`: sufficiency compares examples with each other; give at least 2, got {n}"
        )
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or threshold < 0:
        raise AttributionValueError(f"`threshold` must be a number >= 0, got {threshold!r}")
    args = format_additional_args(additional_forward_args)
    predicted = model_output(forward_func(inputs, *args)).argmax(-1).reshape(n)
    d = attribution_distances(attributions, distance)
    if relative and bool((d > 0).any()):
        d = d / d.max()
    near = d <= threshold
    near.fill_diagonal_(False)
    same = predicted[:, None] == predicted[None, :]
    shared = near.sum(1)
    agree = (near & same.to(near.device)).sum(1)
    return torch.where(shared > 0, agree / shared.clamp(min=1), torch.zeros(())).double()
