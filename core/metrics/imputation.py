r"""Noisy linear imputation (Rong et al., 2022, ROAD's removal of pixels).

The removed pixels take the values that make each one the weighted mean of its eight
neighbours (weight 1/6 for the four sharing an edge, 1/12 for the diagonal ones), known
pixels held fixed,

.. math:: \sum_{j \in \mathcal{N}(i)} w_{ij} (x_i - x_j) = 0 \quad \text{for every removed } i,

one sparse linear system per image (its channels are right-hand sides), plus Gaussian noise.
The systems are solved exactly: SuperLU on a nested-dissection ordering of the pixel grid,
the systems of a batch in parallel threads (SuperLU releases the GIL).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError
from ._common import check_images

#: the neighbours of a pixel (row and column offsets) and their weights in the imputation
NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    (1, 1, 1 / 12),
    (0, 1, 1 / 6),
    (-1, 1, 1 / 12),
    (1, -1, 1 / 12),
    (0, -1, 1 / 6),
    (-1, -1, 1 / 12),
    (1, 0, 1 / 6),
    (-1, 0, 1 / 6),
)


@functools.lru_cache(maxsize=8)
def _dissection_rank(height: int, width: int, leaf: int = 8) -> np.ndarray:
    """Each pixel's place in a nested-dissection order of the ``height x width`` grid: the
    two halves first, then the line of pixels between them (a line separates the halves of
    the eight-neighbour grid). Eliminating in this order keeps the factors sparse."""
    order: list[np.ndarray] = []

    def split(r0: int, r1: int, c0: int, c1: int) -> None:
        if r1 <= r0 or c1 <= c0:
            return
        if (r1 - r0) * (c1 - c0) <= leaf * leaf:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            order.append((rows * width + cols).ravel())
        elif c1 - c0 >= r1 - r0:
            mid = (c0 + c1) // 2
            split(r0, r1, c0, mid)
            split(r0, r1, mid + 1, c1)
            order.append(np.arange(r0, r1) * width + mid)
        else:
            mid = (r0 + r1) // 2
            split(r0, mid, c0, c1)
            split(mid + 1, r1, c0, c1)
            order.append(mid * width + np.arange(c0, c1))

    split(0, height, 0, width)
    rank = np.empty(height * width, dtype=np.int64)
    rank[np.concatenate(order)] = np.arange(height * width)
    return rank


def _impute_one(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """One ``(C, H, W)`` float64 image with its ``removed`` pixels (flat indices) imputed,
    without noise, as ``(C, H * W)``."""
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    c, h, w = image.shape
    n = removed.size
    if n == 0:
        return image.reshape(c, -1).copy()
    if n == h * w:
        raise AttributionValueError(
            "ROAD cannot impute an image with every pixel removed: `percentages` must leave "
            "at least one pixel"
        )
    # unknowns in nested-dissection order: the factorisation needs no other ordering
    removed = removed[np.argsort(_dissection_rank(h, w)[removed], kind="stable")]
    flat = image.reshape(c, -1)
    variable = np.full(h * w, -1, dtype=np.int64)
    variable[removed] = np.arange(n)
    row, col = removed // w, removed % w
    rows, cols, values = [], [], []
    diagonal = np.zeros(n)
    rhs = np.zeros((n, c))
    for dr, dc, weight in NEIGHBOURS:
        r, q = row + dr, col + dc
        inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
        ids, neighbour = np.nonzero(inside)[0], (r * w + q)[inside]
        diagonal[ids] += weight
        unknown = variable[neighbour] >= 0
        rows.append(ids[unknown])
        cols.append(variable[neighbour[unknown]])
        values.append(np.full(int(unknown.sum()), -weight))
        rhs[ids[~unknown]] += weight * flat[:, neighbour[~unknown]].T
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    values.append(diagonal)
    system = csc_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    # symmetric and diagonally dominant: no pivoting, the given order kept
    lu = splu(
        system,
        permc_spec="NATURAL",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    out = flat.copy()
    out[:, removed] = lu.solve(rhs).T
    return out


def noisy_linear_imputation(
    images: Tensor,
    removed: Tensor,
    *,
    noise: float = 0.01,
    noise_draws: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Impute the ``removed`` pixels of ``images`` from their neighbours, plus Gaussian noise.

    Parameters
    ----------
    images : Tensor
        ``(N, C, H, W)``.
    removed : Tensor
        ``(N, H, W)`` bool: the pixels to impute (all channels).
    noise : float
        The noise's standard deviation.
    noise_draws : Tensor, optional
        ``(N, C, H, W)`` standard normal draws to use (read at the removed pixels); drawn
        with ``generator`` when not given.
    generator : torch.Generator, optional
        The random generator of the noise.

    Returns
    -------
    Tensor
        The images with the removed pixels imputed, the others unchanged.

    Examples
    --------
    >>> import torch
    >>> ramp = torch.arange(5.0).expand(1, 1, 5, 5).clone()
    >>> hole = torch.zeros(1, 5, 5, dtype=torch.bool)
    >>> hole[0, 1:4, 2] = True
    >>> filled = noisy_linear_imputation(ramp, hole, noise=0.0)
    >>> torch.allclose(filled, ramp)  # a linear ramp is its own interpolation
    True
    """
    check_images(images)
    if not isinstance(removed, Tensor) or removed.dtype != torch.bool:
        raise AttributionTypeError(
            f"`removed` must be a bool tensor (N, H, W), got "
            f"{getattr(removed, 'dtype', type(removed).__name__)}"
        )
    n, c, h, w = images.shape
    if tuple(removed.shape) != (n, h, w):
        raise AttributionValueError(
            f"`removed` must have shape (N, H, W) = {(n, h, w)}, got {tuple(removed.shape)}"
        )
    if noise_draws is not None and tuple(noise_draws.shape) != tuple(images.shape):
        raise AttributionValueError(
            f"`noise_draws` must have the images' shape {tuple(images.shape)}, got "
            f"{tuple(noise_draws.shape)}"
        )
    x = images.detach().to("cpu", torch.float64).numpy()
    where = removed.reshape(n, -1).cpu().numpy()
    jobs = [(x[i], np.nonzero(where[i])[0]) for i in range(n)]
    workers = max(1, min(torch.get_num_threads(), n))
    if workers > 1:  # SuperLU releases the GIL: the systems are solved side by side
        with ThreadPoolExecutor(workers) as pool:
            filled = list(pool.map(lambda job: _impute_one(*job), jobs))
    else:
        filled = [_impute_one(*job) for job in jobs]
    out = torch.from_numpy(np.stack(filled)).reshape(n, c, h, w)
    if noise:
        if noise_draws is None:
            noise_draws = torch.randn(images.shape, generator=generator, dtype=torch.float64)
        out = out + noise * noise_draws.detach().to("cpu", torch.float64)
    hole = removed.cpu().unsqueeze(1)
    return torch.where(hole, out, images.detach().cpu().double()).to(images)
