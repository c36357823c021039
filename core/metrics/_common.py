"""Helpers shared by the metrics: replicating a batch and its per-example arguments."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..errors import AttributionValueError


def expand_per_example(value: Any, n: int, m: int) -> Any:
    """Replicate a per-example argument (a tensor or list with ``n`` rows) ``m`` times, in
    ``m`` blocks, like the inputs; pass everything else through."""
    if m == 1:
        return value
    if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == n:
        return value.repeat((m,) + (1,) * (value.dim() - 1))
    if isinstance(value, list) and len(value) == n:
        return value * m
    if isinstance(value, tuple) and value and all(isinstance(v, Tensor) for v in value):
        return tuple(expand_per_example(v, n, m) for v in value)
    return value


def samples_per_chunk(max_examples_per_batch: int | None, n: int, n_samples: int) -> int:
    """How many perturbation samples of the ``n`` examples fit in one batch."""
    if max_examples_per_batch is None:
        return n_samples
    if isinstance(max_examples_per_batch, bool) or not isinstance(max_examples_per_batch, int):
        raise AttributionValueError(
            f"`max_examples_per_batch` must be a positive int, got {max_examples_per_batch!r}"
        )
    if max_examples_per_batch < 1:
        raise AttributionValueError(
            f"`max_examples_per_batch` must be positive, got {max_examples_per_batch}"
        )
    return max(1, max_examples_per_batch // n)


def flat_concat(values: tuple[Tensor, ...]) -> Tensor:
    """Every example's values of all tensors as one row: ``(n, total)``."""
    import torch

    return torch.cat([v.reshape(v.shape[0], -1) for v in values], dim=1)


def require_pandas():
    """pandas, or an ImportError that says how to get it."""
    try:
        import pandas
    except ImportError as err:  # pragma: no cover - pandas ships with every extra
        raise ImportError(
            "this metric returns a pandas DataFrame; install pandas "
            "(pip install pandas, or perspicio[tabular])"
        ) from err
    return pandas
