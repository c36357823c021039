"""GradientShap at a layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._engine.batching import make_generator, randint
from .._engine.capture import layer_gradients, layer_values, replaced_layer_gradients
from .._engine.gradients import accepts_grad_kwargs
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_positive_int,
    expand_additional_args,
    format_additional_args,
    format_baseline_distribution,
    format_target,
    require_float,
)
from .._engine.outputs import run_forward
from ..attribution import GradientAttribution, LayerAttribution
from ..errors import AttributionTypeError, AttributionValueError
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
        check_positive_int(n_samples, "n_samples")
        sigmas = per_input(stdevs, len(xs), "stdevs")
        if not all(x.is_floating_point() for x in xs):
            return self._between_layer_values(
                xs,
                baselines,
                n_samples,
                sigmas,
                target,
                additional_forward_args,
                return_convergence_delta,
                attribute_to_layer_input,
                generator,
            )
        require_float(xs, type(self).__name__)
        dist = format_baseline_distribution(baselines, xs)
        n, m = xs[0].shape[0], n_samples
        tgt = format_target(target, n).expand(m)
        args = expand_additional_args(format_additional_args(additional_forward_args), n, m)
        to_input = attribute_to_layer_input
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

    def _between_layer_values(
        self,
        xs,
        baselines,
        m,
        sigmas,
        target,
        additional_forward_args,
        return_convergence_delta,
        to_input,
        generator,
    ):
        """Integer inputs (token ids) cannot be interpolated: the points are drawn between
        the layer's values at the input and at a baseline row instead,
        :math:`a(x') + \\alpha (a(x) - a(x'))`, and the model runs on from the layer."""
        if any(s > 0 for s in sigmas):
            raise AttributionTypeError(
                f"`stdevs` {sigmas} adds noise to the inputs, but they hold integers (token "
                "ids); pass stdevs=0"
            )
        dist = tuple(torch.as_tensor(b) for b in as_tuple(baselines, "baselines")[0])
        if len(dist) != len(xs) or any(b.dim() != x.dim() for b, x in zip(dist, xs)):
            raise AttributionValueError(
                "`baselines` for integer inputs must be one tensor of baseline rows per input, "
                "shaped like the input rows"
            )
        n = xs[0].shape[0]
        base_target = format_target(target, n)
        base_args = format_additional_args(additional_forward_args)
        gen = make_generator(generator)
        pick = randint(dist[0].shape[0], m, xs[0].device, gen)
        alpha = torch.rand(m, generator=gen).to(xs[0].device)
        refs = tuple(
            d.to(x.device, x.dtype)[pick].repeat_interleave(n, 0) for d, x in zip(dist, xs)
        )
        m_args = expand_additional_args(base_args, n, m)
        at_x = layer_values(self.forward_func, self.layers, xs, base_args, to_input)
        at_ref = layer_values(self.forward_func, self.layers, refs, m_args, to_input)
        rep = [tuple(a.repeat((m,) + (1,) * (a.dim() - 1)) for a in v) for v, _ in at_x]
        points = []
        for xv, (rv, _) in zip(rep, at_ref):
            points.append(
                tuple(
                    r
                    + alpha.repeat_interleave(n).view((-1,) + (1,) * (r.dim() - 1)).to(r.dtype)
                    * (a - r)
                    for a, r in zip(xv, rv)
                )
            )
        grads = replaced_layer_gradients(
            self.forward_func, self.layers, xs, base_target, base_args, to_input, points, m, {}
        )
        if self._multiply_by_inputs:
            grads = [
                tuple(g * (a - r) for g, a, r in zip(gs, xv, rv))
                for gs, xv, (rv, _) in zip(grads, rep, at_ref)
            ]
        attrs = [tuple(g.reshape((m, n) + g.shape[1:]).mean(0) for g in gs) for gs in grads]
        result = self._answer(attrs, [t for _, t in at_x])
        if not return_convergence_delta:
            return result
        with torch.no_grad():
            x_rep = tuple(x.repeat((m,) + (1,) * (x.dim() - 1)) for x in xs)
            tgt = base_target.expand(m)
            gap = run_forward(self.forward_func, x_rep, tgt, m_args) - run_forward(
                self.forward_func, refs, tgt, m_args
            )
        total = sum(g.reshape(g.shape[0], -1).sum(1) for gs in grads for g in gs)
        return result, (total.to(gap.dtype) - gap).reshape(m, n).t().reshape(-1)
