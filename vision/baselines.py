"""Reference images for the methods that compare against one ("what if the image were ...")."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._image import find_normalize

KINDS = ("black", "white", "blur", "uniform", "mean")


def _to_model_space(pixels: Tensor, transform: Any) -> Tensor:
    norm = find_normalize(transform)
    if norm is None:
        return pixels
    mean, std = (v.to(pixels.device).view(1, -1, 1, 1) for v in norm)
    return (pixels - mean) / std


def image_baseline(
    kind: str | Tensor,
    x: Tensor,
    transform: Any = None,
    generator: torch.Generator | None = None,
    blur_sigma: float | None = None,
) -> Tensor:
    """A baseline shaped like the batch ``x`` (in the model's input space).

    ``kind``: ``"black"`` and ``"white"`` (pixels 0 and 1, through the transform's
    normalisation), ``"mean"`` (the transform's mean colour, else the image's mean colour),
    ``"blur"`` (the image under a Gaussian blur of ``blur_sigma``, a tenth of the size by
    default), ``"uniform"`` (uniform noise in [0, 1]), or a tensor.

    Examples
    --------
    >>> import torch
    >>> image_baseline("white", torch.rand(1, 3, 4, 4)).unique().tolist()
    [1.0]
    """
    if isinstance(kind, Tensor):
        try:
            return kind.to(device=x.device, dtype=x.dtype).expand_as(x)
        except RuntimeError:
            raise ValueError(
                f"`baseline` tensor has shape {tuple(kind.shape)}; expected the image's shape "
                f"{tuple(x.shape[1:])} or {tuple(x.shape)}"
            ) from None
    if kind == "black":
        return _to_model_space(torch.zeros_like(x), transform)
    if kind == "white":
        return _to_model_space(torch.ones_like(x), transform)
    if kind == "mean":
        if find_normalize(transform) is not None:
            return torch.zeros_like(x)  # normalised space: the mean colour is 0
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if kind == "uniform":
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return _to_model_space(noise, transform)
    if kind == "blur":
        from torchvision.transforms.functional import gaussian_blur

        sigma = blur_sigma or max(x.shape[-1], x.shape[-2]) / 10
        size = int(2 * round(3 * sigma) + 1)
        size = min(size, 2 * (min(x.shape[-2:]) // 2) - 1)
        return gaussian_blur(x, [size, size], [sigma, sigma])
    raise ValueError(f"`baseline` must be one of {KINDS} or a tensor, got {kind!r}")


def baseline_distribution(
    kinds: Any, x: Tensor, transform: Any = None, generator=None, n_uniform: int = 8
) -> Tensor:
    """A stack of baselines (``(B, C, H, W)``) for GradientShap and DeepLiftShap: the named
    kinds of the first image, with ``"uniform"`` drawn ``n_uniform`` times."""
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    rows = []
    for kind in kinds:
        repeats = n_uniform if kind == "uniform" else 1
        for _ in range(repeats):
            rows.append(image_baseline(kind, x[:1], transform, generator))
    return torch.cat(rows)
