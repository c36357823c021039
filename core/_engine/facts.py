"""What a front end knows about the work, in no modality's terms, and the pieces of the
registry that turn it into arguments (see :mod:`perspicio.core.registry`).

A front end knows its inputs, its reference (one baseline, or a reference population), how
its features group (superpixels, words, one-hot columns), a window size, a layer, a seed. It
states them once as :class:`Facts`; the method's spec decides which of them the method takes.
Expensive facts (a blurred baseline, a segmentation) may be given as functions and are only
computed for the methods that use them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import AttributionTypeError, AttributionValueError
from .inputs import TensorOrTuple, as_tuple, like_inputs


@dataclass
class Facts:
    """Modality-neutral facts about one attribution call.

    Parameters
    ----------
    inputs : tensor or tuple of tensors
        The examples to explain, batch first.
    target : any, optional
        What to explain (as ``attribute``'s ``target``).
    baseline : tensor, tuple, number or callable, optional
        One reference point (broadcast over the batch), for the methods that take one.
    population : tensor, tuple or callable, optional
        Reference rows ``(M, ...)``: the methods that take a distribution of baselines get
        them all; a method that takes one baseline is averaged over them (the expected
        attribution against the population).
    feature_mask : tensor, tuple or callable, optional
        Feature groups for the perturbation methods. A callable is given the most groups the
        method can afford (``None``: no limit) and returns the mask.
    window, strides : int or tuple, optional
        The sliding window of occlusion: an int (that size along every dimension, clipped to
        the input), one input's window, or a tuple of windows per input.
    generator : int or torch.Generator, optional
        Seed of the sampling methods.
    layer : module, list of modules or callable, optional
        The layer of the layer and neuron methods; a callable (no arguments) finds it.
    layer_reshape : callable, optional
        A function of no arguments returning how the layer's output becomes channel-first
        maps (a vision transformer's tokens to ``(N, D, h, w)``), or None: given to the
        methods that take a ``reshape_transform`` (the CAMs) unless the options give one.
    neuron : any, optional
        The neuron selector of the neuron methods.
    additional_forward_args : any, optional
    options : dict
        Settings (``n_steps``, ``n_samples``...) applied to the methods that accept them.
    """

    inputs: TensorOrTuple
    target: Any = None
    baseline: Any = None
    population: Any = None
    feature_mask: Any = None
    window: Any = None
    strides: Any = None
    generator: int | torch.Generator | None = None
    layer: Any = None
    layer_reshape: Callable[[], Any] | None = None
    neuron: Any = None
    additional_forward_args: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    def resolved(self, name: str, *args: Any) -> Any:
        """A fact's value, computing it if it was given as a function."""
        value = getattr(self, name)
        if callable(value) and not isinstance(value, (Tensor, nn.Module)):
            return value(*args)
        return value


def per_input(value: Any, xs: tuple[Tensor, ...], name: str) -> tuple[tuple[int, ...], ...]:
    """A window (or strides) for each input: an int is that size along every dimension
    (clipped to the input), a tuple of ints is one input's, a tuple of tuples one per input."""
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(tuple(min(value, s) for s in x.shape[1:]) for x in xs)
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        if len(xs) != 1:
            raise AttributionValueError(
                f"`{name}` {value!r} is one input's; give one per input ({len(xs)} inputs)"
            )
        return (value,)
    if isinstance(value, tuple) and len(value) == len(xs):
        return tuple(tuple(v) for v in value)
    raise AttributionTypeError(
        f"`{name}` must be an int, a tuple of ints or one tuple per input, got {value!r}"
    )


def one_row_of_zeros(inputs: TensorOrTuple) -> TensorOrTuple:
    """The population of one all-zero reference row (for a distribution method given no
    reference at all)."""
    xs, was_tuple = as_tuple(inputs)
    return like_inputs(tuple(torch.zeros_like(x[:1]) for x in xs), was_tuple)


def as_population(baseline: Any, inputs: TensorOrTuple) -> TensorOrTuple:
    """One baseline as a population of one row."""
    xs, was_tuple = as_tuple(inputs)
    items = baseline if isinstance(baseline, tuple) else (baseline,)
    rows = []
    for b, x in zip(items, xs):
        b = torch.as_tensor(b, dtype=x.dtype, device=x.device)
        rows.append(
            b.reshape((1,) + x.shape[1:])
            if b.numel() == x[0].numel()
            else b.expand((1,) + x.shape[1:]).clone()
        )
    return like_inputs(tuple(rows), was_tuple)


def against_population(
    attribute: Callable[..., Any],
    inputs: TensorOrTuple,
    population: TensorOrTuple,
    kwargs: dict[str, Any],
) -> Any:
    """The expected attribution of a one-baseline method over a reference population:
    every example paired with every reference row, one call, then averaged over the rows.
    """
    xs, was_tuple = as_tuple(inputs)
    refs, _ = as_tuple(population, "population")
    n, m = xs[0].shape[0], refs[0].shape[0]
    kwargs = dict(kwargs)
    target = kwargs.get("target")
    if isinstance(target, list) and len(target) == n:
        kwargs["target"] = target * m
    elif isinstance(target, Tensor) and target.dim() > 0 and target.shape[0] == n:
        kwargs["target"] = target.repeat((m,) + (1,) * (target.dim() - 1))
    attrs = attribute(
        like_inputs(tuple(x.repeat((m,) + (1,) * (x.dim() - 1)) for x in xs), was_tuple),
        baselines=like_inputs(tuple(r.repeat_interleave(n, 0) for r in refs), was_tuple),
        **kwargs,
    )
    parts, _ = as_tuple(attrs, "attributions")
    mean = tuple(a.reshape((m, n) + a.shape[1:]).mean(0) for a in parts)
    return like_inputs(mean, was_tuple)
