r"""Iterative removal of features, IROF (Rieger and Hansen, 2020, "IROF: a low resource
evaluation metric for explanation methods").

The image's segments (superpixels) are replaced by the image's mean one after the other, in
order of their mean attribution (each segment by the mean of the image as it is when its turn
comes, as Quantus' ``IROF`` does), and the explained output is read relative to the
unperturbed one, :math:`f(x^{(k)}) / f(x)`. The score is the area *over* that curve (unit
steps: ``n_segments`` minus the area under it). Higher is better: a faithful map removes the
evidence first and the output falls at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import TargetType, format_additional_args, format_target
from .._engine.outputs import run_forward
from .._engine.perturbation import evaluate, resolve_chunk
from ..errors import AttributionTypeError, AttributionValueError
from ._common import check_images
from .faithfulness_correlation import flat_attributions


@torch.no_grad()
def irof(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    segments: Tensor,
    target: TargetType = None,
    *,
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> Tensor:
    """IROF per example (Rieger and Hansen, 2020). Higher is better.

    Parameters
    ----------
    forward_func : callable
    inputs : tensor (N, C, H, W)
    attributions : tensor
        Broadcastable to ``inputs``.
    segments : tensor (N, H, W) or (H, W) of int
        Each pixel's segment, numbered from 0 (``perspicio.vision.segment`` gives SLIC
        superpixels, as Quantus' ``IROF`` uses).
    target : optional

    Returns
    -------
    tensor (N,)
        The area over the curve of the relative output; examples with fewer segments than
        others in the batch count only their own.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1, bias=False))
    >>> with torch.no_grad():
    ...     _ = net[1].weight.fill_(1.0)
    >>> x = torch.zeros(1, 1, 4, 4)
    >>> x[..., :2, :2] = 4.0  # the evidence: one bright 2x2 block
    >>> blocks = (torch.arange(4).view(4, 1) // 2) * 2 + torch.arange(4).view(1, 4) // 2
    >>> exact = x * net[1].weight.view(1, 1, 4, 4)
    >>> bool(irof(net, x, exact, blocks) > irof(net, x, -exact, blocks))
    True
    """
    check_images(inputs)
    n, _, height, width = inputs.shape
    if not isinstance(segments, Tensor) or segments.is_floating_point():
        raise AttributionTypeError("`segments` must be an integer tensor (N, H, W) or (H, W)")
    try:
        seg = torch.broadcast_to(segments.to(inputs.device).long(), (n, height, width))
    except RuntimeError:
        raise AttributionValueError(
            f"`segments` of shape {tuple(segments.shape)} do not match the images' "
            f"{(n, height, width)}"
        ) from None
    a = flat_attributions(inputs, attributions).reshape(inputs.shape).double()
    n_seg = int(seg.max()) + 1
    flat_seg = seg.reshape(n, -1)
    sums = torch.zeros(n, n_seg, dtype=torch.float64, device=a.device)
    sums = sums.scatter_add(1, flat_seg, a.sum(1).reshape(n, -1))
    sizes = torch.zeros(n, n_seg, dtype=torch.float64, device=a.device).scatter_add(
        1, flat_seg, torch.ones_like(flat_seg, dtype=torch.float64)
    )
    present = sizes > 0
    mean = torch.where(present, sums / (sizes * inputs.shape[1]).clamp(min=1), -torch.inf)
    order = mean.argsort(1, descending=True)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(n_seg, device=order.device).expand(n, -1)
    )
    pixel_rank = rank.gather(1, flat_seg).view(n, 1, height, width)
    counts = present.sum(1)  # each example's own number of segments
    # the value each segment takes: the mean of the image when its turn comes, a scalar
    # recurrence over the steps (total_k = total_{k-1} - its values + its size * mean_k)
    x = inputs.reshape(n, -1).double()
    seg_sum = torch.zeros(n, n_seg, dtype=torch.float64, device=x.device).scatter_add(
        1, flat_seg.repeat(1, inputs.shape[1]), x
    )
    seg_size = sizes * inputs.shape[1]
    total, fill = x.sum(1), torch.zeros(n, n_seg, dtype=torch.float64, device=x.device)
    for k in range(n_seg):
        j = order[:, k]
        m = total / x.shape[1]
        fill[:, k] = m
        total = (
            total - seg_sum.gather(1, j[:, None])[:, 0] + seg_size.gather(1, j[:, None])[:, 0] * m
        )
    base = fill.gather(1, pixel_rank.reshape(n, -1).clamp(max=n_seg - 1))
    base = base.view(n, 1, height, width).expand_as(inputs).to(inputs.dtype)
    tgt = format_target(target, n)
    args = format_additional_args(additional_forward_args)

    def build(sl: slice) -> tuple[Tensor, ...]:
        steps = torch.arange(sl.start + 1, sl.stop + 1, device=inputs.device)
        gone = pixel_rank.unsqueeze(0) < steps.view(-1, 1, 1, 1, 1)
        points = torch.where(gone, base.unsqueeze(0), inputs.unsqueeze(0))
        return (points.reshape((-1,) + inputs.shape[1:]),)

    chunk = resolve_chunk(perturbations_per_eval, forward_func, (inputs,), args, n_seg)
    full = run_forward(forward_func, (inputs,), tgt, args).double()
    out = evaluate(forward_func, build, n_seg, n, tgt, args, chunk).t().double()  # (n, S)
    step = torch.arange(n_seg, device=out.device).expand(n, -1)
    ratio = torch.where(step < counts.unsqueeze(1), out / full.unsqueeze(1), 0.0)
    under = torch.trapezoid(ratio, dx=1.0, dim=1) if n_seg > 1 else ratio[:, 0] * 0
    return counts.double() - under
