"""Layer Integrated Gradients: Integrated Gradients in the space of a layer's activations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._engine.approximation import approximation_parameters
from .._engine.batching import auto_rows
from .._engine.capture import flatten, layer_values, replaced_layer_gradients, split_like, unpack
from .._engine.gradients import accepts_grad_kwargs, integrate_gradients
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_baselines,
    format_target,
)
from .._engine.outputs import run_forward
from ..attribution import GradientAttribution, LayerAttribution


class LayerIntegratedGradients(LayerAttribution, GradientAttribution):
    r"""Integrated Gradients along the straight line between the layer's activations for the
    baseline, :math:`a' = a(x')`, and for the input, :math:`a = a(x)`:

    .. math::
        LIG_j = (a_j - a'_j)
                \int_0^1 \frac{\partial F}{\partial a_j}(a' + \alpha(a - a'))\, d\alpha

    This is how models fed with integer token ids are explained: the path runs through the
    embedding layer's output, the baselines are token ids (e.g. PAD). Several layers may be
    given (interpolated together). For a single example, the layers before the captured one
    run once per chunk rather than once per step. Cost: ``n_steps`` forward and backward
    passes of the model from the layer on, ``internal_batch_size`` rows at a time.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerIntegratedGradients
    >>> emb = torch.nn.Embedding(10, 4)
    >>> net = torch.nn.Sequential(emb, torch.nn.Flatten(), torch.nn.Linear(12, 1))
    >>> ids = torch.tensor([[1, 5, 7]])
    >>> attr, delta = LayerIntegratedGradients(net, emb).attribute(
    ...     ids, baselines=torch.zeros_like(ids), return_convergence_delta=True)
    >>> attr.shape, bool(delta.abs().max() < 1e-5)
    (torch.Size([1, 3, 4]), True)
    """

    _has_delta = True

    def __init__(
        self,
        forward_func: Callable,
        layer: Any,
        device_ids: Any = None,
        multiply_by_inputs: bool = True,
    ) -> None:
        super().__init__(forward_func, layer, device_ids)
        self._multiply_by_inputs = multiply_by_inputs

    @accepts_grad_kwargs
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | str | None = "auto",
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        show_progress: bool = False,
    ):
        """Return the attributions of each layer (and the convergence delta if asked).

        ``inputs`` and ``baselines`` live in the model's input space (token ids for a text
        model); the interpolation happens at the layer.
        """
        xs, _ = as_tuple(inputs)
        bases = format_baselines(baselines, xs)
        tgt = format_target(target, xs[0].shape[0])
        args = format_additional_args(additional_forward_args)
        to_input = attribute_to_layer_input
        alphas, weights = approximation_parameters(method, n_steps)
        ends = layer_values(self.forward_func, self.layers, xs, args, to_input)
        starts = unpack(layer_values(self.forward_func, self.layers, bases, args, to_input))
        if internal_batch_size == "auto":
            internal_batch_size = auto_rows(self.forward_func, xs, args)
        state: dict = {}

        def grad_fn(points, m):
            values = split_like(points, starts)
            return flatten(
                replaced_layer_gradients(
                    self.forward_func, self.layers, xs, tgt, args, to_input, values, m, state
                )
            )

        end_flat, start_flat = flatten(unpack(ends)), flatten(starts)
        integral = integrate_gradients(
            grad_fn,
            start_flat,
            end_flat,
            alphas,
            weights,
            internal_batch_size,
            show_progress,
            f"{self.get_name()} attribution",
        )
        if self._multiply_by_inputs:
            integral = tuple(g * (e - s) for g, e, s in zip(integral, end_flat, start_flat))
        result = self._answer(split_like(integral, starts), [t for _, t in ends])
        if not return_convergence_delta:
            return result
        with torch.no_grad():
            gap = run_forward(self.forward_func, xs, tgt, args) - run_forward(
                self.forward_func, bases, tgt, args
            )
        total = sum(a.reshape(a.shape[0], -1).sum(1) for a in integral)
        return result, total.to(gap.dtype) - gap
