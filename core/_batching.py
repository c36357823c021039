"""Evaluating many inputs in chunks, random generators and progress bars."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from tqdm.auto import tqdm


def chunk_slices(total: int, size: int | None) -> list[slice]:
    """Split ``range(total)`` into consecutive slices of at most ``size`` items.

    Examples
    --------
    >>> chunk_slices(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    if size is None or size >= total:
        return [slice(0, total)]
    return [slice(i, min(i + size, total)) for i in range(0, total, size)]


def steps_per_chunk(internal_batch_size: int | None, n_examples: int, n_steps: int) -> int:
    """How many replicas of an ``n_examples`` batch fit in ``internal_batch_size`` rows.

    At least one replica is always evaluated at a time.
    """
    if internal_batch_size is None:
        return n_steps
    if isinstance(internal_batch_size, bool) or not isinstance(internal_batch_size, int):
        raise ValueError(
            f"`internal_batch_size` must be a positive int or None, got {internal_batch_size!r}"
        )
    if internal_batch_size < 1:
        raise ValueError(f"`internal_batch_size` must be positive, got {internal_batch_size}")
    return max(1, internal_batch_size // max(n_examples, 1))


def progress(iterable: Iterable[Any], show: bool, desc: str, total: int | None = None) -> Iterator:
    """Wrap ``iterable`` in a tqdm bar when ``show`` is true."""
    if not show:
        return iter(iterable)
    return iter(tqdm(iterable, desc=desc, total=total, leave=False))


def make_generator(seed: int | torch.Generator | None) -> torch.Generator | None:
    """A CPU ``torch.Generator`` from a seed; ``None`` means the global random state.

    Random numbers are drawn on the CPU and moved to the input's device, so a seed gives the
    same draws on every device.
    """
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"`generator` must be an int seed or a torch.Generator, got {seed!r}")
    return torch.Generator().manual_seed(seed)


def randn_like(x: torch.Tensor, generator: torch.Generator | None, shape=None) -> torch.Tensor:
    """Standard normal noise with the shape (default ``x.shape``) and device of ``x``."""
    shape = tuple(x.shape) if shape is None else tuple(shape)
    if generator is None or generator.device == x.device:
        return torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)
    return torch.randn(shape, generator=generator, dtype=x.dtype).to(x.device)


def rand(n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` uniform numbers in [0, 1) on the device and with the dtype of ``like``."""
    if generator is None or generator.device == like.device:
        return torch.rand(n, generator=generator, dtype=like.dtype, device=like.device)
    return torch.rand(n, generator=generator, dtype=like.dtype).to(like.device)


def randint(high: int, n: int, device: torch.device, generator: torch.Generator | None):
    """``n`` integers in [0, high) on ``device``."""
    if generator is None or generator.device == device:
        return torch.randint(high, (n,), generator=generator, device=device)
    return torch.randint(high, (n,), generator=generator).to(device)
