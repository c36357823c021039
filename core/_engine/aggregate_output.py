"""Captum's aggregate form of a perturbation method's model: values for the whole batch (a
number, a 0-d tensor, ``k`` values) instead of one per example. :func:`accepts_aggregate_output`
wraps an ``attribute`` so that the algorithm file never sees it."""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionValueError
from .inputs import as_tuple, like_inputs
from .outputs import AggregateOutput, model_output


def accepts_aggregate_output(attribute: Callable[..., Any]) -> Callable[..., Any]:
    """Let a perturbation method explain a forward function that returns values for the
    whole batch (a number, a 0-d tensor, or ``k`` values) instead of one per example.

    The method then runs unchanged on the batch taken as a single example: every feature is
    perturbed in all rows at once, and the attribution of feature ``j`` to output ``o`` is
    the change of ``o``, shape ``(k, *input.shape[1:])`` (``(1, ...)`` for one value), as
    Captum computes it. Nothing changes for forward functions with one output per example.
    """
    signature = inspect.signature(attribute)

    @functools.wraps(attribute)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return attribute(self, *args, **kwargs)
        except AggregateOutput as found:
            bound = signature.bind(self, *args, **kwargs)
            if found.per_example and getattr(self, "_attributes_every_output", False):
                return _every_output(attribute, bound.arguments, found.shape[1:])
            return _batch_as_one_example(attribute, bound.arguments, found)

    return wrapped


def _every_output(attribute: Callable[..., Any], arguments: dict, shape: tuple[int, ...]) -> Any:
    """No target and several values per example (a multi-task model): attribute each value
    of an example's output, giving ``(n, *output.shape[1:], *input.shape[1:])`` per input
    (Captum's form for the Shapley methods)."""
    arguments = dict(arguments)
    method = arguments.pop("self")
    xs, was_tuple = as_tuple(arguments["inputs"])
    per_output = []
    for index in itertools.product(*(range(k) for k in shape)):
        arguments["target"] = index
        result, _ = as_tuple(attribute(method, **arguments), "attributions")
        per_output.append(result)
    out = tuple(
        torch.stack([r[i] for r in per_output], 1).reshape(
            (xs[i].shape[0],) + tuple(shape) + tuple(per_output[0][i].shape[1:])
        )
        for i in range(len(xs))
    )
    return like_inputs(out, was_tuple)


def _batch_as_one_example(attribute: Callable[..., Any], arguments: dict, found: Any) -> Any:
    arguments = dict(arguments)
    method = arguments.pop("self")
    if arguments.get("target") is not None:
        raise AttributionValueError(
            f"{found.args[0]}; got target={arguments['target']!r}"
        ) from None
    xs, was_tuple = as_tuple(arguments["inputs"])
    arguments["inputs"] = like_inputs(tuple(x.unsqueeze(0) for x in xs), was_tuple)
    if arguments.get("baselines") is not None:
        arguments["baselines"] = _per_input(arguments["baselines"], xs, _one_example_baseline)
    shared = True
    if arguments.get("feature_mask") is None and "feature_mask" in _parameters(attribute):
        # Captum's default: each element of a row is a feature, shared by all rows
        ids, offset = [], 0
        for x in xs:
            ids.append(
                torch.arange(offset, offset + x[0].numel(), device=x.device).reshape(
                    (1, 1) + tuple(x.shape[1:])
                )
            )
            offset += x[0].numel()
        arguments["feature_mask"] = like_inputs(tuple(ids), was_tuple)
    elif arguments.get("feature_mask") is not None:
        masks = arguments["feature_mask"]
        shared = all(
            m.dim() < x.dim() or m.shape[0] == 1
            for m, x in zip(masks if isinstance(masks, (tuple, list)) else (masks,), xs)
        )
        arguments["feature_mask"] = _per_input(masks, xs, _one_example_mask)
    if arguments.get("sliding_window_shapes") is not None:  # Occlusion: windows span all rows
        n = xs[0].shape[0]
        windows = arguments["sliding_window_shapes"]
        strides = arguments.get("strides")
        several = isinstance(windows[0], (tuple, list))
        arguments["sliding_window_shapes"] = (
            tuple((n, *w) for w in windows) if several else (n, *windows)
        )
        if strides is not None:
            if several:
                arguments["strides"] = tuple(
                    (n, *s) if isinstance(s, (tuple, list)) else s for s in strides
                )
            elif isinstance(strides, (tuple, list)):
                arguments["strides"] = (n, *strides)
    n_inputs, forward = len(xs), method.forward_func

    def batch_forward(*parts: Any) -> Tensor:
        """Each row of ``parts`` is a whole batch of the user's forward function."""
        rows, extra = parts[:n_inputs], parts[n_inputs:]
        outs = [
            model_output(forward(*(z[i] for z in rows), *extra)).reshape(-1)
            for i in range(rows[0].shape[0])
        ]
        return torch.stack(outs)

    clone = copy.copy(method)
    clone.forward_func = batch_forward
    with torch.no_grad():  # how many values one call gives for the whole batch
        extra = arguments.get("additional_forward_args")
        extra = () if extra is None else extra if isinstance(extra, tuple) else (extra,)
        k = model_output(forward(*xs, *extra)).numel()
    per_output = []
    for o in range(k):
        arguments["target"] = o if k > 1 else None
        result, _ = as_tuple(attribute(clone, **arguments), "attributions")
        per_output.append(result)
    out = tuple(
        torch.cat([r[i] for r in per_output])[:, 0]
        if shared
        else torch.cat([r[i] for r in per_output]).reshape((-1,) + xs[i].shape[1:])
        for i in range(n_inputs)
    )
    return like_inputs(out, was_tuple)


def _parameters(function: Callable[..., Any]) -> Any:
    return inspect.signature(function).parameters


def _per_input(value: Any, xs: tuple[Tensor, ...], convert: Callable[[Any, Tensor], Any]) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(convert(v, x) for v, x in zip(value, xs))
    return convert(value, xs[0])


def _one_example_baseline(b: Any, x: Tensor) -> Any:
    if not isinstance(b, Tensor) or b.numel() == 1:
        return b
    if b.shape == x.shape:
        return b.unsqueeze(0)
    return b.reshape((1, 1) + tuple(x.shape[1:])) if b.numel() == x[0].numel() else b


def _one_example_mask(m: Any, x: Tensor) -> Any:
    if not isinstance(m, Tensor):
        return m
    return m.unsqueeze(0) if m.dim() == x.dim() else m.reshape((1, 1) + tuple(m.shape))
