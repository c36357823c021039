"""Model calls over several perturbed copies of one batch at once: the copies are
concatenated along the batch, the additional arguments repeated, and the output split
back into one slice per copy."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from .._engine.batching import Layout, auto_rows
from .._engine.inputs import check_positive_int, expand_additional_args
from ..errors import AttributionTypeError


def rows(item: Any) -> int:
    """The batch size of a (pre-processed) input: a tensor or a tuple of tensors."""
    first = item[0] if isinstance(item, (tuple, list)) else item
    if not isinstance(first, Tensor):
        raise AttributionTypeError(
            "the model's input (after `preproc_fn`) must be a tensor or a tuple of tensors, "
            f"got {type(first).__name__}"
        )
    return first.shape[0]


def concat(items: Sequence[Any]) -> Any:
    """Copies of an input (tensors or tuples of tensors) as one batch."""
    if len(items) == 1:
        return items[0]
    if isinstance(items[0], (tuple, list)):
        return tuple(torch.cat(parts) for parts in zip(*items))
    return torch.cat(list(items))


def check_per_eval(value: Any) -> int | None:
    """``perturbations_per_eval``: a positive int, or ``None`` (as many as fit in memory)."""
    return None if value is None else check_positive_int(value, "perturbations_per_eval")


def copies_per_call(forward_func: Callable, item: Any, args: tuple, per_eval: int | None) -> int:
    """How many copies of ``item`` one model call takes: ``per_eval``, or (``None``) as
    many as fit the memory budget of :func:`~perspicio.core._engine.batching.auto_rows`."""
    if per_eval is not None:
        return per_eval
    xs = tuple(item) if isinstance(item, (tuple, list)) else (item,)
    return max(1, auto_rows(forward_func, xs, args) // max(rows(item), 1))


def evaluate(
    forward_func: Callable, items: Sequence[Any], args: tuple, layout: Layout | None = None
) -> Iterator[Any]:
    """The model's output for each item of ``items`` (one call for all of them; images
    channels-last when ``layout`` says so)."""
    n = rows(items[0])
    batch = concat(items)
    xs = batch if isinstance(batch, tuple) else (batch,)
    extra = expand_additional_args(args, n, len(items))
    out = (layout or Layout()).call(lambda points: forward_func(*points, *extra), xs)
    if len(items) == 1:
        yield out
        return
    start = 0
    for item in items:
        size = rows(item)
        yield out[start : start + size]
        start += size
