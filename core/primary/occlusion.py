"""Occlusion (Zeiler and Fergus, 2014): slide a baseline patch over the input."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.aggregate_output import accepts_aggregate_output
from .._engine.incremental import incremental_plans
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_baselines,
    format_target,
    like_inputs,
)
from .._engine.perturbation import ablate
from ..attribution import PerturbationAttribution
from ..errors import AttributionValueError


def _per_input(value: Any, n_inputs: int, name: str) -> tuple:
    if (
        n_inputs == 1
        and isinstance(value, (tuple, list))
        and all(isinstance(v, int) for v in value)
    ):
        return (tuple(value),)
    if isinstance(value, int):
        return (value,) * n_inputs
    if not isinstance(value, (tuple, list)) or len(value) != n_inputs:
        raise AttributionValueError(
            f"`{name}` must give one entry per input tensor ({n_inputs}), got {value!r}"
        )
    return tuple(value)


def window_grid(shape: torch.Size, window: Any, stride: Any, i: int) -> tuple[tuple, tuple, tuple]:
    """Check one input's window and strides; return (window, strides, positions per dim)."""
    dims = len(shape)
    window = tuple(window) if isinstance(window, (tuple, list)) else (window,)
    stride = (stride,) * dims if isinstance(stride, int) else tuple(stride)
    if len(window) != dims or len(stride) != dims:
        raise AttributionValueError(
            f"input {i} has {dims} non-batch dimension(s) {tuple(shape)}; `sliding_window_shapes` "
            f"{window} and `strides` {stride} must each give {dims} numbers"
        )
    if any(not isinstance(w, int) or w < 1 or w > s for w, s in zip(window, shape)):
        raise AttributionValueError(
            f"`sliding_window_shapes` {window} must be positive and fit input {i}'s shape "
            f"{tuple(shape)}"
        )
    if any(not isinstance(s, int) or s < 1 for s in stride):
        raise AttributionValueError(f"`strides` must be positive ints, got {stride}")
    gaps = [d for d, (s, w, st) in enumerate(zip(shape, window, stride)) if st > w and s > w]
    if gaps:
        raise AttributionValueError(
            f"`strides` {stride} exceed `sliding_window_shapes` {window} of input {i} in "
            f"dimension(s) {gaps}: the elements between two windows would never be occluded "
            "(and get 0); use strides no larger than the window"
        )
    # windows start at 0, st, 2st, ... until one reaches the end; the last may be cut off
    # by the border, so that every element is covered
    positions = tuple(-(-(s - w) // st) + 1 for s, w, st in zip(shape, window, stride))
    return window, stride, positions


def window_masks(sl: slice, grids: list, shapes: list, offsets: list, device) -> tuple[Tensor, ...]:
    """Boolean masks ``(len(sl), 1, ...)`` per input of the windows numbered ``sl``."""
    k = torch.arange(sl.start, sl.stop, device=device)
    masks = []
    for (window, stride, positions), shape, offset in zip(grids, shapes, offsets):
        local = k - offset
        inside = (local >= 0) & (local < math.prod(positions))
        local = local.clamp(min=0)
        mask = inside.view((-1,) + (1,) * len(shape))
        for d in reversed(range(len(shape))):  # unravel the window number, last dim fastest
            start = (local % positions[d]) * stride[d]
            local = local // positions[d]
            ar = torch.arange(shape[d], device=device)
            hit = (ar >= start[:, None]) & (ar < start[:, None] + window[d])
            mask = mask & hit.view((-1,) + (1,) * d + (shape[d],) + (1,) * (len(shape) - d - 1))
        masks.append(mask.unsqueeze(1))
    return tuple(masks)


class Occlusion(PerturbationAttribution):
    r"""Occlusion: the output drop when a window around an element is set to the baseline,
    averaged over every window position that covers the element.

    .. math:: A_i(x) = \frac{1}{|W_i|} \sum_{w \in W_i} F(x) - F(x_{w \leftarrow x'_w})

    Windows slide over each input tensor separately; the last window along a dimension is
    cut off by the border where the stride does not divide the room left, so every element
    is covered. Cost: one model evaluation per window
    position; all windows of a chunk are evaluated in one batch.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Occlusion
    >>> net = lambda x: x.flatten(1).sum(1)
    >>> attr = Occlusion(net).attribute(torch.ones(1, 1, 4, 4), sliding_window_shapes=(1, 2, 2),
    ...                                 strides=(1, 2, 2))
    >>> attr.unique().tolist()
    [4.0]
    """

    def __init__(self, forward_func: Callable) -> None:
        super().__init__(forward_func)

    @accepts_aggregate_output
    def attribute(
        self,
        inputs: TensorOrTuple,
        sliding_window_shapes: tuple,
        strides: int | tuple | None = None,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
        max_memory: int | None = None,
        incremental: bool | str = "auto",
    ) -> TensorOrTuple:
        """Return the occlusion attribution, shaped like the inputs.

        Parameters
        ----------
        sliding_window_shapes : tuple, or tuple of tuples for several inputs
            Window shape, without the batch dimension.
        strides : int, tuple or tuple of tuples, optional
            Step between windows (1 by default).
        perturbations_per_eval : int or "auto", default "auto"
            Windows evaluated per model call; the result does not depend on it.
        incremental : bool or "auto", default "auto"
            Evaluate the occluded images incrementally: each layer recomputes only the
            region the window changed, up to the first global operation (exact; see
            :mod:`perspicio.core._engine.incremental`). "auto" does so for a CNN in eval mode on one
            4-D input when that skips at least :data:`AUTO_MIN_SAVINGS` of the
            convolutions' multiply-adds; ``True`` insists (an error says why it cannot).
            ``self.incremental_reason`` holds why the last call did not (None if it did).
        """
        xs, was_tuple = as_tuple(inputs)
        bases = format_baselines(baselines, xs)
        windows = _per_input(sliding_window_shapes, len(xs), "sliding_window_shapes")
        steps = _per_input(1 if strides is None else strides, len(xs), "strides")
        shapes = [x.shape[1:] for x in xs]
        grids = [
            window_grid(s, w, st, i) for i, (s, w, st) in enumerate(zip(shapes, windows, steps))
        ]
        counts = [math.prod(g[2]) for g in grids]
        offsets = [sum(counts[:i]) for i in range(len(counts))]
        total = sum(counts)
        args = format_additional_args(additional_forward_args)
        tgt = format_target(target, xs[0].shape[0])
        masks = lambda sl: window_masks(sl, grids, shapes, offsets, xs[0].device)  # noqa: E731
        box = tuple(min(w, s) for w, s in zip(windows[0][-2:], xs[0].shape[-2:]))
        plans, self.incremental_reason = incremental_plans(
            self.forward_func, xs, args, box, incremental
        )
        attrs = ablate(
            self.forward_func,
            xs,
            bases,
            tgt,
            args,
            total,
            masks,
            per_eval=perturbations_per_eval,
            max_memory=max_memory,
            plans=plans,
            show_progress=show_progress,
            desc=f"{self.get_name()} attribution",
        )
        return like_inputs(attrs, was_tuple)
