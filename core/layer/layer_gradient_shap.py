"""GradientShap at a layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._batching import make_generator
from .._compat import accepts_grad_kwargs
from .._inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_positive_int,
    expand_additional_args,
    format_additional_args,
    format_baseline_distribution,
    format_target,
    require_float,
    run_forward,
)
from .._layer import layer_gradients, layer_values
from ..attribution import GradientAttribution, LayerAttribution
from ..primary.gradient_shap import Draws, per_input


class LayerGradientShap(LayerAttribution, GradientAttribution):
    r"""GradientShap with gradients taken at the layer:

    .. math:: A_j = E\left[\frac{\partial F}{\partial a_j}(x' + \alpha(x + \epsilon - x'))
                   \left(a_j(x + \epsilon) - a_j(x')\right)\right]

    Cost: ``n_samples`` forward and backward passes per example plus the activations.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerGradientShap
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> LayerGradientShap(net, net[1]).attribute(torch.randn(2, 3), torch.randn(5, 3),
    ...                                          generator=0).shape
    torch.Size([2, 4])
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
        baselines: Any,
        n_samples: int = 5,
        stdevs: float | tuple[float, ...] = 0.0,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        generator: int | torch.Generator | None = None,
    ):
        """Return the layer attributions; the delta (if asked) has ``N * n_samples`` entries."""
        xs, _ = as_tuple(inputs)
        require_float(xs, type(self).__name__)
        check_positive_int(n_samples, "n_samples")
        dist = format_baseline_distribution(baselines, xs)
        n, m = xs[0].shape[0], n_samples
        tgt = format_target(target, n).expand(m)
        args = expand_additional_args(format_additional_args(additional_forward_args), n, m)
        to_input = attribute_to_layer_input
        sigmas = per_input(stdevs, len(xs), "stdevs")
        draws = Draws(xs, dist, sigmas, m, make_generator(generator))
        noisy, refs, points = draws.points(slice(0, m))
        grads, values, _ = layer_gradients(
            self.forward_func, self.layers, points, tgt, args, to_input
        )
        if self._multiply_by_inputs:
            at_x = layer_values(self.forward_func, self.layers, noisy, args, to_input)
            at_ref = layer_values(self.forward_func, self.layers, refs, args, to_input)
            grads = [
                tuple(g * (a - r) for g, a, r in zip(gs, ax, ar))
                for gs, (ax, _), (ar, _) in zip(grads, at_x, at_ref)
            ]
        attrs = [tuple(g.reshape((m, n) + g.shape[1:]).mean(0) for g in gs) for gs in grads]
        result = self._answer(attrs, [t for _, t in values])
        if not return_convergence_delta:
            return result
        with torch.no_grad():
            gap = run_forward(self.forward_func, noisy, tgt, args) - run_forward(
                self.forward_func, refs, tgt, args
            )
        total = sum(g.reshape(g.shape[0], -1).sum(1) for gs in grads for g in gs)
        return result, (total.to(gap.dtype) - gap).reshape(m, n).t().reshape(-1)
