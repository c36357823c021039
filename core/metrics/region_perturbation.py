r"""Region perturbation (Samek et al., 2017, "Evaluating the visualization of what a deep
neural network has learned") and selectivity (Montavon et al., 2018, "Methods for
interpreting and understanding deep neural networks").

The image is cut into square patches; patches are set to a baseline one after the other,
in order of the attribution they hold (most relevant first, "MoRF"), and the model's output
is read after each. Region perturbation reports the drop :math:`f(x) - f(x^{(k)})` and its
average over the steps, the AOPC (higher is better); selectivity reports the output itself
and the area under it (lower is better: a faithful map makes the output fall fast).

Patches follow Quantus' layout: an image whose side is not a multiple of the patch size is
padded evenly on both sides (the patches at the border hold fewer pixels), and a patch's
attribution is the sum over its pixels and channels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import TargetType, check_positive_int, format_additional_args, format_target
from .._engine.outputs import run_forward
from .._engine.perturbation import evaluate, resolve_chunk
from ..errors import AttributionValueError
from ._common import check_images
from .faithfulness_correlation import baseline_values, flat_attributions


@dataclass
class RegionCurve:
    """Outputs as patches are removed: ``scores`` ``(N, L + 1)`` (the unperturbed output
    first), ``drops`` ``(N, L)`` (:math:`f(x) - f(x^{(k)})`, k = 1..L), ``aopc`` ``(N,)``
    (their mean: region perturbation's score) and ``auc`` ``(N,)`` (the area under
    ``scores[:, 1:]``, unit steps: selectivity's score)."""

    scores: Tensor
    drops: Tensor
    aopc: Tensor
    auc: Tensor


def patch_ids(height: int, width: int, patch_size: int, device=None) -> tuple[Tensor, int]:
    """Each pixel's patch (row-major over the evenly padded grid) and the number of
    patches."""
    pad_h, pad_w = (-height) % patch_size, (-width) % patch_size
    rows = (torch.arange(height, device=device) + pad_h // 2) // patch_size
    cols = (torch.arange(width, device=device) + pad_w // 2) // patch_size
    n_cols = (width + pad_w) // patch_size
    n_patches = ((height + pad_h) // patch_size) * n_cols
    return rows[:, None] * n_cols + cols[None, :], n_patches


@torch.no_grad()
def region_perturbation(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    *,
    patch_size: int = 8,
    regions: int | None = None,
    order: str = "morf",
    baseline: Any = "black",
    orders: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> RegionCurve:
    """Remove ``regions`` patches of ``patch_size`` pixels one after the other.

    Parameters
    ----------
    forward_func : callable
    inputs : tensor (N, C, H, W)
    attributions : tensor
        Broadcastable to ``inputs``.
    target : optional
    patch_size : int
    regions : int or None
        How many patches are removed (all of them with None).
    order : {"morf", "lerf", "random"}
        Most relevant first, least relevant first, or a random order (drawn with
        ``generator``, or given as ``orders``, ``(N, n_patches)``).
    baseline : "black", "white", "mean", number or tensor
        What a removed patch is set to ("black": each example's minimum).

    Returns
    -------
    RegionCurve

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1, bias=False))
    >>> x = torch.rand(2, 1, 4, 4)
    >>> exact = x * net[1].weight.view(1, 1, 4, 4)
    >>> good = region_perturbation(net, x, exact, patch_size=2, baseline=0.0)
    >>> bad = region_perturbation(net, x, -exact, patch_size=2, baseline=0.0)
    >>> bool((good.aopc > bad.aopc).all())
    True
    """
    check_images(inputs)
    check_positive_int(patch_size, "patch_size")
    if order not in ("morf", "lerf", "random"):
        raise AttributionValueError(f"`order` must be 'morf', 'lerf' or 'random', got {order!r}")
    n, _, height, width = inputs.shape
    a = flat_attributions(inputs, attributions).reshape(inputs.shape)
    ids, n_patches = patch_ids(height, width, patch_size, inputs.device)
    if regions is None:
        regions = n_patches
    check_positive_int(regions, "regions")
    if regions > n_patches:
        raise AttributionValueError(
            f"`regions` must be at most the number of patches ({n_patches}), got {regions}"
        )
    sums = torch.zeros(n, n_patches, dtype=a.dtype, device=a.device)
    sums.index_add_(1, ids.reshape(-1), a.sum(1).reshape(n, -1))
    if order == "random":
        if orders is None:
            gen = (
                torch.Generator().manual_seed(generator)
                if isinstance(generator, int)
                else generator
            )
            orders = torch.stack([torch.randperm(n_patches, generator=gen) for _ in range(n)])
        elif tuple(orders.shape) != (n, n_patches):
            raise AttributionValueError(
                f"`orders` must be ({n}, {n_patches}) patch permutations, got {tuple(orders.shape)}"
            )
        ranked = orders.to(inputs.device).long()
    else:
        ranked = sums.argsort(1, descending=order == "morf")
    rank = torch.empty_like(ranked).scatter_(
        1, ranked, torch.arange(n_patches, device=ranked.device).expand(n, -1)
    )
    pixel_rank = rank.gather(1, ids.reshape(1, -1).expand(n, -1)).view(n, 1, height, width)
    base = baseline_values(inputs, baseline)
    tgt = format_target(target, n)
    args = format_additional_args(additional_forward_args)

    def build(sl: slice) -> tuple[Tensor, ...]:
        steps = torch.arange(sl.start + 1, sl.stop + 1, device=inputs.device)
        gone = pixel_rank.unsqueeze(0) < steps.view(-1, 1, 1, 1, 1)  # (m, n, 1, H, W)
        points = torch.where(gone, base.unsqueeze(0), inputs.unsqueeze(0))
        return (points.reshape((-1,) + inputs.shape[1:]),)

    chunk = resolve_chunk(perturbations_per_eval, forward_func, (inputs,), args, regions)
    full = run_forward(forward_func, (inputs,), tgt, args)
    perturbed = evaluate(forward_func, build, regions, n, tgt, args, chunk).t()  # (n, L)
    scores = torch.cat([full.unsqueeze(1).to(perturbed.dtype), perturbed], 1)
    drops = scores[:, :1] - perturbed
    auc = torch.trapezoid(perturbed, dx=1.0, dim=1) if regions > 1 else perturbed[:, 0] * 0
    return RegionCurve(scores, drops, drops.mean(1), auc)


def selectivity(
    forward_func: Callable,
    inputs: Tensor,
    attributions: Tensor,
    target: TargetType = None,
    *,
    patch_size: int = 8,
    baseline: Any = "black",
    additional_forward_args: Any = None,
    perturbations_per_eval: int | str = "auto",
) -> Tensor:
    """Selectivity (Montavon et al., 2018): the area under the output as every patch is
    removed, most relevant first (unit steps, as Quantus' ``Selectivity`` curve integrated
    with ``np.trapz``). Lower is better.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1, bias=False))
    >>> x = torch.rand(2, 1, 4, 4)
    >>> exact = x * net[1].weight.view(1, 1, 4, 4)
    >>> good = selectivity(net, x, exact, patch_size=2, baseline=0.0)
    >>> bool((good < selectivity(net, x, -exact, patch_size=2, baseline=0.0)).all())
    True
    """
    return region_perturbation(
        forward_func,
        inputs,
        attributions,
        target,
        patch_size=patch_size,
        regions=None,
        baseline=baseline,
        additional_forward_args=additional_forward_args,
        perturbations_per_eval=perturbations_per_eval,
    ).auc
