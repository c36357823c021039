r"""ROAD, RemOve And Debias (Rong et al., 2022, "A consistent and efficient evaluation strategy
for attribution methods"), with its noisy linear imputation.

Deleting pixels by painting them black moves an image off the data the model knows, and the
painted shape itself tells the model where the pixels were. ROAD removes them by *imputing*
them from their neighbours instead (:func:`~perspicio.core.metrics.noisy_linear_imputation`:
each removed pixel the weighted mean of its eight neighbours, plus Gaussian noise of scale
``noise``). The pixels are removed most relevant first ("MoRF") or least relevant first
("LeRF") in fractions ``percentages``; ROAD reads the model's accuracy (and here the
explained output too) after each. A faithful map makes the MoRF curve fall fast and the
LeRF curve stay high.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import (
    TargetType,
    expand_additional_args,
    format_additional_args,
    format_target,
)
from .._engine.outputs import model_output
from .._engine.perturbation import resolve_chunk
from ..errors import AttributionTypeError, AttributionValueError
from ._common import check_images
from .imputation import noisy_linear_imputation


@dataclass
class RoadCurve:
    """ROAD's curves over ``percentages`` ``(P,)``: ``correct`` ``(N, P)`` (the predicted
    class is still the target), ``scores`` ``(N, P)`` (the explained output), ``accuracy``
    ``(P,)`` (the mean of ``correct``: ROAD's curve, Quantus' result) and ``auc`` ``(N,)``
    (the area under ``scores`` over the removed fraction, 0 to 1)."""

    percentages: Tensor
    correct: Tensor
    scores: Tensor
    accuracy: Tensor
    auc: Tensor


def _check_percentages(percentages: Sequence[float]) -> Tensor:
    p = torch.as_tensor(list(percentages), dtype=torch.float64)
    if p.dim() != 1 or p.numel() == 0:
        raise AttributionValueError(
            f"`percentages` must be a non-empty sequence of numbers, got {percentages!r}"
        )
    if bool(((p < 0) | (p >= 100)).any()):
        raise AttributionValueError(
            f"`percentages` must lie in [0, 100) (some pixels must stay to impute from), got "
            f"{p.tolist()}"
        )
    return p


@torch.no_grad()
def road(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    *,
    percentages: Sequence[float] = tuple(range(1, 100, 2)),
    order: str = "morf",
    noise: float = 0.01,
    noise_draws: Tensor | None = None,
    generator: torch.Generator | None = None,
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> RoadCurve:
    """ROAD (Rong et al., 2022): remove the ``percentages`` most (``order="morf"``) or least
    (``"lerf"``) relevant pixels by noisy linear imputation; the accuracy and the explained
    output after each.

    A pixel's relevance is its attribution summed over the channels; the ``int(H * W * p /
    100)`` first pixels are removed (as Quantus' ``ROAD``, which takes single-channel images
    only: here any number of channels is imputed from the same system). The per-example
    score of a comparison is ``auc`` under MoRF: lower is better.

    Parameters
    ----------
    forward_func : callable
        The model: ``(N, C, H, W)`` to class scores ``(N, K)``.
    inputs : Tensor
        Images ``(N, C, H, W)``.
    attributions : Tensor
        ``(N, C, H, W)`` or ``(N, 1, H, W)``.
    target : int, tuple, tensor or list, optional
        The class each example is explained for (its prediction if ``None``).
    percentages : sequence of float
        The fractions removed, in percent, each in [0, 100).
    order : {"morf", "lerf"}
        Most relevant first or least relevant first.
    noise : float
        The imputation noise's standard deviation.
    noise_draws : Tensor, optional
        ``(N, P, C, H, W)`` standard normal draws, one image of them per percentage (to hand
        two libraries the same noise); drawn with ``generator`` when not given.
    generator : torch.Generator, optional
        The noise's random generator.
    additional_forward_args : any, optional
        Passed to ``forward_func`` after the inputs.
    perturbations_per_eval : int or "auto"
        Percentages per model call.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    >>> x = torch.rand(2, 1, 8, 8)
    >>> curve = road(net, x, torch.rand(2, 1, 8, 8), percentages=[10, 50, 90])
    >>> curve.scores.shape, curve.accuracy.shape
    (torch.Size([2, 3]), torch.Size([3]))
    """
    check_images(inputs)
    if order not in ("morf", "lerf"):
        raise AttributionValueError(f'`order` must be "morf" or "lerf", got {order!r}')
    n, c, h, w = inputs.shape
    if not isinstance(attributions, Tensor):
        raise AttributionTypeError(
            f"`attributions` must be a tensor, got {type(attributions).__name__}"
        )
    if attributions.dim() != 4 or attributions.shape[0] != n or attributions.shape[2:] != (h, w):
        raise AttributionValueError(
            f"`attributions` must be (N, C, H, W) or (N, 1, H, W) with the inputs' N, H, W "
            f"{(n, h, w)}, got {tuple(attributions.shape)}"
        )
    p = _check_percentages(percentages)
    if noise_draws is not None and tuple(noise_draws.shape) != (n, p.numel(), c, h, w):
        raise AttributionValueError(
            f"`noise_draws` must have shape (N, P, C, H, W) = {(n, p.numel(), c, h, w)}, got "
            f"{tuple(noise_draws.shape)}"
        )
    relevance = attributions.detach().sum(1).reshape(n, -1)
    rank = relevance.argsort(dim=1, descending=order == "morf", stable=True).argsort(1).cpu()
    counts = (h * w * p / 100).long()  # Quantus: int(a_size * p / 100)
    args = format_additional_args(additional_forward_args)
    if target is None:
        target = model_output(forward_func(inputs, *args)).argmax(-1)
    tgt = format_target(target, n)
    chunk = resolve_chunk(perturbations_per_eval, forward_func, (inputs,), args, p.numel())
    scores, correct = [], []
    for start in range(0, p.numel(), chunk):
        sl = slice(start, min(p.numel(), start + chunk))
        m = sl.stop - sl.start
        removed = rank.unsqueeze(0) < counts[sl].view(-1, 1, 1)  # (m, n, H*W)
        draws = None
        if noise_draws is not None:
            draws = noise_draws[:, sl].transpose(0, 1).reshape(m * n, c, h, w)
        elif noise:
            draws = torch.randn((m * n, c, h, w), generator=generator, dtype=torch.float64)
        imputed = noisy_linear_imputation(
            inputs.repeat(m, 1, 1, 1),
            removed.reshape(m * n, h, w),
            noise=noise,
            noise_draws=draws,
        ).to(inputs.device)
        out = model_output(forward_func(imputed, *expand_additional_args(args, n, m)))
        scores.append(tgt.expand(m).select(out).reshape(m, n))
        if tgt.per_example is not None and tgt.per_example.shape[1] == 1:
            label = tgt.per_example[:, 0].to(out.device).repeat(m)
        elif tgt.index is not None and len(tgt.index) == 1:
            label = torch.full((m * n,), tgt.index[0], device=out.device)
        else:
            raise AttributionValueError(
                "ROAD reads the accuracy: `target` must be one class index per example"
            )
        correct.append((out.argmax(-1) == label).reshape(m, n))
    s = torch.cat(scores).t()
    hit = torch.cat(correct).t()
    x = p.to(s.device, s.dtype if s.is_floating_point() else torch.float64) / 100
    auc = torch.trapezoid(s.double(), x.double(), dim=1) if p.numel() > 1 else s[:, 0] * 0
    return RoadCurve(p, hit, s, hit.double().mean(0), auc)
